"""Commands that show, check and explain a CORS policy.

The same three commands run in two ways:

* ``flask fhir-cors show|check|explain`` for a Flask app. :class:`FhirCORS`
  registers the ``fhir-cors`` group on ``app.cli``.
* ``python -m flask_fhir_cors show|check|explain`` for any WSGI app. It reads
  the settings from ``FHIR_CORS_*`` environment variables, from a settings
  file (``--settings``) or from a Flask app that it imports (``--app``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import runpy
from collections.abc import Mapping, Sequence
from typing import Any, Callable, NamedTuple, TypeVar
from urllib.parse import urlsplit

import click
from flask import Flask, current_app, has_app_context
from flask.cli import ScriptInfo

from . import _http
from ._compiled import Header
from .decision import (
    CORSRequest,
    Decision,
    Step,
    decide,
    preflight_response,
)
from .errors import PolicyError, Problem
from .extension import EXTENSION_KEY
from .middleware import rewrite_headers
from .policy import CONFIG_PREFIX, SETTING_NAMES, CORSPolicy

CommandFunction = TypeVar("CommandFunction", bound=Callable[..., Any])

# Request headers a page may set without a preflight. Fetch also limits their
# values, and safelists Content-Type for three media types and Range for a
# single byte range. These commands take header names only, so they treat
# every other name, Content-Type and Range included, as needing a preflight.
SAFELISTED_REQUEST_HEADERS = frozenset(
    {"accept", "accept-language", "content-language"}
)

# Status of explain when the settings are invalid, so that 1 always means
# that a browser blocks the request.
EXIT_INVALID_SETTINGS = 2

CHECK_HELP_FOR_BROKEN_APPS = (
    "An app whose settings are invalid cannot load, because init_app raises "
    "PolicyError. The installed package registers this command group as a "
    "Flask plugin, so `flask --app APP fhir-cors check` still runs, catches "
    "the PolicyError and prints the problems. Where the package is not "
    "installed (no entry points), `python -m flask_fhir_cors check --app "
    "MODULE:APP` does the same."
)


# Reading the settings


@dataclasses.dataclass(frozen=True)
class LoadedSettings:
    """``FHIR_CORS_*`` settings read for a command, with the source of each.

    ``values`` maps config keys to the raw values. ``sources`` describes where
    each key that is set came from. ``policy`` is the policy already in
    effect, when a Flask app has FhirCORS registered. ``problems`` lists the
    values that could not be read, or the problems of the PolicyError that
    loading the app raised.
    """

    values: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)
    policy: CORSPolicy | None = None
    problems: tuple[Problem, ...] = ()

    def source_of(self, key: str) -> str:
        """Return where the config key ``key`` came from, or ``default``."""
        return self.sources.get(key, "default")


def settings_from_app(app: Flask) -> LoadedSettings:
    """Read the ``FHIR_CORS_*`` keys of ``app.config`` and the policy in effect.

    Values that ``app.config.from_prefixed_env()`` loaded are in
    ``app.config`` too, so their source is ``config KEY`` as well.
    """
    values = {
        key: value for key, value in app.config.items() if key.startswith(CONFIG_PREFIX)
    }
    sources = {
        key: f"config {key}" for key, value in values.items() if value is not None
    }

    policy = app.extensions.get(EXTENSION_KEY)
    if not isinstance(policy, CORSPolicy):
        policy = None

    return LoadedSettings(values, sources, policy)


def settings_from_environment(environ: Mapping[str, str]) -> LoadedSettings:
    """Read ``FHIR_CORS_*`` variables as strings, or as JSON lists.

    A value that starts with ``[`` is parsed as a JSON list of strings.
    Every other value stays a string, which the policy parses as a list
    separated by commas or newlines, a number or ``true``/``false``.
    """
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, raw in environ.items():
        if not key.startswith(CONFIG_PREFIX):
            continue

        value, problem = _parse_environment_value(key, raw)
        if problem is not None:
            problems.append(problem)
            continue
        values[key] = value

    sources = {key: f"env {key}" for key in values}
    return LoadedSettings(values, sources, None, tuple(problems))


def _parse_environment_value(key: str, raw: str) -> tuple[Any, Problem | None]:
    if not raw.strip().startswith("["):
        return raw, None

    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        return None, _json_list_problem(key, raw, f"invalid JSON ({error})")

    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None, _json_list_problem(key, raw, "not a list of strings")

    return value, None


def _json_list_problem(key: str, raw: str, failure: str) -> Problem:
    return Problem(
        key,
        raw,
        "json-list-invalid",
        f"the value starts with '[' but is {failure}; write a JSON list of "
        'strings such as ["https://app.example.com"], or items separated by '
        "commas",
    )


def settings_from_file(path: str) -> LoadedSettings:
    """Read ``FHIR_CORS_*`` keys from a JSON object file or a Python file.

    A ``.py`` file is run like Flask's ``app.config.from_pyfile`` and its
    ``FHIR_CORS_*`` variables are read. Any other file must contain a JSON
    object. Other keys are ignored, except a bare setting name such as
    ``origins``, which is reported because it was probably meant as a
    setting.
    """
    if path.endswith(".py"):
        namespace = runpy.run_path(path)
    else:
        namespace = _read_json_object(path)

    values = {
        key: value for key, value in namespace.items() if key.startswith(CONFIG_PREFIX)
    }
    sources = {
        key: f"file {path}" for key, value in values.items() if value is not None
    }
    problems = tuple(_misnamed_key_problems(namespace))
    return LoadedSettings(values, sources, None, problems)


def _read_json_object(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except json.JSONDecodeError as error:
        raise click.FileError(path, f"invalid JSON: {error}") from error
    except OSError as error:
        raise click.FileError(path, error.strerror or str(error)) from error

    if not isinstance(data, dict):
        raise click.FileError(
            path,
            "expected a JSON object such as "
            '{"FHIR_CORS_ORIGINS": ["https://app.example.com"]}',
        )
    return data


def _misnamed_key_problems(namespace: Mapping[str, Any]) -> list[Problem]:
    problems = []
    for key in namespace:
        if key.startswith(CONFIG_PREFIX):
            continue

        name = key.upper()
        if name.startswith(CONFIG_PREFIX):
            name = name[len(CONFIG_PREFIX) :]
        if name.lower() not in SETTING_NAMES:
            continue

        expected = CONFIG_PREFIX + name
        problems.append(
            Problem(
                key,
                namespace[key],
                "unknown-setting",
                f"settings files use the config key names; rename it to {expected}",
            )
        )
    return problems


def settings_from_import(import_path: str) -> LoadedSettings:
    """Import a Flask app as ``flask --app`` does, catching a PolicyError.

    ``import_path`` takes the forms of ``flask --app``, such as
    ``module:app``, ``module:create_app()`` or ``path/app.py``. When the
    import or the factory raises PolicyError, because FhirCORS rejected the
    config, the result carries its problems instead of the app's settings.
    """
    info = ScriptInfo(app_import_path=import_path, set_debug_flag=False)
    try:
        app = info.load_app()
    except PolicyError as error:
        return LoadedSettings(problems=error.problems)

    return settings_from_app(app)


def settings_from_context() -> LoadedSettings:
    """Read the settings of the Flask app that ``flask`` loaded for a command.

    Uses the active app context when there is one. Otherwise the app is
    loaded through the command's :class:`~flask.cli.ScriptInfo`, and a
    PolicyError raised while loading it becomes the result's problems.
    """
    if has_app_context():
        return settings_from_app(current_app._get_current_object())  # type: ignore[attr-defined]

    info = click.get_current_context().ensure_object(ScriptInfo)
    try:
        app = info.load_app()
    except PolicyError as error:
        return LoadedSettings(problems=error.problems)

    return settings_from_app(app)


def validate(settings: LoadedSettings) -> list[Problem]:
    """Return every problem of ``settings``, or an empty list when they are valid."""
    problems = list(settings.problems)
    try:
        CORSPolicy.from_config(settings.values)
    except PolicyError as error:
        problems.extend(error.problems)
    return problems


def effective_policy(settings: LoadedSettings) -> CORSPolicy:
    """Return the policy in effect, building it from the values if needed.

    Raises PolicyError listing every problem when the settings are invalid.
    """
    if settings.problems:
        raise PolicyError(validate(settings))

    if settings.policy is not None:
        return settings.policy

    return CORSPolicy.from_config(settings.values)


# show and check


def format_settings(policy: CORSPolicy, settings: LoadedSettings) -> list[str]:
    """Format each normalized setting as a Python assignment with its source.

    The lines are valid Python, so they can be saved as a ``.py`` settings
    file for ``--settings`` or for ``app.config.from_pyfile``.
    """
    lines = []
    for name, key in policy.config_keys().items():
        value = getattr(policy, name)
        if isinstance(value, tuple):
            value = list(value)
        lines.append(f"{key} = {value!r}  # {settings.source_of(key)}")
    return lines


def run_show(settings: LoadedSettings) -> None:
    """Print the effective policy, or its problems and exit with status 1."""
    try:
        policy = effective_policy(settings)
    except PolicyError as error:
        click.echo(str(error), err=True)
        raise click.exceptions.Exit(1) from error

    for line in format_settings(policy, settings):
        click.echo(line)


def run_check(settings: LoadedSettings) -> None:
    """Print every problem and exit with status 1, or print one OK line."""
    problems = validate(settings)
    if problems:
        click.echo(str(PolicyError(problems)))
        raise click.exceptions.Exit(1)

    count = len(settings.sources)
    defaults = len(SETTING_NAMES) - count
    click.echo(f"OK: the CORS settings are valid ({count} set, {defaults} default)")


# explain


class BrowserRequest(NamedTuple):
    """A cross-origin request that a page makes through the browser.

    ``headers`` are the names of the request headers the page sets.
    """

    origin: str
    method: str
    path: str
    headers: tuple[str, ...] = ()
    credentials: bool = False
    private_network: bool = False

    @property
    def unsafe_headers(self) -> list[str]:
        """The lowercase, sorted names of the headers that need a preflight."""
        names = {name.lower() for name in self.headers}
        return sorted(names - SAFELISTED_REQUEST_HEADERS)

    @property
    def needs_preflight(self) -> bool:
        """Whether the browser sends a preflight before the request.

        Chromium sends one for private network access even for a request
        that would otherwise need none.

        NOTE: this models Chromium's Private Network Access preflight, which
        Chromium plans to replace with a permission prompt.
        """
        return (
            self.method not in _http.SAFELISTED_METHODS
            or bool(self.unsafe_headers)
            or self.private_network
        )

    def preflight(self) -> CORSRequest:
        """Build the preflight as the browser sends it."""
        unsafe = self.unsafe_headers
        return CORSRequest(
            method="OPTIONS",
            path=self.path,
            origin=self.origin,
            request_method=self.method,
            request_headers=",".join(unsafe) if unsafe else None,
            request_private_network="true" if self.private_network else None,
        )

    def actual(self) -> CORSRequest:
        """Build the actual request with the values the middleware reads."""
        return CORSRequest(method=self.method, path=self.path, origin=self.origin)


class BrowserCheck(NamedTuple):
    """The result of the browser's CORS checks on one response."""

    allowed: bool
    reason: str


def browser_allows(
    request: BrowserRequest,
    headers: Sequence[Header],
    preflight_status: str | None = None,
) -> BrowserCheck:
    """Apply the browser's CORS checks (Fetch standard) to one response.

    Pass the status line of a preflight response as ``preflight_status``,
    so that the preflight checks run too: an ok status, the allowed methods,
    the allowed headers and private network access. Leave it None for the
    response to the actual request.
    """
    reason = _cors_check_failure(request, headers)
    if reason is None and preflight_status is not None:
        reason = _preflight_check_failure(request, headers, preflight_status)

    if reason is not None:
        return BrowserCheck(False, reason)
    if preflight_status is not None:
        return BrowserCheck(True, "the preflight response passes the CORS checks")
    return BrowserCheck(True, "the page may read the response")


def _cors_check_failure(
    request: BrowserRequest, headers: Sequence[Header]
) -> str | None:
    allow_origin = _header_value(headers, "Access-Control-Allow-Origin")
    if allow_origin is None:
        return "the response has no Access-Control-Allow-Origin header"

    if allow_origin == "*":
        if request.credentials:
            return (
                "Access-Control-Allow-Origin is '*', which browsers reject on a "
                "request with credentials"
            )
        return None

    if allow_origin != request.origin:
        return (
            f"Access-Control-Allow-Origin {allow_origin!r} does not match the "
            f"origin {request.origin!r}"
        )

    allow_credentials = _header_value(headers, "Access-Control-Allow-Credentials")
    if request.credentials and allow_credentials != "true":
        return (
            "the request has credentials but Access-Control-Allow-Credentials is "
            f"{allow_credentials!r}, not 'true'"
        )
    return None


def _preflight_check_failure(
    request: BrowserRequest, headers: Sequence[Header], status: str
) -> str | None:
    code = int(status.split(" ", 1)[0])
    if not 200 <= code <= 299:
        return f"the preflight response status is {status}, not 2xx"

    reason = _method_check_failure(request, headers)
    if reason is None:
        reason = _headers_check_failure(request, headers)
    if reason is not None:
        return reason

    allow_private = _header_value(headers, "Access-Control-Allow-Private-Network")
    if request.private_network and allow_private != "true":
        return (
            "the request goes to a private network but "
            f"Access-Control-Allow-Private-Network is {allow_private!r}, not 'true'"
        )
    return None


def _method_check_failure(
    request: BrowserRequest, headers: Sequence[Header]
) -> str | None:
    methods = _header_list(headers, "Access-Control-Allow-Methods")
    if methods is None:
        return "Access-Control-Allow-Methods is not a list of method names"

    if request.method in methods or request.method in _http.SAFELISTED_METHODS:
        return None
    if "*" in methods and not request.credentials:
        return None

    return (
        f"method {request.method!r} is not in Access-Control-Allow-Methods "
        f"{', '.join(methods) or '(none)'} (browsers compare it case-sensitively, "
        "and '*' covers no method on a request with credentials)"
    )


def _headers_check_failure(
    request: BrowserRequest, headers: Sequence[Header]
) -> str | None:
    names = _header_list(headers, "Access-Control-Allow-Headers")
    if names is None:
        return "Access-Control-Allow-Headers is not a list of header names"

    allowed = {name.lower() for name in names}
    wildcard = "*" in allowed and not request.credentials
    for name in request.unsafe_headers:
        if name in allowed:
            continue
        # Fetch never lets '*' cover Authorization.
        if wildcard and name != "authorization":
            continue
        return (
            f"request header {name!r} is not in Access-Control-Allow-Headers "
            f"{', '.join(names) or '(none)'}"
        )
    return None


def _header_value(headers: Sequence[Header], name: str) -> str | None:
    # Browsers join repeated header lines with ", ", as HTTP allows.
    values = [value for key, value in headers if key.lower() == name.lower()]
    if not values:
        return None
    return ", ".join(values)


def _header_list(headers: Sequence[Header], name: str) -> list[str] | None:
    value = _header_value(headers, name)
    if value is None:
        return []

    items = [item.strip(" \t") for item in value.split(",")]
    items = [item for item in items if item]
    if not all(_http.is_token(item) for item in items):
        return None
    return items


class Exchange(NamedTuple):
    """One request of an explanation with the response of the middleware.

    ``status`` is None for an actual request, whose status the app sets.
    ``headers`` are then the CORS headers the middleware adds to the app's
    response, assuming that the app sets no ``Vary`` of its own.
    """

    title: str
    request: CORSRequest
    steps: list[Step]
    decision: Decision
    status: str | None
    headers: list[Header]
    body: bytes
    browser: BrowserCheck


class Explanation(NamedTuple):
    """Every request a browser sends for a page's request, and the verdict."""

    request: BrowserRequest
    exchanges: list[Exchange]
    allowed: bool


def explain_request(policy: CORSPolicy, request: BrowserRequest) -> Explanation:
    """Run ``request`` through the policy as a browser and the middleware would.

    The preflight, when one is needed, comes first. The actual request
    follows only if the browser accepts the preflight response.
    """
    exchanges = []
    if request.needs_preflight:
        preflight = _explain_preflight(policy, request)
        exchanges.append(preflight)
        if not preflight.browser.allowed:
            return Explanation(request, exchanges, False)

    actual = _explain_actual(policy, request)
    exchanges.append(actual)
    return Explanation(request, exchanges, actual.browser.allowed)


def _explain_preflight(policy: CORSPolicy, request: BrowserRequest) -> Exchange:
    cors_request = request.preflight()
    steps: list[Step] = []
    decision = decide(policy, cors_request, steps)

    response = preflight_response(decision, policy.debug)
    browser = browser_allows(request, response.headers, response.status)
    return Exchange(
        "Preflight request",
        cors_request,
        steps,
        decision,
        response.status,
        response.headers,
        response.body,
        browser,
    )


def _explain_actual(policy: CORSPolicy, request: BrowserRequest) -> Exchange:
    cors_request = request.actual()
    steps: list[Step] = []
    decision = decide(policy, cors_request, steps)

    headers = rewrite_headers([], decision.headers, decision.vary)
    browser = browser_allows(request, headers)
    return Exchange(
        "Actual request", cors_request, steps, decision, None, headers, b"", browser
    )


def format_explanation(explanation: Explanation) -> list[str]:
    """Format the requests, checks, responses and verdict of an explanation."""
    lines: list[str] = []
    for exchange in explanation.exchanges:
        lines.extend(_format_exchange(exchange, explanation.request))
        lines.append("")

    lines.append(_format_verdict(explanation))
    return lines


def _format_exchange(exchange: Exchange, request: BrowserRequest) -> list[str]:
    lines = [exchange.title, *_format_request(exchange.request, request), ""]

    lines.append("Checks")
    for step in exchange.steps:
        lines.append(f"  {_outcome(step.passed)}  {step.name}: {step.detail}")
    lines.append("")

    lines.extend(_format_response(exchange))
    lines.append("")

    lines.append("Browser check")
    lines.append(f"  {_outcome(exchange.browser.allowed)}  {exchange.browser.reason}")
    return lines


def _format_response(exchange: Exchange) -> list[str]:
    if exchange.status is None:
        lines = ["Response headers from the middleware (the app sets the status)"]
    else:
        lines = ["Response from the middleware", f"  {exchange.status}"]
    lines.extend(f"  {name}: {value}" for name, value in exchange.headers)

    if exchange.body:
        lines.append("")
        lines.append("Response body")
        lines.append(f"  {exchange.body.decode('ascii').rstrip()}")
    return lines


def _format_request(cors_request: CORSRequest, request: BrowserRequest) -> list[str]:
    lines = [f"  {cors_request.method} {cors_request.path}"]
    lines.append(f"  Origin: {cors_request.origin}")
    if cors_request.request_method is not None:
        lines.append(f"  Access-Control-Request-Method: {cors_request.request_method}")
    if cors_request.request_headers is not None:
        lines.append(
            f"  Access-Control-Request-Headers: {cors_request.request_headers}"
        )
    if cors_request.request_private_network is not None:
        lines.append(
            "  Access-Control-Request-Private-Network: "
            f"{cors_request.request_private_network}"
        )

    is_actual = cors_request.request_method is None
    if is_actual and request.headers:
        lines.append(f"  with the headers {', '.join(request.headers)}")
    if is_actual and request.credentials:
        lines.append(
            "  with credentials (cookies, TLS client certificates or HTTP auth)"
        )
    return lines


def _format_verdict(explanation: Explanation) -> str:
    request = explanation.request
    target = f"{request.method} {request.path}"
    if explanation.allowed:
        return (
            f"Verdict: allowed. A browser lets the page at {request.origin} send "
            f"{target} and read the response."
        )

    last = explanation.exchanges[-1]
    if last.status is not None:
        return (
            f"Verdict: blocked. A browser sends only the preflight and never "
            f"{target}, because {last.browser.reason}."
        )
    return (
        f"Verdict: blocked. A browser sends {target} but hides the response from "
        f"the page, because {last.browser.reason}."
    )


def _outcome(passed: bool) -> str:
    return "allowed" if passed else "refused"


def run_explain(settings: LoadedSettings, request: BrowserRequest) -> None:
    """Print the explanation of ``request``; exit with 1 when a browser blocks it."""
    try:
        policy = effective_policy(settings)
    except PolicyError as error:
        click.echo(str(error), err=True)
        raise click.exceptions.Exit(EXIT_INVALID_SETTINGS) from error

    explanation = explain_request(policy, request)
    for line in format_explanation(explanation):
        click.echo(line)

    if not explanation.allowed:
        raise click.exceptions.Exit(1)


# Command-line parameters


def _parse_origin(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value == "null":
        return value

    parts = urlsplit(value)
    has_url_parts = parts.path not in ("", "/") or parts.query or parts.fragment
    if not parts.scheme or not parts.hostname or "@" in parts.netloc or has_url_parts:
        raise click.BadParameter(
            f"{value!r} is not an origin; write scheme://host[:port] as a browser "
            "sends it, such as https://app.example.com, or null"
        )

    expected = _serialize_origin(value)
    if value != expected:
        raise click.BadParameter(
            f"a browser sends this origin as {expected!r}; use that form"
        )
    return value


def _serialize_origin(value: str) -> str:
    parts = urlsplit(value.lower())
    default_ports = {"http": 80, "https": 443}
    try:
        port = parts.port
    except ValueError as error:
        raise click.BadParameter(f"{value!r} has an invalid port") from error

    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port is None or default_ports.get(parts.scheme) == port:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _parse_method(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not _http.is_token(value):
        raise click.BadParameter(f"{value!r} is not a valid method name")

    if value.upper() in _http.FORBIDDEN_METHODS:
        raise click.BadParameter(f"browsers never send the method {value!r}")

    # fetch() uppercases only these method names and sends others as given.
    if value.upper() in _http.NORMALIZED_METHODS:
        return value.upper()
    return value


def _parse_headers(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    for name in value:
        if not _http.is_token(name):
            raise click.BadParameter(
                f"{name!r} is not a header name; give the name only, such as "
                "Authorization"
            )
        if _http.is_forbidden_request_header(name):
            raise click.BadParameter(f"browsers never let a page set {name!r}")
    return value


def _parse_path(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.startswith("/"):
        raise click.BadParameter(f"{value!r} does not start with '/'")
    return value


EXPLAIN_PARAMETERS = (
    click.argument("origin", callback=_parse_origin),
    click.option(
        "--method",
        default="GET",
        show_default=True,
        callback=_parse_method,
        help="Method of the request. Like fetch(), delete, get, head, options, "
        "post and put are uppercased and other names are kept as given.",
    ),
    click.option(
        "--header",
        "headers",
        multiple=True,
        metavar="NAME",
        callback=_parse_headers,
        help="Name of a request header the page sets; repeat for several. "
        "Every name except Accept, Accept-Language and Content-Language needs "
        "a preflight.",
    ),
    click.option(
        "--path",
        default="/",
        show_default=True,
        callback=_parse_path,
        help="Request path as the app sees it (WSGI PATH_INFO), which decides "
        "whether a public path applies.",
    ),
    click.option(
        "--credentials",
        is_flag=True,
        help="Send the request with credentials, as fetch() does with "
        "credentials: 'include'.",
    ),
    click.option(
        "--private-network",
        is_flag=True,
        help="Send the request from a public page to a private network address, "
        "which makes the browser ask for private network access in a preflight.",
    ),
)

EXPLAIN_DESCRIPTION = """Explain whether a browser allows a request from ORIGIN.

Print the preflight, when a browser sends one, and the actual request. For
each, print every check of the policy, the exact status and headers that the
middleware sends, and the browser's own check. The last line is the verdict.
In debug mode (FHIR_CORS_DEBUG) a refused preflight
shows its body and X-CORS-Refusal-Reason header too.

Exit status: 0 when a browser allows the request, 1 when it blocks it, 2 when
the settings are invalid.
"""


def explain_parameters(function: CommandFunction) -> CommandFunction:
    """Add the ORIGIN argument and the request options of ``explain``."""
    for decorator in reversed(EXPLAIN_PARAMETERS):
        function = decorator(function)
    return function


def _browser_request(
    origin: str,
    method: str,
    headers: tuple[str, ...],
    path: str,
    credentials: bool,
    private_network: bool,
) -> BrowserRequest:
    return BrowserRequest(origin, method, path, headers, credentials, private_network)


# flask fhir-cors


@click.group("fhir-cors")
def flask_cli() -> None:
    """Show, check and explain the app's CORS policy (FHIR_CORS_* config)."""


@flask_cli.command("show")
def flask_show() -> None:
    """Print the policy in effect, one setting per line.

    Each line is the config key, the normalized value and its source:
    `default`, or `config KEY`. Values loaded by app.config.from_prefixed_env()
    are in app.config, so they show as config too. Exit status 1 when the
    settings are invalid.
    """
    run_show(settings_from_context())


@flask_cli.command("check", epilog=CHECK_HELP_FOR_BROKEN_APPS)
def flask_check() -> None:
    """Validate the FHIR_CORS_* keys of app.config.

    Print every problem (config key, value, message and code) and exit with
    status 1, or print one OK line and exit with status 0. The check reads
    app.config as it is now, so it also covers keys changed after init_app.
    """
    run_check(settings_from_context())


@flask_cli.command("explain", help=EXPLAIN_DESCRIPTION)
@explain_parameters
def flask_explain(**options: Any) -> None:
    run_explain(settings_from_context(), _browser_request(**options))


# python -m flask_fhir_cors

SOURCE_DESCRIPTION = """
The settings come from the Flask app given with --app, from the file given
with --settings, or else from the FHIR_CORS_* environment variables. A
variable's value is a string; a value that starts with '[' is read as a JSON
list of strings.
"""


def source_parameters(function: CommandFunction) -> CommandFunction:
    """Add the options that choose where the settings come from."""
    function = click.option(
        "--settings",
        "settings_path",
        type=click.Path(exists=True, dir_okay=False),
        help="Read FHIR_CORS_* settings from this file: a JSON object, or a "
        "Python file (.py) run like app.config.from_pyfile.",
    )(function)
    function = click.option(
        "--app",
        "import_path",
        metavar="IMPORT",
        help="Import this Flask app as flask --app does (module:app, "
        "module:create_app() or file.py) and read its app.config.",
    )(function)
    return function


def load_settings(import_path: str | None, settings_path: str | None) -> LoadedSettings:
    """Read the settings from the app, the file or the environment."""
    if import_path is not None and settings_path is not None:
        raise click.UsageError("give --app or --settings, not both")

    if import_path is not None:
        return settings_from_import(import_path)
    if settings_path is not None:
        return settings_from_file(settings_path)
    return settings_from_environment(os.environ)


@click.group(help="Show, check and explain a CORS policy.\n" + SOURCE_DESCRIPTION)
def main() -> None:
    pass


@main.command(
    "show",
    help="Print the policy in effect, one setting per line.\n\n"
    "Each line is the config key, the normalized value and its source: "
    "`default`, `env KEY`, `file PATH`, or `config KEY` with --app. Exit "
    "status 1 when the settings are invalid.",
)
@source_parameters
def main_show(import_path: str | None, settings_path: str | None) -> None:
    run_show(load_settings(import_path, settings_path))


@main.command(
    "check",
    help="Validate the FHIR_CORS_* settings.\n\n"
    "Print every problem (key, value, message and code) and exit with status "
    "1, or print one OK line and exit with status 0. With --app, a PolicyError "
    "that the app raises while loading is caught and its problems are printed.",
)
@source_parameters
def main_check(import_path: str | None, settings_path: str | None) -> None:
    run_check(load_settings(import_path, settings_path))


@main.command("explain", help=EXPLAIN_DESCRIPTION)
@source_parameters
@explain_parameters
def main_explain(
    import_path: str | None, settings_path: str | None, **options: Any
) -> None:
    run_explain(load_settings(import_path, settings_path), _browser_request(**options))
