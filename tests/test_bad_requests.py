"""Oversized and malformed CORS request headers get a fast response and no grant.

Each value is set in the WSGI environ as a server would pass it (header
bytes decoded as latin-1, repeated lines joined with ", "). The time bound is
generous on purpose: it catches parsing that grows faster than the input,
not a slow machine.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from typing import Any

import pytest

from flask_fhir_cors import CORSMiddleware, CORSPolicy
from tests.support import RecordingApp, Result, call_wsgi, make_environ

ALLOWED = "https://app.example.com"
MAX_SECONDS = 0.5

# Memory the middleware may keep after many distinct bad preflights. Keeping
# each request's values would retain PREFLIGHT_COUNT times HEADER_SIZE, 20 MB.
MAX_RETAINED_BYTES = 2_000_000
PREFLIGHT_COUNT = 300
# Flask's development server (http.server) accepts header lines up to 64 KiB,
# and waitress accepts 256 KiB of headers by default.
HEADER_SIZE = 65_000

LISTED = CORSPolicy(
    origins=[ALLOWED, "https://*.example.com"],
    methods=["GET", "POST", "PUT"],
    headers=["Authorization", "Content-Type"],
    max_age=600,
)
WILDCARD_HEADERS = CORSPolicy(origins=[ALLOWED], methods="*", headers="*")
ANY_ORIGIN = CORSPolicy(origins="*", headers=["Authorization", "Content-Type"])

GRANT_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Max-Age",
)


def latin1(text: str) -> str:
    """Return ``text``'s UTF-8 bytes as a WSGI server puts them in the environ."""
    return text.encode("utf-8").decode("latin-1")


BAD_ORIGINS = [
    pytest.param(ALLOWED + "a" * 100_000, id="100 KB after an allowed origin"),
    pytest.param("https://" + "a." * 50_000 + "example.com", id="100 KB of subdomains"),
    pytest.param("https://" + "a" * 100_000 + ".example.com", id="100 KB label"),
    pytest.param(latin1(ALLOWED + "é"), id="non-ASCII after an allowed origin"),
    pytest.param(latin1("https://bücher.example.com"), id="UTF-8 host as latin-1"),
    pytest.param("https://app.ex\xe4mple.com", id="latin-1 byte in host"),
    pytest.param(ALLOWED + "\x00", id="NUL after an allowed origin"),
    pytest.param("\x00" * 100_000, id="100 KB of NUL"),
    pytest.param(ALLOWED + "\r\nSet-Cookie: session=1", id="CR LF and a header"),
    pytest.param(ALLOWED + "," * 100_000, id="a hundred thousand commas"),
    pytest.param(", ".join([ALLOWED] * 10_000), id="10,000 Origin lines joined"),
    pytest.param(ALLOWED + ", https://evil.example.net", id="two Origin lines joined"),
]

BAD_REQUEST_HEADERS = [
    pytest.param("," * 100_000, id="a hundred thousand commas"),
    pytest.param(
        ",".join(f"x-header-{index}" for index in range(10_000)), id="10,000 names"
    ),
    pytest.param(", ".join(["content-type"] * 10_000), id="10,000 lines joined"),
    pytest.param("content-type, \xff\xfe", id="invalid bytes"),
    pytest.param("content-type\x00", id="NUL after a name"),
    pytest.param(latin1("x-ünicode"), id="UTF-8 name as latin-1"),
    pytest.param("authorization\r\nX-Injected: 1", id="CR LF and a header"),
    pytest.param("content-type" + " " * 1_000_000 + "x", id="1 MB of spaces in a name"),
    pytest.param("a" * 1_000_000, id="one 1 MB name"),
]


def preflight_environ(origin: str, request_headers: str | None = None) -> dict:
    environ = make_environ("OPTIONS", "/Patient/1")
    environ["HTTP_ORIGIN"] = origin
    environ["HTTP_ACCESS_CONTROL_REQUEST_METHOD"] = "PUT"
    if request_headers is not None:
        environ["HTTP_ACCESS_CONTROL_REQUEST_HEADERS"] = request_headers
    return environ


def actual_environ(origin: str) -> dict:
    environ = make_environ("GET", "/Patient/1")
    environ["HTTP_ORIGIN"] = origin
    return environ


def timed_call(policy: CORSPolicy, environ: dict[str, Any]) -> tuple[Result, float]:
    """Return the middleware's response and its fastest time over three calls."""
    fastest = float("inf")
    for _ in range(3):
        middleware = CORSMiddleware(RecordingApp(), policy)
        start = time.perf_counter()
        result = call_wsgi(middleware, dict(environ))
        fastest = min(fastest, time.perf_counter() - start)
    return result, fastest


def reflected_part(result: Result, bad_input: str) -> str | None:
    """Return a header piece longer than ALLOWED that also occurs in the bad input."""
    window = len(ALLOWED) + 1
    for name, value in result.headers:
        for start in range(max(len(value) - window + 1, 0)):
            piece = value[start : start + window]
            if piece in bad_input:
                return f"{name}: {piece!r}"
    return None


def granted(result: Result) -> list[str]:
    return [name for name in GRANT_HEADERS if result.get(name) is not None]


@pytest.mark.parametrize("origin", BAD_ORIGINS)
@pytest.mark.parametrize(
    "policy", [LISTED, WILDCARD_HEADERS], ids=["listed", "wildcards"]
)
def test_bad_origin_preflight(policy: CORSPolicy, origin: str) -> None:
    result, seconds = timed_call(policy, preflight_environ(origin, "content-type"))

    assert seconds < MAX_SECONDS, f"took {seconds:.3f} s"
    assert result.status_code == 403
    assert granted(result) == []
    assert reflected_part(result, origin) is None


@pytest.mark.parametrize("origin", BAD_ORIGINS)
@pytest.mark.parametrize(
    "policy", [LISTED, WILDCARD_HEADERS], ids=["listed", "wildcards"]
)
def test_bad_origin_actual(policy: CORSPolicy, origin: str) -> None:
    result, seconds = timed_call(policy, actual_environ(origin))

    assert seconds < MAX_SECONDS, f"took {seconds:.3f} s"
    assert result.status_code == 200
    assert granted(result) == []
    assert "Origin" in result.tokens("Vary")
    assert reflected_part(result, origin) is None


@pytest.mark.parametrize("origin", BAD_ORIGINS)
def test_bad_origin_any_origin(origin: str) -> None:
    result, seconds = timed_call(ANY_ORIGIN, actual_environ(origin))

    assert seconds < MAX_SECONDS, f"took {seconds:.3f} s"
    assert result.get("Access-Control-Allow-Origin") == "*"
    assert reflected_part(result, origin) is None


@pytest.mark.parametrize("value", BAD_REQUEST_HEADERS)
@pytest.mark.parametrize(
    "policy", [LISTED, WILDCARD_HEADERS], ids=["listed", "wildcards"]
)
def test_bad_request_headers(policy: CORSPolicy, value: str) -> None:
    result, seconds = timed_call(policy, preflight_environ(ALLOWED, value))

    assert seconds < MAX_SECONDS, f"took {seconds:.3f} s"
    assert result.status_code == 403
    assert granted(result) == []
    assert reflected_part(result, value) is None


@pytest.mark.parametrize(
    "policy", [LISTED, WILDCARD_HEADERS], ids=["listed", "wildcards"]
)
def test_huge_blank_request_headers(policy: CORSPolicy) -> None:
    # 1 MB of spaces is over the length limit, like any other huge value.
    value = " " * 1_000_000

    result, seconds = timed_call(policy, preflight_environ(ALLOWED, value))

    assert seconds < MAX_SECONDS, f"took {seconds:.3f} s"
    assert result.status_code == 403
    assert granted(result) == []


@pytest.mark.parametrize(
    "policy", [LISTED, WILDCARD_HEADERS], ids=["listed", "wildcards"]
)
def test_short_blank_request_headers(policy: CORSPolicy) -> None:
    result, _ = timed_call(policy, preflight_environ(ALLOWED, " \t , "))

    assert result.status_code == 204
    assert result.get("Access-Control-Allow-Origin") == ALLOWED


@pytest.mark.parametrize(
    "method",
    [
        pytest.param("A" * 100_000, id="100 KB method name"),
        pytest.param("PUT\r\nX-Injected: 1", id="CR LF and a header"),
        pytest.param("P\x00T", id="NUL in the name"),
        pytest.param(latin1("PÜT"), id="UTF-8 name as latin-1"),
    ],
)
def test_bad_request_method(method: str) -> None:
    environ = preflight_environ(ALLOWED)
    environ["HTTP_ACCESS_CONTROL_REQUEST_METHOD"] = method

    result, seconds = timed_call(LISTED, environ)

    assert seconds < MAX_SECONDS, f"took {seconds:.3f} s"
    assert result.status_code == 403
    assert granted(result) == []
    assert reflected_part(result, method) is None


def retained_bytes(policy: CORSPolicy, make_environ_for: Any) -> int:
    """Return the memory still allocated after PREFLIGHT_COUNT bad preflights.

    Each environ is built while memory is traced, so values that the
    middleware keeps count against it.
    """
    middleware = CORSMiddleware(RecordingApp(), policy)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(PREFLIGHT_COUNT):
            call_wsgi(middleware, make_environ_for(index))
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def long_headers_preflight(index: int) -> dict[str, Any]:
    return preflight_environ(ALLOWED, f"x-{index}," + "a" * HEADER_SIZE)


def long_origin_preflight(index: int) -> dict[str, Any]:
    return preflight_environ(f"https://{index}.evil.example.net/" + "a" * HEADER_SIZE)


def long_method_preflight(index: int) -> dict[str, Any]:
    environ = preflight_environ(ALLOWED)
    environ["HTTP_ACCESS_CONTROL_REQUEST_METHOD"] = f"X{index}" + "A" * HEADER_SIZE
    return environ


@pytest.mark.parametrize(
    "make_environ_for",
    [
        pytest.param(long_headers_preflight, id="long request headers"),
        pytest.param(long_method_preflight, id="long request method"),
        pytest.param(long_origin_preflight, id="long disallowed origin"),
    ],
)
def test_bad_preflights_not_retained(make_environ_for: Any) -> None:
    retained = retained_bytes(LISTED, make_environ_for)

    assert retained < MAX_RETAINED_BYTES, f"{retained / 1e6:.1f} MB retained"
