"""The CORS decision for one request, shared by the middleware and ``explain``.

:func:`decide` follows the order of the Fetch standard's CORS checks: the
path scope, then the origin, then for a preflight the method and each
requested header. The middleware turns the :class:`Decision` into a response,
and the ``explain`` command prints the same decision with its steps, so the
two cannot disagree.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from . import _http
from ._compiled import CompiledPolicy, Header
from .policy import CORSPolicy

NOT_CORS = "not-cors"
PREFLIGHT = "preflight"
ACTUAL = "actual"

# Longest Access-Control-Request-Headers value that is parsed. Browsers send
# a few hundred bytes at most; longer values are refused without parsing.
MAX_REQUEST_HEADERS_LENGTH = 8192

# Longest Access-Control-Request-Method value that is accepted. Registered
# method names are short: the longest, UPDATEREDIRECTREF, has 17 characters.
MAX_REQUEST_METHOD_LENGTH = 64

PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
PRIVATE_NETWORK_VARY = PREFLIGHT_VARY + ", Access-Control-Request-Private-Network"

# Distinct preflight requests whose decisions are kept, and the maximum
# length of the Origin and Access-Control-Request-* values of a kept one, so
# the cache stays under about 2 MiB of text.
MAX_CACHED_PREFLIGHTS = 1024
MAX_CACHED_KEY_LENGTH = 2048

# Origins matched by a subdomain pattern whose actual decisions are kept.
MAX_CACHED_PATTERN_ORIGINS = 4096

PREFLIGHT_REFUSAL_REASONS = (
    "origin-not-allowed",
    "method-invalid",
    "method-forbidden",
    "method-not-allowed",
    "headers-invalid",
    "header-not-allowed",
)

PREFLIGHT_ALLOWED_STATUS = "204 No Content"
PREFLIGHT_REJECTED_STATUS = "403 Forbidden"

# Response header that carries the code of the failed check in debug mode.
DEBUG_REASON_HEADER = "X-CORS-Refusal-Reason"

CREDENTIALS_HEADER = ("Access-Control-Allow-Credentials", "true")


class CORSRequest(NamedTuple):
    """The request values that CORS depends on, as the WSGI environ has them.

    A value is None when its header is missing. ``path`` is ``PATH_INFO``.
    """

    method: str
    path: str
    origin: str | None = None
    request_method: str | None = None
    request_headers: str | None = None
    request_private_network: str | None = None


class Step(NamedTuple):
    """One check of the decision: its name, whether it passed, and why."""

    name: str
    passed: bool
    detail: str


class Decision(NamedTuple):
    """The outcome of the CORS checks for one request.

    ``headers`` are the CORS response headers to send, and ``vary`` the
    tokens to append to ``Vary`` (empty for none). ``reason`` is the code of
    the failed check when ``allowed`` is false.
    """

    kind: str
    allowed: bool
    headers: tuple[Header, ...]
    vary: str
    reason: str | None = None

    @property
    def status(self) -> str | None:
        """The status line the middleware sends itself, or None to run the app."""
        if self.kind != PREFLIGHT:
            return None
        return PREFLIGHT_ALLOWED_STATUS if self.allowed else PREFLIGHT_REJECTED_STATUS


NOT_CORS_DECISION = Decision(NOT_CORS, True, (), "Origin")
ORIGIN_NOT_ALLOWED_DECISION = Decision(
    ACTUAL, False, (), "Origin", "origin-not-allowed"
)


_REFUSALS = {
    (vary, reason): Decision(PREFLIGHT, False, (), vary, reason)
    for vary in (PREFLIGHT_VARY, PRIVATE_NETWORK_VARY)
    for reason in PREFLIGHT_REFUSAL_REASONS
}


class PreflightResponse(NamedTuple):
    """The complete response the middleware sends for a preflight."""

    status: str
    headers: list[Header]
    body: bytes


def preflight_response(decision: Decision, debug: bool) -> PreflightResponse:
    """Build the response to a preflight from its ``decision``.

    A refused preflight gets a plain text body, empty unless ``debug`` is
    true. In debug mode the body and the ``X-CORS-Refusal-Reason`` header
    carry the code of the failed check.
    """
    if decision.allowed:
        headers = [*decision.headers, ("Vary", decision.vary)]
        return PreflightResponse(PREFLIGHT_ALLOWED_STATUS, headers, b"")

    refusal_headers, body = _refusal_parts(decision.vary, decision.reason, debug)
    return PreflightResponse(PREFLIGHT_REJECTED_STATUS, list(refusal_headers), body)


@functools.lru_cache(maxsize=64)
def _refusal_parts(
    vary: str, reason: str | None, debug: bool
) -> tuple[tuple[Header, ...], bytes]:
    # Refusals come in a few fixed kinds, so their headers are built once.
    headers: list[Header] = [("Vary", vary)]
    body = b""
    if debug:
        body = f"CORS preflight refused: {reason}\n".encode("ascii")
        headers.append((DEBUG_REASON_HEADER, reason or ""))

    headers.append(("Content-Type", "text/plain; charset=utf-8"))
    headers.append(("Content-Length", str(len(body))))
    return tuple(headers), body


def decide(
    policy: CORSPolicy, request: CORSRequest, trace: list[Step] | None = None
) -> Decision:
    """Decide the response to ``request``; append each check to ``trace`` if given."""
    compiled: CompiledPolicy = policy._compiled  # type: ignore[attr-defined]
    return decide_compiled(compiled, *request, trace=trace)


def decide_compiled(
    main: CompiledPolicy,
    method: str,
    path: str,
    origin: str | None = None,
    request_method: str | None = None,
    request_headers: str | None = None,
    request_private_network: str | None = None,
    trace: list[Step] | None = None,
) -> Decision:
    """Decide with an already compiled policy, from the values of a CORSRequest.

    This is the middleware's path, so it takes the values one by one and
    returns cached decisions for repeated requests when no trace is requested.
    """
    compiled = main
    if main.public is not None and main.is_public_path(path):
        compiled = main.public
    if trace is not None:
        _trace_scope(compiled, compiled is not main, path, trace)

    # Actual and non-CORS decisions depend only on the origin (None for a
    # request without one) within a scope.
    is_preflight = method == "OPTIONS" and request_method is not None
    if trace is None and not (is_preflight and origin is not None):
        cached = compiled.actual_decisions.get(origin)
        if cached is not None:
            return cached  # type: ignore[no-any-return]

    if origin is None:
        return _decide_not_cors(compiled, trace)

    if not is_preflight:
        return _decide_actual(compiled, origin, trace)

    request = CORSRequest(
        method, path, origin, request_method, request_headers, request_private_network
    )
    return _decide_cached_preflight(compiled, request, trace)


def _decide_cached_preflight(
    compiled: CompiledPolicy, request: CORSRequest, trace: list[Step] | None
) -> Decision:
    # The path only chose the scope, so the rest of the request is the key.
    key = request[2:]
    if trace is None:
        cached = compiled.preflight_decisions.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]

    origin = request.origin or ""
    origin_allowed = compiled.any_origin or compiled.matcher.matches(origin)
    if trace is not None:
        _trace_origin(compiled, origin, origin_allowed, trace)

    if origin_allowed:
        decision = _decide_preflight(compiled, request, trace)
    else:
        decision = _refuse_preflight(compiled, "origin-not-allowed")

    _remember_preflight(compiled, key, decision)
    return decision


def _remember_preflight(
    compiled: CompiledPolicy, key: tuple[str | None, ...], decision: Decision
) -> None:
    # The client chooses every part of the key, so the cache is emptied
    # whenever it is full: a flood of distinct preflights costs the time to
    # decide each one, never unbounded memory.
    if sum(len(part) for part in key if part) > MAX_CACHED_KEY_LENGTH:
        return

    cache = compiled.preflight_decisions
    if len(cache) >= MAX_CACHED_PREFLIGHTS:
        cache.clear()
    cache[key] = decision


def _decide_not_cors(compiled: CompiledPolicy, trace: list[Step] | None) -> Decision:
    if trace is not None:
        trace.append(Step("origin", True, "no Origin header: not a CORS request"))

    # Fetch advises that a resource whose Allow-Origin is always '*' sends it
    # on every response, CORS or not, and no Vary, so that a shared cache can
    # store one copy for everyone. Any other response depends on Origin.
    decision = NOT_CORS_DECISION
    if compiled.any_origin:
        vary = "" if compiled.credentialed_origins is None else "Origin"
        decision = Decision(NOT_CORS, True, compiled.wildcard_actual_headers, vary)

    compiled.actual_decisions[None] = decision
    return decision


def _decide_actual(
    compiled: CompiledPolicy, origin: str, trace: list[Step] | None
) -> Decision:
    allowed = compiled.any_origin or compiled.matcher.matches(origin)
    if trace is not None:
        _trace_origin(compiled, origin, allowed, trace)

    if compiled.any_origin:
        return _answer_any_origin(compiled, origin)

    if not allowed:
        return ORIGIN_NOT_ALLOWED_DECISION

    headers = (("Access-Control-Allow-Origin", origin), *compiled.actual_tail)
    decision = Decision(ACTUAL, True, headers, "Origin")
    _remember_actual(compiled, origin, decision)
    return decision


def _remember_actual(compiled: CompiledPolicy, origin: str, decision: Decision) -> None:
    # Listed origins are few and fixed. Origins that match a subdomain pattern
    # can be made up by any client, so about MAX_CACHED_PATTERN_ORIGINS of
    # them are kept (threads racing on the count may add a few more), and
    # later ones are decided each time.
    cache = compiled.actual_decisions
    if compiled.matcher.is_listed(origin):
        cache[origin] = decision
    elif compiled.pattern_origins_cached < MAX_CACHED_PATTERN_ORIGINS:
        compiled.pattern_origins_cached += 1
        cache[origin] = decision


def _answer_any_origin(compiled: CompiledPolicy, origin: str) -> Decision:
    if compiled.credentialed_origins is None:
        return Decision(ACTUAL, True, compiled.wildcard_actual_headers, "")

    if not compiled.credentialed_origins.matches(origin):
        return Decision(ACTUAL, True, compiled.wildcard_actual_headers, "Origin")

    headers = (
        ("Access-Control-Allow-Origin", origin),
        CREDENTIALS_HEADER,
        *compiled.actual_tail,
    )
    return Decision(ACTUAL, True, headers, "Origin")


def _decide_preflight(
    compiled: CompiledPolicy, request: CORSRequest, trace: list[Step] | None
) -> Decision:
    method = request.request_method or ""
    method_reason = _check_method(compiled, method)
    if trace is not None:
        _trace_method(method, method_reason, trace)
    if method_reason is not None:
        return _refuse_preflight(compiled, method_reason)

    names, headers_reason = _check_request_headers(compiled, request.request_headers)
    if trace is not None:
        _trace_headers(request.request_headers, names, headers_reason, trace)
    if headers_reason is not None:
        return _refuse_preflight(compiled, headers_reason)

    return _allow_preflight(compiled, request, method, names, trace)


def _check_method(compiled: CompiledPolicy, method: str) -> str | None:
    if len(method) > MAX_REQUEST_METHOD_LENGTH or not _http.is_token(method):
        return "method-invalid"

    if method.upper() in _http.FORBIDDEN_METHODS:
        return "method-forbidden"

    if compiled.any_method or method in _http.SAFELISTED_METHODS:
        return None

    if method in compiled.methods:
        return None

    return "method-not-allowed"


def parse_request_headers(value: str | None) -> list[str] | None:
    """Split Access-Control-Request-Headers into lowercase, unique names.

    Accepts what proxies make of the browser's value: spaces around commas,
    empty items and several header lines joined by commas. Returns None for
    a value that is too long or contains something that is not a header name.
    The cost is linear in the length of the value.
    """
    if value is None:
        return []

    if len(value) > MAX_REQUEST_HEADERS_LENGTH:
        return None

    names: dict[str, None] = {}
    for raw_item in value.split(","):
        item = raw_item.strip(" \t")
        if item == "":
            continue
        if not _http.is_token(item):
            return None
        names.setdefault(item.lower())

    return list(names)


def _check_request_headers(
    compiled: CompiledPolicy, value: str | None
) -> tuple[list[str], str | None]:
    names = parse_request_headers(value)
    if names is None:
        return [], "headers-invalid"

    if compiled.any_header:
        return names, None

    for name in names:
        if name not in compiled.headers:
            return names, "header-not-allowed"

    return names, None


def _allow_preflight(
    compiled: CompiledPolicy,
    request: CORSRequest,
    method: str,
    names: list[str],
    trace: list[Step] | None,
) -> Decision:
    origin = request.origin or ""
    credentialed = (
        compiled.credentialed_origins is not None
        and compiled.credentialed_origins.matches(origin)
    )
    allow_origin = "*" if compiled.any_origin and not credentialed else origin
    headers: list[Header] = [("Access-Control-Allow-Origin", allow_origin)]
    if credentialed:
        headers.append(CREDENTIALS_HEADER)

    # A wildcard names what was requested, because Fetch never lets '*' cover
    # Authorization, and reads '*' literally on credentialed requests.
    methods = method if compiled.any_method else compiled.methods_value
    if methods:
        headers.append(("Access-Control-Allow-Methods", methods))

    allowed_headers = ",".join(names) if compiled.any_header else compiled.headers_value
    if allowed_headers:
        headers.append(("Access-Control-Allow-Headers", allowed_headers))

    headers.extend(compiled.preflight_tail)
    vary = PREFLIGHT_VARY
    if compiled.allow_private_network:
        vary = PRIVATE_NETWORK_VARY
        if request.request_private_network == "true":
            headers.append(("Access-Control-Allow-Private-Network", "true"))

    if trace is not None:
        _trace_private_network(compiled, request.request_private_network, trace)

    return Decision(PREFLIGHT, True, tuple(headers), vary)


def _refuse_preflight(compiled: CompiledPolicy, reason: str) -> Decision:
    vary = PRIVATE_NETWORK_VARY if compiled.allow_private_network else PREFLIGHT_VARY
    return _REFUSALS[vary, reason]


def _trace_scope(
    compiled: CompiledPolicy, is_public: bool, path: str, trace: list[Step]
) -> None:
    if is_public and compiled.credentialed_origins is not None:
        detail = (
            f"{path!r} is a public path: any origin may read it, and origins "
            "that the main policy allows keep their credentials"
        )
    elif is_public:
        detail = (
            f"{path!r} is a public path: any origin may read it without credentials"
        )
    else:
        detail = f"{path!r} is not a public path: the main policy applies"
    trace.append(Step("path", True, detail))


def _trace_origin(
    compiled: CompiledPolicy, origin: str, allowed: bool, trace: list[Step]
) -> None:
    if compiled.any_origin:
        detail = "the policy allows any origin ('*')"
    elif allowed:
        detail = f"{origin!r} is in the allowed origins"
    else:
        detail = (
            f"{origin!r} is not an allowed origin: origins must match a listed one "
            "exactly (scheme, lowercase host, port) or a '*.' subdomain pattern"
        )
    trace.append(Step("origin", allowed, detail))


def _trace_method(method: str, reason: str | None, trace: list[Step]) -> None:
    details = {
        None: f"method {method!r} is allowed",
        "method-invalid": f"{method!r} is not a valid method name",
        "method-forbidden": f"{method!r} is a forbidden method",
        "method-not-allowed": (
            f"method {method!r} is not in the allowed methods (compared "
            "case-sensitively; GET, HEAD and POST need no listing)"
        ),
    }
    trace.append(Step("method", reason is None, details[reason]))


def _trace_headers(
    value: str | None, names: list[str], reason: str | None, trace: list[Step]
) -> None:
    if reason == "headers-invalid":
        detail = f"Access-Control-Request-Headers {value!r} is not a list of names"
        trace.append(Step("headers", False, detail))
        return

    if not names:
        trace.append(Step("headers", True, "no request headers to check"))
        return

    detail = f"requested headers {', '.join(names)}"
    if reason == "header-not-allowed":
        detail += " include one that is not in the allowed headers"
    else:
        detail += " are allowed"
    trace.append(Step("headers", reason is None, detail))


def _trace_private_network(
    compiled: CompiledPolicy, value: str | None, trace: list[Step]
) -> None:
    if value != "true":
        return

    granted = compiled.allow_private_network
    detail = (
        "private network access granted"
        if granted
        else "private network access requested but not enabled"
    )
    trace.append(Step("private-network", granted, detail))
