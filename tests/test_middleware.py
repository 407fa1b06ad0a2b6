"""The middleware's responses for a table of policies and requests."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from flask_fhir_cors import CORSMiddleware, CORSPolicy
from flask_fhir_cors.middleware import merge_vary
from tests.support import RecordingApp, call_wsgi, make_environ

APP = "https://app.example.com"
EVIL = "https://evil.example.net"
PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
ALL_CORS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
)

LISTED = {
    "origins": [APP, "https://admin.example.com"],
    "methods": ["GET", "POST", "PUT", "DELETE"],
    "headers": ["Authorization", "Content-Type", "X-Request-Id"],
    "expose_headers": ["Location", "ETag"],
    "max_age": 600,
    "public_paths": [],
}
CREDENTIALED = {**LISTED, "allow_credentials": True}
ANY_ORIGIN = {**LISTED, "origins": "*"}
WILDCARDS = {**LISTED, "methods": "*", "headers": "*"}


def preflight(
    origin: str, method: str, headers: str | None = None, path: str = "/Patient/1"
) -> dict[str, Any]:
    request_headers = [("Origin", origin), ("Access-Control-Request-Method", method)]
    if headers is not None:
        request_headers.append(("Access-Control-Request-Headers", headers))
    return {"method": "OPTIONS", "path": path, "headers": request_headers}


def actual(origin: str | None, method: str = "GET", path: str = "/Patient/1") -> dict:
    headers = [] if origin is None else [("Origin", origin)]
    return {"method": method, "path": path, "headers": headers}


# Each row: policy settings, request, expected status, exact CORS headers
# (None: must be absent), and whether the app runs.
TABLE = [
    pytest.param(
        LISTED,
        preflight(APP, "PUT", "authorization,content-type"),
        204,
        {
            "Access-Control-Allow-Origin": APP,
            "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE",
            "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Request-Id",
            "Access-Control-Max-Age": "600",
            "Access-Control-Allow-Credentials": None,
            "Access-Control-Expose-Headers": None,
            "Vary": PREFLIGHT_VARY,
        },
        False,
        id="preflight, allowed",
    ),
    pytest.param(
        CREDENTIALED,
        preflight(APP, "DELETE"),
        204,
        {
            "Access-Control-Allow-Origin": APP,
            "Access-Control-Allow-Credentials": "true",
        },
        False,
        id="preflight, credentialed",
    ),
    pytest.param(
        LISTED,
        preflight(EVIL, "PUT"),
        403,
        {name: None for name in ALL_CORS} | {"Vary": PREFLIGHT_VARY},
        False,
        id="preflight, origin not allowed",
    ),
    pytest.param(
        LISTED,
        preflight(APP, "PATCH"),
        403,
        {"Access-Control-Allow-Origin": None},
        False,
        id="preflight, method not allowed",
    ),
    pytest.param(
        {**LISTED, "methods": ["GET", "PATCH"]},
        preflight(APP, "patch"),
        403,
        {"Access-Control-Allow-Origin": None},
        False,
        id="preflight, method case differs",
    ),
    pytest.param(
        {**LISTED, "methods": ["GET", "patch"]},
        preflight(APP, "patch"),
        204,
        {"Access-Control-Allow-Methods": "GET, patch"},
        False,
        id="preflight, lowercase method listed",
    ),
    pytest.param(
        LISTED,
        preflight(APP, "TRACE"),
        403,
        {"Access-Control-Allow-Origin": None},
        False,
        id="preflight, forbidden method",
    ),
    pytest.param(
        WILDCARDS,
        preflight(APP, "TRACK"),
        403,
        {"Access-Control-Allow-Origin": None},
        False,
        id="preflight, wildcard never allows TRACK",
    ),
    pytest.param(
        LISTED,
        preflight(APP, "GET", "x-evil"),
        403,
        {"Access-Control-Allow-Origin": None},
        False,
        id="preflight, header not allowed",
    ),
    pytest.param(
        LISTED,
        preflight(APP, "PUT", " Authorization ,, CONTENT-TYPE,"),
        204,
        {"Access-Control-Allow-Origin": APP},
        False,
        id="preflight, lenient header list",
    ),
    pytest.param(
        LISTED,
        preflight(APP, "PUT", "content-type, x-request-id\u00e9"),
        403,
        {"Access-Control-Allow-Origin": None},
        False,
        id="preflight, non-token header name",
    ),
    pytest.param(
        LISTED,
        preflight(APP, "HEAD"),
        204,
        {"Access-Control-Allow-Methods": "GET, POST, PUT, DELETE"},
        False,
        id="preflight, HEAD needs no listing",
    ),
    pytest.param(
        WILDCARDS,
        preflight(APP, "PATCH", "authorization,x-custom"),
        204,
        {
            "Access-Control-Allow-Methods": "PATCH",
            "Access-Control-Allow-Headers": "authorization,x-custom",
        },
        False,
        id="preflight, wildcards name the request",
    ),
    pytest.param(
        {**WILDCARDS, "allow_credentials": True},
        preflight(APP, "PATCH", "authorization"),
        204,
        {
            "Access-Control-Allow-Methods": "PATCH",
            "Access-Control-Allow-Headers": "authorization",
            "Access-Control-Allow-Credentials": "true",
        },
        False,
        id="preflight, wildcards with credentials",
    ),
    pytest.param(
        WILDCARDS,
        preflight(APP, "GET"),
        204,
        {"Access-Control-Allow-Headers": None},
        False,
        id="preflight, wildcard headers none requested",
    ),
    pytest.param(
        ANY_ORIGIN,
        preflight(EVIL, "PUT", "authorization"),
        204,
        {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Credentials": None,
        },
        False,
        id="preflight, any origin",
    ),
    pytest.param(
        {**LISTED, "max_age": None},
        preflight(APP, "PUT"),
        204,
        {"Access-Control-Max-Age": None},
        False,
        id="preflight, no max age",
    ),
    pytest.param(
        {**LISTED, "max_age": 0},
        preflight(APP, "PUT"),
        204,
        {"Access-Control-Max-Age": "0"},
        False,
        id="preflight, max age zero",
    ),
    pytest.param(
        LISTED,
        {"method": "OPTIONS", "path": "/Patient", "headers": [("Origin", APP)]},
        200,
        {"Access-Control-Allow-Origin": APP, "Vary": "Origin"},
        True,
        id="OPTIONS without request method reaches app",
    ),
    pytest.param(
        LISTED,
        {
            "method": "OPTIONS",
            "path": "/Patient",
            "headers": [("Access-Control-Request-Method", "PUT")],
        },
        200,
        {"Access-Control-Allow-Origin": None},
        True,
        id="OPTIONS without origin reaches app",
    ),
    pytest.param(
        LISTED,
        actual(APP),
        200,
        {
            "Access-Control-Allow-Origin": APP,
            "Access-Control-Expose-Headers": "Location, ETag",
            "Access-Control-Allow-Methods": None,
            "Access-Control-Max-Age": None,
            "Vary": "Origin",
        },
        True,
        id="actual, allowed",
    ),
    pytest.param(
        CREDENTIALED,
        actual("https://admin.example.com", "DELETE"),
        200,
        {
            "Access-Control-Allow-Origin": "https://admin.example.com",
            "Access-Control-Allow-Credentials": "true",
        },
        True,
        id="actual, credentialed second origin",
    ),
    pytest.param(
        LISTED,
        actual(EVIL),
        200,
        {name: None for name in ALL_CORS} | {"Vary": "Origin"},
        True,
        id="actual, origin not allowed",
    ),
    pytest.param(
        LISTED,
        actual(None),
        200,
        {name: None for name in ALL_CORS} | {"Vary": "Origin"},
        True,
        id="actual, no origin",
    ),
    pytest.param(
        ANY_ORIGIN,
        actual(None),
        200,
        {"Access-Control-Allow-Origin": "*", "Vary": None},
        True,
        id="actual, any origin without Origin",
    ),
    pytest.param(
        ANY_ORIGIN,
        actual("null"),
        200,
        {"Access-Control-Allow-Origin": "*", "Vary": None},
        True,
        id="actual, any origin with null",
    ),
    pytest.param(
        {**LISTED, "expose_headers": []},
        actual(APP),
        200,
        {"Access-Control-Expose-Headers": None},
        True,
        id="actual, nothing exposed",
    ),
    pytest.param(
        {**LISTED, "expose_headers": "*"},
        actual(APP),
        200,
        {"Access-Control-Expose-Headers": "*"},
        True,
        id="actual, expose wildcard",
    ),
]

MALFORMED_ORIGINS = [
    pytest.param(APP + "/", id="trailing slash"),
    pytest.param("https://APP.example.com", id="upper case"),
    pytest.param(APP + ", " + APP, id="two origins"),
    pytest.param(APP + " ", id="trailing space"),
    pytest.param(APP + "\r\nX-Injected: 1", id="CR LF"),
    pytest.param(APP + ":443", id="explicit default port"),
    pytest.param("http://app.example.com", id="other scheme"),
    pytest.param("https://app.example.com.evil.net", id="suffix added"),
    pytest.param("https://evilapp.example.com", id="prefix added"),
    pytest.param("https://app.example.co", id="substring"),
    pytest.param("null", id="null"),
    pytest.param("", id="empty"),
]


def run(settings: dict[str, Any], request: dict[str, Any], app: Any = None):
    app = app or RecordingApp()
    environ = make_environ(request["method"], request["path"], request["headers"])
    result = call_wsgi(CORSMiddleware(app, CORSPolicy(**settings)), environ)
    return result, app


@pytest.mark.parametrize(("settings", "request_", "status", "headers", "runs"), TABLE)
def test_middleware_table(
    settings: dict[str, Any],
    request_: dict[str, Any],
    status: int,
    headers: dict[str, str | None],
    runs: bool,
) -> None:
    result, app = run(settings, request_)

    assert result.status_code == status
    assert (app.calls == 1) is runs
    for name, value in headers.items():
        assert result.values(name) == ([] if value is None else [value]), name


@pytest.mark.parametrize("origin", MALFORMED_ORIGINS)
@pytest.mark.parametrize("settings", [LISTED, CREDENTIALED], ids=["plain", "cred"])
def test_malformed_origin_gets_nothing(settings: dict[str, Any], origin: str) -> None:
    result, app = run(settings, actual(origin))

    assert app.calls == 1
    for name in ALL_CORS:
        assert result.values(name) == [], name
    assert result.values("Vary") == ["Origin"]


@pytest.mark.parametrize("origin", MALFORMED_ORIGINS)
def test_malformed_origin_preflight_refused(origin: str) -> None:
    result, app = run(LISTED, preflight(origin, "PUT"))

    assert result.status_code == 403
    assert app.calls == 0
    assert result.values("Access-Control-Allow-Origin") == []


@pytest.mark.parametrize("status", ["404 NOT FOUND", "500 INTERNAL SERVER ERROR"])
def test_error_responses_get_headers(status: str) -> None:
    app = RecordingApp(status=status)

    result, _ = run(LISTED, actual(APP), app)

    assert result.status == status
    assert result.values("Access-Control-Allow-Origin") == [APP]


def test_app_cors_headers_replaced() -> None:
    app = RecordingApp(
        headers=[
            ("Content-Type", "text/plain"),
            ("Access-Control-Allow-Origin", "*"),
            ("access-control-allow-credentials", "true"),
            ("Access-Control-Expose-Headers", "X-Secret"),
        ]
    )

    result, _ = run(LISTED, actual(APP), app)

    assert result.values("Access-Control-Allow-Origin") == [APP]
    assert result.values("Access-Control-Allow-Credentials") == []
    assert result.values("Access-Control-Expose-Headers") == ["Location, ETag"]


def test_app_headers_kept_in_order() -> None:
    app = RecordingApp(headers=[("Content-Type", "text/plain"), ("ETag", '"1"')])

    result, _ = run(LISTED, actual(APP), app)

    assert result.headers[:2] == [("Content-Type", "text/plain"), ("ETag", '"1"')]


VARY_CASES = [
    pytest.param([], "Origin", "Origin", id="none set"),
    pytest.param(["Accept-Encoding"], "Origin", "Accept-Encoding, Origin", id="one"),
    pytest.param(["Accept", "Cookie"], "Origin", "Accept, Cookie, Origin", id="lines"),
    pytest.param(["origin"], "Origin", "origin", id="already present"),
    pytest.param(["*"], "Origin", "*", id="star"),
    pytest.param(["Accept-Encoding"], "", "Accept-Encoding", id="nothing to add"),
    pytest.param(["", "Accept"], "Origin", "Accept, Origin", id="empty value"),
]


@pytest.mark.parametrize(("app_values", "extra", "expected"), VARY_CASES)
def test_merge_vary(app_values: list[str], extra: str, expected: str) -> None:
    assert merge_vary(app_values, extra) == expected


def test_vary_appended_on_disallowed_origin() -> None:
    app = RecordingApp(headers=[("Vary", "Accept-Encoding")])

    result, _ = run(LISTED, actual(EVIL), app)

    assert result.values("Vary") == ["Accept-Encoding, Origin"]


def test_debug_mode_explains_refusal() -> None:
    result, _ = run({**LISTED, "debug": True}, preflight(APP, "PATCH"))

    assert result.status_code == 403
    assert result.values("X-CORS-Refusal-Reason") == ["method-not-allowed"]
    assert b"method-not-allowed" in result.body


def test_refusal_body_empty_without_debug() -> None:
    result, _ = run(LISTED, preflight(APP, "PATCH"))

    assert result.body == b""
    assert result.values("X-CORS-Refusal-Reason") == []
    assert result.values("Content-Length") == ["0"]


PRIVATE_NETWORK = [
    pytest.param(False, APP, "true", None, id="option off"),
    pytest.param(True, APP, "true", "true", id="option on, allowed origin"),
    pytest.param(True, EVIL, "true", None, id="option on, other origin"),
    pytest.param(True, APP, None, None, id="option on, not requested"),
]


@pytest.mark.parametrize(("enabled", "origin", "requested", "granted"), PRIVATE_NETWORK)
def test_private_network_grant(
    enabled: bool, origin: str, requested: str | None, granted: str | None
) -> None:
    request = preflight(origin, "GET")
    if requested is not None:
        request["headers"].append(("Access-Control-Request-Private-Network", requested))

    result, _ = run({**LISTED, "allow_private_network": enabled}, request)

    expected = [] if granted is None else [granted]
    assert result.values("Access-Control-Allow-Private-Network") == expected


def test_refusals_logged_with_repr(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_fhir_cors")

    run(LISTED, actual(EVIL + "\r\nforged"))
    run(LISTED, preflight(APP, "PATCH"))

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "origin-not-allowed" in messages[0]
    assert "\\r\\nforged" in messages[0]
    assert "method-not-allowed" in messages[1]
    for message in messages:
        assert "\r" not in message
        assert "\n" not in message


def test_long_values_shortened_in_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_fhir_cors")

    run(LISTED, actual("https://" + "a" * 10_000 + ".example"))

    assert len(caplog.records[0].getMessage()) < 1000


def test_nothing_logged_for_allowed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_fhir_cors")

    run(LISTED, actual(APP))

    assert caplog.records == []


def test_policy_type_checked() -> None:
    with pytest.raises(TypeError, match="CORSPolicy"):
        CORSMiddleware(RecordingApp(), {"origins": APP})  # type: ignore[arg-type]


def test_preflight_cache_bounded() -> None:
    policy = CORSPolicy(**{**WILDCARDS, "headers": "*"})
    middleware = CORSMiddleware(RecordingApp(), policy)

    for number in range(3000):
        environ = make_environ(
            "OPTIONS", "/", preflight(APP, "PUT", f"x-{number}")["headers"]
        )
        assert call_wsgi(middleware, environ).status_code == 204

    cache = policy._compiled.preflight_decisions  # type: ignore[attr-defined]
    assert 0 < len(cache) <= 1024


def test_preflight_cache_per_scope() -> None:
    middleware = CORSMiddleware(
        RecordingApp(), CORSPolicy(origins=APP, public_paths=["/metadata"])
    )
    request = preflight(APP, "PUT")["headers"]

    data = call_wsgi(middleware, make_environ("OPTIONS", "/Patient/1", request))
    public = call_wsgi(middleware, make_environ("OPTIONS", "/metadata", request))
    again = call_wsgi(middleware, make_environ("OPTIONS", "/Patient/2", request))

    assert data.status_code == 204
    assert public.status_code == 403
    assert again.status_code == 204


def test_cached_answers_equal_fresh() -> None:
    policy = CORSPolicy(**LISTED)
    middleware = CORSMiddleware(RecordingApp(), policy)
    requests = [preflight(APP, "PUT", "authorization"), actual(APP)]

    for request in requests:
        environ = make_environ(request["method"], request["path"], request["headers"])
        first = call_wsgi(middleware, dict(environ))
        second = call_wsgi(middleware, dict(environ))
        assert first == second


def test_pattern_origin_cache_bounded() -> None:
    policy = CORSPolicy(origins="https://*.example.com")
    middleware = CORSMiddleware(RecordingApp(), policy)

    for number in range(5000):
        origin = f"https://tenant{number}.example.com"
        result = call_wsgi(middleware, make_environ("GET", "/", [("Origin", origin)]))
        assert result.values("Access-Control-Allow-Origin") == [origin]

    cache = policy._compiled.actual_decisions  # type: ignore[attr-defined]
    assert len(cache) <= 4096
