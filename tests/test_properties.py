"""Properties of the middleware over generated policies, requests and app responses.

Each example builds a valid policy and a request whose ``Origin`` is
allowed, a near miss of an allowed one, or arbitrary text (CR, LF, NUL and
non-ASCII included). The request runs through :class:`CORSMiddleware` around
an app with a generated response. The checks compare the response with an
oracle written here from the Fetch standard's rules, not from the library.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from flask_fhir_cors import CORSMiddleware, CORSPolicy
from tests.support import Result, make_environ

# Valid configured origins. SECURE_ORIGINS are https or loopback, so they stay
# valid with credentials. Some are written in a form a browser never sends
# (uppercase, IDN, default port), and the policy stores the form it does send.
SECURE_ORIGINS = (
    "https://app.example.com",
    "https://admin.example.com",
    "http://localhost:3000",
    "http://127.0.0.1:8080",
    "https://[::1]:8443",
    "https://bücher.example",
    "HTTPS://Upper.Example.COM",
    "https://app.example.com:443",
)
INSECURE_ORIGINS = ("http://partner.example.org",)
PATTERNS = ("https://*.example.com", "https://*.tenant.example.net:8443")

METHOD_POOL = ("GET", "POST", "PUT", "PATCH", "DELETE", "patch", "X-Custom")
HEADER_POOL = ("Authorization", "Content-Type", "X-Request-Id", "Prefer", "If-Match")
EXPOSE_POOL = ("Location", "ETag", "X-Request-Id", "Retry-After")
PUBLIC_PATH_CHOICES = (
    (),
    ("/metadata", "/.well-known/smart-configuration"),
    ("/metadata", "/files/"),
)

REQUEST_METHODS = (
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "OPTIONS",
    "options",
)
PATHS = (
    "/",
    "/Patient/1",
    "/metadata",
    "/metadata/",
    "/Metadata",
    "/.well-known/smart-configuration",
    "/files/",
    "/files/report.pdf",
    "/files/../Patient/1",
    "/files/./x",
    "/files//x",
    "/files/a/..",
)
REQUESTED_METHODS = (
    "GET",
    "POST",
    "PUT",
    "PATCH",
    "patch",
    "DELETE",
    "delete",
    "X-Custom",
    "TRACE",
    "CONNECT",
    "track",
    "",
    " PUT",
    "PUT\r\n",
    "GET, PUT",
)
REQUESTED_HEADER_NAMES = (
    "authorization",
    "Content-Type",
    "X-REQUEST-ID",
    "prefer",
    "if-match",
    "X-Custom",
    "cookie",
    "x-\xe9vil",
    "x:y",
)
LIST_SEPARATORS = (",", ", ", " , ", ",,", "\t,", ", ,")

# Any character a WSGI server can put in an environ string (PEP 3333 decodes
# header bytes as latin-1), plus a few beyond it that a careless server or a
# test client could pass through.
ENVIRON_TEXT = st.text(
    alphabet=st.characters(max_codepoint=0xFF) | st.sampled_from("\u2603\U0001f600"),
    max_size=80,
)

# RFC 9110 token, the syntax of method and header names.
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
SUBDOMAIN_LABEL = re.compile(r"[a-z0-9_\-]+")
SAFELISTED_METHODS = frozenset({"GET", "HEAD", "POST"})
FORBIDDEN_METHODS = frozenset({"CONNECT", "TRACE", "TRACK"})
PUBLIC_METHODS = frozenset({"GET", "HEAD"})
# The library parses Access-Control-Request-Headers values and request
# methods up to these lengths and rejects longer ones.
MAX_REQUEST_HEADERS_LENGTH = 8192
MAX_REQUEST_METHOD_LENGTH = 64
CORS_PREFIX = "access-control-"
GRANT_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Max-Age",
    "Access-Control-Allow-Private-Network",
)


@dataclasses.dataclass
class AppResponse:
    """The response the wrapped app sends, and how often it ran."""

    status: str
    headers: list[tuple[str, str]]
    chunks: list[bytes]
    calls: int = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        self.calls += 1
        start_response(self.status, list(self.headers))
        return iter(list(self.chunks))


@dataclasses.dataclass
class Exchange:
    """One generated policy, request environ and app."""

    policy: CORSPolicy
    method: str
    path: str
    origin: str | None
    request_method: str | None
    request_headers: str | None
    request_private_network: str | None
    app: AppResponse
    environ: dict[str, Any]

    @property
    def is_preflight(self) -> bool:
        return (
            self.method == "OPTIONS"
            and self.origin is not None
            and self.request_method is not None
        )

    @property
    def is_public(self) -> bool:
        return is_public_path(self.policy.public_paths, self.path)

    @property
    def wildcard_scope(self) -> bool:
        """Whether '*' may be sent on this path: any origin may read it."""
        return self.policy.allows_any_origin or self.is_public

    @property
    def varies_by_origin(self) -> bool:
        """Whether the response to an actual request depends on its origin.

        On a public path, origins that the main policy allows with
        credentials get their own origin and credentials, so only a public
        path of a policy without credentials gives everyone the same '*'.
        """
        if self.policy.allows_any_origin:
            return False
        return not self.is_public or self.policy.allow_credentials


def is_public_path(public_paths: tuple[str, ...], path: str) -> bool:
    """Tell whether ``path`` is one of ``public_paths`` or inside a '/' one."""
    if path in public_paths:
        return True

    for prefix in public_paths:
        if prefix.endswith("/") and path.startswith(prefix):
            segments = path.split("/")[1:]
            return "" not in segments[:-1] and not ({".", ".."} & set(segments))
    return False


def origin_matches(configured: tuple[str, ...], origin: str) -> bool:
    """Tell whether ``origin`` equals a configured origin or sits under a pattern."""
    if "*" in configured:
        return True

    for entry in configured:
        if "://*." not in entry:
            if origin == entry:
                return True
            continue

        scheme, parent = entry.split("://*.")
        prefix = scheme + "://"
        suffix = "." + parent
        if not origin.startswith(prefix) or not origin.endswith(suffix):
            continue
        subdomain = origin[len(prefix) : len(origin) - len(suffix)]
        labels = subdomain.split(".")
        if subdomain and all(SUBDOMAIN_LABEL.fullmatch(label) for label in labels):
            return True
    return False


def requested_header_names(value: str | None) -> list[str] | None:
    """Return the request header names, lowercased, or None for an invalid value."""
    # HTTP whitespace is only space and tab, so a value of those and commas
    # names no headers, while any other character must be part of a name.
    if value is None:
        return []
    if len(value) > MAX_REQUEST_HEADERS_LENGTH:
        return None

    names = [item.strip(" \t") for item in value.split(",")]
    names = [name for name in names if name]
    if not all(TOKEN.fullmatch(name) for name in names):
        return None
    return [name.lower() for name in names]


def expected_preflight_grant(exchange: Exchange) -> bool:
    """Decide from the Fetch rules whether a preflight should be granted."""
    policy = exchange.policy
    public = exchange.is_public
    if not public and not origin_matches(policy.origins, exchange.origin or ""):
        return False

    method = exchange.request_method or ""
    if len(method) > MAX_REQUEST_METHOD_LENGTH or not TOKEN.fullmatch(method):
        return False
    if method.upper() in FORBIDDEN_METHODS:
        return False

    methods = PUBLIC_METHODS if public else set(policy.methods)
    if "*" not in methods and method not in methods | SAFELISTED_METHODS:
        return False

    names = requested_header_names(exchange.request_headers)
    if names is None:
        return False
    if policy.headers == ("*",):
        return True
    allowed = {name.lower() for name in policy.headers}
    return all(name in allowed for name in names)


def browser_accepts_preflight(exchange: Exchange, result: Result) -> bool:
    """Tell whether a browser would accept this preflight response for the request.

    This is Fetch's CORS check plus its CORS-preflight fetch steps for the
    method and the header names, with '*' honored only without credentials.
    """
    credentials = result.get("Access-Control-Allow-Credentials") == "true"
    allow_origin = result.get("Access-Control-Allow-Origin")
    if allow_origin != exchange.origin and (allow_origin != "*" or credentials):
        return False

    methods = result.tokens("Access-Control-Allow-Methods")
    method = exchange.request_method or ""
    wildcard_method = "*" in methods and not credentials
    if method not in methods and method not in SAFELISTED_METHODS:
        if not wildcard_method:
            return False

    names = [name.lower() for name in result.tokens("Access-Control-Allow-Headers")]
    wildcard_header = "*" in names and not credentials
    for name in requested_header_names(exchange.request_headers) or []:
        if name not in names and (not wildcard_header or name == "authorization"):
            return False
    return True


ORIGIN_KINDS = st.sampled_from(("none", "allowed", "near miss", "text"))
PREFLIGHT_ORIGIN_KINDS = st.sampled_from(("allowed", "allowed", "near miss", "text"))
SUBDOMAIN_LABELS = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10),
    min_size=1,
    max_size=3,
)
INDEXES = st.integers(0, 1000)
METHOD_SETTINGS = st.just("*") | st.lists(st.sampled_from(METHOD_POOL), max_size=4)
HEADER_SETTINGS = st.just("*") | st.lists(st.sampled_from(HEADER_POOL), max_size=4)
EXPOSE_SETTINGS = st.lists(st.sampled_from(EXPOSE_POOL), max_size=3)
MAX_AGE_SETTINGS = st.none() | st.integers(0, 86400)
SECURE_ORIGIN_LISTS = st.lists(
    st.sampled_from(SECURE_ORIGINS + PATTERNS), min_size=1, max_size=4
)
ANY_ORIGIN_LISTS = st.lists(
    st.sampled_from(SECURE_ORIGINS + PATTERNS + INSECURE_ORIGINS),
    min_size=1,
    max_size=4,
)
PREFLIGHT_METHOD_VALUES = st.sampled_from(REQUESTED_METHODS) | ENVIRON_TEXT
REQUESTED_METHOD_VALUES = st.none() | PREFLIGHT_METHOD_VALUES
PRIVATE_NETWORK_VALUES = st.sampled_from((None, "true", "false", "TRUE"))
REQUESTED_HEADER_LISTS = st.tuples(
    st.lists(st.sampled_from(REQUESTED_HEADER_NAMES), max_size=5),
    st.sampled_from(LIST_SEPARATORS),
    st.sampled_from(("", " ", "\t")),
).map(lambda parts: parts[2] + parts[1].join(parts[0]) + parts[2])
REQUESTED_HEADER_VALUES = st.none() | REQUESTED_HEADER_LISTS | ENVIRON_TEXT

# Headers the wrapped app sets itself, CORS ones included, after Content-Type.
APP_OWN_HEADERS = st.lists(
    st.sampled_from(
        (
            ("Access-Control-Allow-Origin", "https://app-set.example"),
            ("access-control-allow-credentials", "true"),
            ("Access-Control-Expose-Headers", "X-Secret"),
            ("Vary", "Accept-Encoding"),
            ("vary", "accept, origin"),
            ("Vary", "*"),
            ("Vary", ""),
            ("ETag", '"v1"'),
        )
    ),
    max_size=4,
)
APP_RESPONSES = st.builds(
    AppResponse,
    status=st.sampled_from(("200 OK", "201 Created", "404 Not Found", "500 Error")),
    headers=APP_OWN_HEADERS.map(lambda own: [("Content-Type", "text/plain"), *own]),
    chunks=st.lists(st.binary(max_size=64), max_size=4),
)


@st.composite
def policies(draw: st.DrawFn) -> CORSPolicy:
    """Draw a valid policy: credentials rule out '*' origins and expose lists."""
    credentials = draw(st.booleans())
    origins: Any = draw(SECURE_ORIGIN_LISTS if credentials else ANY_ORIGIN_LISTS)
    if not credentials and draw(st.integers(0, 5)) == 0:
        origins = "*"

    expose: Any = draw(EXPOSE_SETTINGS)
    if not credentials and draw(st.booleans()):
        expose = "*"

    return CORSPolicy(
        origins=origins,
        methods=draw(METHOD_SETTINGS),
        headers=draw(HEADER_SETTINGS),
        expose_headers=expose,
        max_age=draw(MAX_AGE_SETTINGS),
        allow_credentials=credentials,
        public_paths=draw(st.sampled_from(PUBLIC_PATH_CHOICES)),
        allow_private_network=draw(st.booleans()),
        debug=draw(st.booleans()),
    )


def allowed_origin(policy: CORSPolicy, index: int, labels: list[str]) -> str:
    """Pick an origin a browser could send that the policy allows.

    ``index`` chooses among the listed origins and patterns, and a pattern
    gets ``labels`` as its subdomain.
    """
    candidates = [origin for origin in policy.origins if origin != "*"]
    if not candidates:
        return "https://any.example.org"

    chosen = candidates[index % len(candidates)]
    if "://*." not in chosen:
        return chosen

    scheme, parent = chosen.split("://*.")
    return f"{scheme}://{'.'.join(labels)}.{parent}"


def near_misses(origin: str) -> list[str]:
    """Variants of an allowed origin that a sloppy matcher might accept."""
    scheme, _, host = origin.partition("://")
    other_scheme = "http" if scheme == "https" else "https"
    parent = host.split(".", 1)[-1]
    return [
        origin + "/",
        origin.upper(),
        origin + ":443",
        origin + ":1",
        f"{other_scheme}://{host}",
        origin + ".evil.net",
        f"{scheme}://evil{host}",
        f"{scheme}://{parent}",
        f"{scheme}://*.{parent}",
        f"{scheme}://.{host}",
        f"{scheme}://a..{host}",
        origin + ".",
        origin + " ",
        " " + origin,
        origin + ", " + origin,
        origin + ",https://evil.net",
        origin + "\r\nX-Injected: 1",
        origin + "\x00",
        origin[:-1],
        "null",
        "",
    ]


def draw_origin(
    draw: st.DrawFn, policy: CORSPolicy, kinds: st.SearchStrategy[str]
) -> str | None:
    kind = draw(kinds)
    if kind == "none":
        return None
    if kind == "text":
        return draw(ENVIRON_TEXT)

    origin = allowed_origin(policy, draw(INDEXES), draw(SUBDOMAIN_LABELS))
    if kind == "allowed":
        return origin

    misses = near_misses(origin)
    return misses[draw(INDEXES) % len(misses)]


@st.composite
def exchanges(draw: st.DrawFn, preflight: bool = False) -> Exchange:
    """Draw a policy, a request and an app response.

    With ``preflight`` set, the request is always a preflight: ``OPTIONS``
    with ``Origin`` and ``Access-Control-Request-Method``.
    """
    return draw_exchange(draw, draw(policies()), preflight)


@st.composite
def exchange_sequences(draw: st.DrawFn) -> list[Exchange]:
    """Draw one policy and several requests to send with it, in order."""
    policy = draw(policies())
    count = draw(st.integers(2, 8))
    return [draw_exchange(draw, policy, draw(st.booleans())) for _ in range(count)]


def draw_exchange(draw: st.DrawFn, policy: CORSPolicy, preflight: bool) -> Exchange:
    path = draw(st.sampled_from(PATHS))
    if preflight:
        method = "OPTIONS"
        origin = draw_origin(draw, policy, PREFLIGHT_ORIGIN_KINDS)
        request_method = draw(PREFLIGHT_METHOD_VALUES)
    else:
        method = draw(st.sampled_from(REQUEST_METHODS))
        origin = draw_origin(draw, policy, ORIGIN_KINDS)
        request_method = draw(REQUESTED_METHOD_VALUES)
    request_headers = draw(REQUESTED_HEADER_VALUES)
    private_network = draw(PRIVATE_NETWORK_VALUES)
    app = draw(APP_RESPONSES)

    environ = make_environ(method, "/")
    environ["PATH_INFO"] = path
    headers = {
        "HTTP_ORIGIN": origin,
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": request_method,
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": request_headers,
        "HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK": private_network,
    }
    environ.update({key: value for key, value in headers.items() if value is not None})

    return Exchange(
        policy,
        method,
        path,
        origin,
        request_method,
        request_headers,
        private_network,
        app,
        environ,
    )


def send(exchange: Exchange, policy: CORSPolicy | None = None) -> Result:
    """Run the exchange's request through the middleware as a server would.

    ``policy`` replaces the exchange's policy, such as a fresh copy of it.
    """
    middleware = CORSMiddleware(exchange.app, policy or exchange.policy)
    captured: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
        captured.append((status, list(headers)))
        return lambda data: None

    iterable = middleware(dict(exchange.environ), start_response)
    try:
        body = b"".join(iterable)
    finally:
        if hasattr(iterable, "close"):
            iterable.close()

    assert len(captured) == 1, f"start_response was called {len(captured)} times"
    status, headers = captured[0]
    return Result(status, headers, body)


def describe(exchange: Exchange) -> str:
    """Return the CORS-relevant request values, for assertion messages."""
    return (
        f"{exchange.method} {exchange.path} Origin={exchange.origin!r} "
        f"method={exchange.request_method!r} headers={exchange.request_headers!r} "
        f"private-network={exchange.request_private_network!r}"
    )


def vary_tokens(result: Result) -> set[str]:
    return {token.lower() for token in result.tokens("Vary")}


@given(exchanges())
def test_allow_origin_granted(exchange: Exchange) -> None:
    result = send(exchange)
    allow_origin = result.get("Access-Control-Allow-Origin")
    credentials = result.get("Access-Control-Allow-Credentials")
    origin = exchange.origin
    allowed = origin is not None and (
        exchange.wildcard_scope or origin_matches(exchange.policy.origins, origin)
    )

    if allow_origin == "*":
        assert exchange.wildcard_scope, "'*' granted outside a wildcard scope"
        assert credentials is None, "'*' sent together with credentials"
    elif allow_origin is not None:
        assert allow_origin == origin, "a different origin was granted"
        assert allowed, f"{allow_origin!r} is not an allowed origin"
    if credentials is not None:
        assert exchange.policy.allow_credentials, "credentials not enabled"
        assert allow_origin == origin, "credentials without the request's origin"
        assert origin_matches(exchange.policy.origins, origin or ""), "not allowed"

    if allowed and not exchange.is_preflight:
        assert allow_origin is not None, f"allowed {origin!r} got no grant"
    if exchange.policy.allows_any_origin and not exchange.is_preflight:
        assert allow_origin == "*", "a wildcard policy did not send '*'"


@given(exchanges(preflight=True))
def test_preflight_follows_rules(exchange: Exchange) -> None:
    result = send(exchange)
    expected = 204 if expected_preflight_grant(exchange) else 403
    event(f"preflight answered {expected}")
    granted = [name for name in GRANT_HEADERS if result.get(name) is not None]

    private_network = result.get("Access-Control-Allow-Private-Network")

    assert result.status_code == expected
    if expected == 204:
        assert browser_accepts_preflight(exchange, result), "grant does not cover it"
    if expected == 403:
        assert granted == [], f"a refused preflight sent {granted}"
        assert exchange.policy.debug or result.body == b"", "refusal body not empty"
    if private_network is not None:
        assert exchange.policy.allow_private_network, "private network not enabled"
        assert exchange.request_private_network == "true", "not requested"


@given(exchanges())
def test_headers_well_formed(exchange: Exchange) -> None:
    result = send(exchange)
    names = [name.lower() for name, _ in result.headers]
    cors_names = [name for name in names if name.startswith(CORS_PREFIX)]
    vary = vary_tokens(result)

    for name, value in result.headers:
        assert "\r" not in value, f"{name} contains CR: {value!r}"
        assert "\n" not in value, f"{name} contains LF: {value!r}"
        assert "\x00" not in value, f"{name} contains NUL: {value!r}"
    assert len(cors_names) == len(set(cors_names)), f"repeated: {cors_names}"
    assert names.count("vary") <= 1, "Vary appears more than once"
    if exchange.is_preflight or exchange.varies_by_origin:
        assert "origin" in vary or "*" in vary, f"Vary is {vary}"


@given(exchanges())
def test_app_passthrough(exchange: Exchange) -> None:
    result = send(exchange)
    app = exchange.app

    if exchange.is_preflight:
        assert app.calls == 0, "the app ran for a preflight"
    else:
        assert app.calls == 1, f"the app ran {app.calls} times"
        assert result.status == app.status, "the app's status changed"
        assert result.body == b"".join(app.chunks), "the app's body changed"


@given(exchange_sequences())
def test_history_independent(sequence: list[Exchange]) -> None:
    # The compiled policy keeps decisions of earlier requests, so each response
    # from a long-used policy must equal the one from a fresh copy of it.
    policy = sequence[0].policy
    used = [send(exchange) for exchange in sequence + sequence]

    for exchange, result in zip(sequence + sequence, used):
        fresh = send(exchange, CORSPolicy(**policy.settings()))
        request = describe(exchange)
        assert result.status == fresh.status, f"status differs for {request}"
        assert result.headers == fresh.headers, f"headers differ for {request}"
        assert result.body == fresh.body, f"body differs for {request}"
