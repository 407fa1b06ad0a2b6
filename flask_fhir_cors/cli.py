"""Commands that show, check and explain a CORS policy.

The same three commands run in two ways:

* ``flask fhir-cors show|check|explain`` for a Flask app. :class:`FhirCORS`
  registers the ``fhir-cors`` group on ``app.cli``.
* ``python -m flask_fhir_cors show|check|explain`` for any WSGI app. It reads
  the settings from ``FHIR_CORS_*`` environment variables, from a settings
  file (``--settings``) or from a Flask app that it imports (``--app``).
"""

from __future__ import annotations

import os
from typing import Any, Callable, TypeVar

import click

from . import _http
from ._origins import InvalidOrigin, parse_configured_origin
from ._sources import (
    LoadedSettings,
    effective_policy,
    settings_from_context,
    settings_from_environment,
    settings_from_file,
    settings_from_import,
    validate,
)
from .errors import PolicyError
from .explain import (
    BrowserRequest,
    explain_request,
    format_explanation,
)
from .policy import SETTING_NAMES, CORSPolicy

CommandFunction = TypeVar("CommandFunction", bound=Callable[..., Any])

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

    try:
        origin = parse_configured_origin(value)
    except InvalidOrigin as error:
        raise click.BadParameter(
            f"{value!r} is not an origin: {error.message}; write scheme://host[:port] "
            "as a browser sends it, such as https://app.example.com, or null"
        ) from None

    if origin.is_pattern:
        raise click.BadParameter(
            f"{value!r} is a pattern; a browser sends one origin, such as "
            f"{origin.scheme}://app.{origin.host}"
        )
    if origin.serialized != value:
        raise click.BadParameter(
            f"a browser sends this origin as {origin.serialized!r}; use that form"
        )
    return value


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
