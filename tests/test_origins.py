"""Subdomain patterns, public paths and origin safety checks."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from flask_fhir_cors import CORSMiddleware, CORSPolicy, PolicyError
from flask_fhir_cors._origins import serialize_ipv6
from tests.support import RecordingApp, call_wsgi, make_environ

PATTERN_CASES = [
    pytest.param(
        "https://*.example.com", "https://a.example.com", True, id="one label"
    ),
    pytest.param(
        "https://*.example.com", "https://a.b.example.com", True, id="two labels"
    ),
    pytest.param("https://*.example.com", "https://example.com", False, id="apex"),
    pytest.param(
        "https://*.example.com", "https://evilexample.com", False, id="no dot"
    ),
    pytest.param(
        "https://*.example.com",
        "https://example.com.evil.net",
        False,
        id="suffix appended",
    ),
    pytest.param(
        "https://*.example.com", "http://a.example.com", False, id="other scheme"
    ),
    pytest.param(
        "https://*.example.com", "https://a.example.com:8443", False, id="other port"
    ),
    pytest.param(
        "https://*.example.com:8443",
        "https://a.example.com:8443",
        True,
        id="same port",
    ),
    pytest.param(
        "https://*.example.com:8443", "https://a.example.com", False, id="port missing"
    ),
    pytest.param(
        "https://*.example.com", "https://A.example.com", False, id="upper case"
    ),
    pytest.param(
        "https://*.example.com", "https://.example.com", False, id="empty label"
    ),
    pytest.param(
        "https://*.example.com", "https://a..example.com", False, id="double dot"
    ),
    pytest.param(
        "https://*.example.com", "https://a.example.com/", False, id="trailing slash"
    ),
    pytest.param(
        "https://*.example.com",
        "https://evil.example.net/x.example.com",
        False,
        id="path ends with domain",
    ),
    pytest.param(
        "https://*.example.com",
        "https://evil.net#.example.com",
        False,
        id="fragment ends with domain",
    ),
    pytest.param(
        "https://*.example.com",
        "https://a.example.com\r\n",
        False,
        id="CR LF appended",
    ),
    pytest.param(
        "https://*.example.com",
        "https://a.example.com, https://b.example.com",
        False,
        id="two origins",
    ),
    pytest.param(
        "https://*.example.com",
        "https://a`.example.com",
        False,
        id="backtick in host",
    ),
    pytest.param(
        "https://*.example.com",
        "https://user@a.example.com",
        False,
        id="user info",
    ),
]


@pytest.mark.parametrize(("pattern", "origin", "allowed"), PATTERN_CASES)
def test_subdomain_pattern(pattern: str, origin: str, allowed: bool) -> None:
    policy = CORSPolicy(origins=[pattern], public_paths=[])
    environ = make_environ("GET", "/Patient", [("Origin", origin)])

    result = call_wsgi(CORSMiddleware(RecordingApp(), policy), environ)

    expected = [origin] if allowed else []
    assert result.values("Access-Control-Allow-Origin") == expected
    assert result.values("Vary") == ["Origin"]


def test_pattern_and_exact_together() -> None:
    policy = CORSPolicy(origins=["https://*.example.com", "https://example.com"])
    middleware = CORSMiddleware(RecordingApp(), policy)

    for origin in ("https://example.com", "https://www.example.com"):
        environ = make_environ("GET", "/", [("Origin", origin)])
        result = call_wsgi(middleware, environ)
        assert result.values("Access-Control-Allow-Origin") == [origin]


def test_many_patterns_still_match() -> None:
    patterns = [f"https://*.tenant{number}.example.com" for number in range(1000)]
    policy = CORSPolicy(origins=patterns)
    origin = "https://app.tenant999.example.com"
    environ = make_environ("GET", "/", [("Origin", origin)])

    result = call_wsgi(CORSMiddleware(RecordingApp(), policy), environ)

    assert result.values("Access-Control-Allow-Origin") == [origin]


MAIN = {
    "origins": ["https://app.example.com"],
    "allow_credentials": True,
    "max_age": 600,
}

PUBLIC_PATH_CASES = [
    pytest.param({}, "/metadata", True, id="metadata"),
    pytest.param({}, "/.well-known/smart-configuration", True, id="smart config"),
    pytest.param({}, "/metadata-admin", False, id="longer name"),
    pytest.param({}, "/metadata/", False, id="trailing slash"),
    pytest.param({}, "/Metadata", False, id="case differs"),
    pytest.param({}, "/metadata/../Patient", False, id="dot segments"),
    pytest.param({}, "/Patient", False, id="data path"),
    pytest.param({}, "/fhir/metadata", False, id="nested"),
    pytest.param({"public_paths": ["/files/"]}, "/files/report", True, id="prefix"),
    pytest.param({"public_paths": ["/files/"]}, "/files/a/b", True, id="deep prefix"),
    pytest.param(
        {"public_paths": ["/files/"]}, "/files/../Patient", False, id="prefix escape"
    ),
    pytest.param({"public_paths": ["/files/"]}, "/files//x", False, id="empty seg"),
    pytest.param({"public_paths": ["/files/"]}, "/files/./x", False, id="dot seg"),
    pytest.param({"public_paths": ["/files/"]}, "/files/..", False, id="ends dotdot"),
    pytest.param({"public_paths": ["/files/"]}, "/filesx/a", False, id="sibling"),
    pytest.param(
        {"public_paths": ["/files/shared docs/"]},
        "/files/shared docs/report",
        True,
        id="decoded space",
    ),
    pytest.param(
        {"public_paths": ["/files/shared docs/"]},
        "/files/shared+docs/report",
        False,
        id="plus is not space",
    ),
    pytest.param(
        {"public_paths": ["/dokumente/größe"]},
        "/dokumente/größe".encode().decode("latin-1"),
        True,
        id="non-ASCII as WSGI decodes it",
    ),
    pytest.param({"public_paths": []}, "/metadata", False, id="none configured"),
]


@pytest.mark.parametrize(("settings", "path", "public"), PUBLIC_PATH_CASES)
def test_public_path_matching(
    settings: dict[str, Any], path: str, public: bool
) -> None:
    policy = CORSPolicy(**{**MAIN, **settings})
    environ = make_environ("GET", "/", [("Origin", "https://evil.example.net")])
    environ["PATH_INFO"] = path

    result = call_wsgi(CORSMiddleware(RecordingApp(), policy), environ)

    expected = ["*"] if public else []
    assert result.values("Access-Control-Allow-Origin") == expected
    assert result.values("Access-Control-Allow-Credentials") == []


def test_public_path_relative_to_mount() -> None:
    policy = CORSPolicy(**MAIN)
    environ = make_environ("GET", "/", [("Origin", "https://evil.example.net")])
    environ["SCRIPT_NAME"] = "/fhir"
    environ["PATH_INFO"] = "/metadata"

    result = call_wsgi(CORSMiddleware(RecordingApp(), policy), environ)

    assert result.values("Access-Control-Allow-Origin") == ["*"]


def test_public_path_preflight_get_only() -> None:
    policy = CORSPolicy(**MAIN)
    middleware = CORSMiddleware(RecordingApp(), policy)
    origin = [("Origin", "https://evil.example.net")]

    get = make_environ(
        "OPTIONS",
        "/metadata",
        [
            *origin,
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
    )
    put = make_environ(
        "OPTIONS", "/metadata", [*origin, ("Access-Control-Request-Method", "PUT")]
    )

    allowed = call_wsgi(middleware, get)
    refused = call_wsgi(middleware, put)
    assert allowed.status_code == 204
    assert allowed.values("Access-Control-Allow-Origin") == ["*"]
    assert allowed.values("Access-Control-Allow-Methods") == ["GET, HEAD"]
    assert allowed.values("Access-Control-Allow-Credentials") == []
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("credentials", "vary"),
    [pytest.param(False, [], id="static"), pytest.param(True, ["Origin"], id="vary")],
)
def test_public_path_without_origin(credentials: bool, vary: list[str]) -> None:
    policy = CORSPolicy(**{**MAIN, "allow_credentials": credentials})
    environ = make_environ("GET", "/metadata")

    result = call_wsgi(CORSMiddleware(RecordingApp(), policy), environ)

    assert result.values("Access-Control-Allow-Origin") == ["*"]
    assert result.values("Vary") == vary


def test_public_path_keeps_credentials_for_listed() -> None:
    policy = CORSPolicy(**MAIN)
    origin = [("Origin", "https://app.example.com")]
    middleware = CORSMiddleware(RecordingApp(), policy)

    actual = call_wsgi(middleware, make_environ("GET", "/metadata", origin))
    preflight = call_wsgi(
        middleware,
        make_environ(
            "OPTIONS",
            "/metadata",
            [
                *origin,
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "authorization"),
            ],
        ),
    )

    for result in (actual, preflight):
        assert result.values("Access-Control-Allow-Origin") == [
            "https://app.example.com"
        ]
        assert result.values("Access-Control-Allow-Credentials") == ["true"]
        assert "Origin" in result.tokens("Vary")
    assert preflight.values("Access-Control-Allow-Methods") == ["GET, HEAD"]


def test_public_path_other_origin_varies() -> None:
    policy = CORSPolicy(**MAIN)
    environ = make_environ("GET", "/metadata", [("Origin", "https://other.example")])

    result = call_wsgi(CORSMiddleware(RecordingApp(), policy), environ)

    assert result.values("Access-Control-Allow-Origin") == ["*"]
    assert result.values("Access-Control-Allow-Credentials") == []
    assert result.values("Vary") == ["Origin"]


def test_main_policy_still_applies_elsewhere() -> None:
    policy = CORSPolicy(**MAIN)
    environ = make_environ("GET", "/Patient", [("Origin", "https://app.example.com")])

    result = call_wsgi(CORSMiddleware(RecordingApp(), policy), environ)

    assert result.values("Access-Control-Allow-Origin") == ["https://app.example.com"]
    assert result.values("Access-Control-Allow-Credentials") == ["true"]


CREDENTIAL_SAFETY = [
    pytest.param("http://localhost:3000", None, id="localhost"),
    pytest.param("http://app.localhost", None, id="localhost subdomain"),
    pytest.param("http://127.0.0.1:8080", None, id="IPv4 loopback"),
    pytest.param("http://127.1.2.3", None, id="other 127 address"),
    pytest.param("http://[::1]", None, id="IPv6 loopback"),
    pytest.param("http://[::ffff:7f00:1]", None, id="IPv4-mapped loopback"),
    pytest.param(
        "http://portal.example.com", "origin-insecure-with-credentials", id="http"
    ),
    pytest.param(
        "http://10.0.0.8", "origin-insecure-with-credentials", id="private address"
    ),
    pytest.param(
        "http://*.example.com",
        "origin-insecure-with-credentials",
        id="http pattern",
    ),
    pytest.param("https://*.co.uk", "origin-pattern-public-suffix", id="co.uk"),
    pytest.param(
        "https://*.herokuapp.com", "origin-pattern-public-suffix", id="herokuapp"
    ),
    pytest.param("https://*.apps.example.com", None, id="own domain pattern"),
]


@pytest.mark.parametrize(("origin", "code"), CREDENTIAL_SAFETY)
def test_credentialed_origin_safety(origin: str, code: str | None) -> None:
    settings = {"origins": [origin], "allow_credentials": True}

    if code is None:
        assert CORSPolicy(**settings).origins == (origin,)
        return

    with pytest.raises(PolicyError) as caught:
        CORSPolicy(**settings)
    assert caught.value.codes == [code]


def test_http_allowed_without_credentials() -> None:
    policy = CORSPolicy(origins="http://portal.example.com")

    assert policy.origins == ("http://portal.example.com",)


def test_opt_out_names_itself_in_message() -> None:
    with pytest.raises(PolicyError) as caught:
        CORSPolicy(origins="http://portal.example.com", allow_credentials=True)

    assert "unsafe_allow_http_origins=True" in caught.value.problems[0].message


IPV6_FORMS = [
    pytest.param("::1", "::1", id="loopback"),
    pytest.param("::ffff:127.0.0.1", "::ffff:7f00:1", id="IPv4-mapped in hex"),
    pytest.param("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", id="first longest run"),
    pytest.param("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7", id="single zero kept"),
    pytest.param("0:0:0:0:0:0:0:0", "::", id="all zero"),
]


@pytest.mark.parametrize(("written", "serialized"), IPV6_FORMS)
def test_ipv6_serialized_as_browsers(written: str, serialized: str) -> None:
    assert serialize_ipv6(ipaddress.IPv6Address(written)) == serialized
