"""The explain command's model of one browser request and its CORS checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from . import _http
from ._compiled import Header
from .decision import (
    CORSRequest,
    Decision,
    Step,
    decide,
    preflight_response,
)
from .middleware import rewrite_headers
from .policy import CORSPolicy

# Request headers a page may set without a preflight. Fetch also limits their
# values, and safelists Content-Type for three media types and Range for a
# single byte range. These commands take header names only, so they treat
# every other name, Content-Type and Range included, as needing a preflight.
SAFELISTED_REQUEST_HEADERS = frozenset(
    {"accept", "accept-language", "content-language"}
)


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
