"""Cases rebuilt from CORS faults that shipped in other libraries.

The data file lists, for each case, a policy in neutral names, a request and
the checks a correct server passes. Each case is one kind of fault: the
other tables in this suite test more values of the same kinds.
"""

from __future__ import annotations

import json
import logging
import pathlib
import time
from typing import Any

import pytest

from flask_fhir_cors import CORSMiddleware, CORSPolicy, PolicyError
from tests.support import RecordingApp, Result, call_wsgi, make_environ

CASES = json.loads(
    (pathlib.Path(__file__).parent / "data" / "peer_bugs.json").read_text("utf-8")
)

# Allow-Methods compares case-sensitively; the other lists do not.
CASE_SENSITIVE_LISTS = {"access-control-allow-methods"}


def build_policy(neutral: dict[str, Any]) -> CORSPolicy:
    """Map the neutral policy names of a case onto CORSPolicy settings."""
    if "resources" in neutral:
        return _build_resource_policy(neutral)

    settings: dict[str, Any] = {
        "origins": neutral["origins"],
        "methods": neutral["methods"],
        "headers": neutral["headers"],
        "allow_credentials": neutral["credentials"],
        "max_age": neutral["max_age"],
        "expose_headers": neutral["expose"],
        "allow_private_network": neutral["private_network"],
    }
    return CORSPolicy(**settings)


def _build_resource_policy(neutral: dict[str, Any]) -> CORSPolicy:
    # Per-path policies map onto public paths: each resource must be an
    # any-origin, read-only policy, and paths outside them get no grant.
    assert neutral["default"] is None
    paths = []
    for resource in neutral["resources"]:
        assert resource["policy"]["origins"] == ["*"]
        assert not resource["policy"]["credentials"]
        paths.append(resource["path_prefix"])
    return CORSPolicy(origins=(), public_paths=paths)


def build_request(request: dict[str, Any]) -> dict[str, Any]:
    headers = []
    for name, value in request["headers"]:
        if isinstance(value, dict):
            value = value["repeat"] * value["times"]
        headers.append((name, value))
    return make_environ(
        request["method"], request["path"], headers, request.get("environ")
    )


def build_app(request: dict[str, Any]) -> RecordingApp:
    response = request.get("app")
    if response is None:
        return RecordingApp()
    headers = [(name, value) for name, value in response["headers"]]
    return RecordingApp(status=response["status"], headers=headers)


def tokens_cover(result: Result, header: str, token: str, credentials: bool) -> bool:
    items = result.tokens(header)
    if header.lower() in CASE_SENSITIVE_LISTS:
        present = token in items
    else:
        present = token.lower() in {item.lower() for item in items}
    wildcard = "*" in items and not credentials and token.lower() != "authorization"
    return present or wildcard


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_peer_case(case: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    expected = case["expected"]
    try:
        policy = build_policy(case["policy"])
    except PolicyError:
        assert expected.get("construction_error") == "allowed"
        return

    app = build_app(case["request"])
    environ = build_request(case["request"])
    caplog.set_level(logging.DEBUG, logger="flask_fhir_cors")

    started = time.perf_counter()
    result = call_wsgi(CORSMiddleware(app, policy), environ)
    elapsed = time.perf_counter() - started

    check_expectations(case, result, app, elapsed, caplog)


def check_expectations(
    case: dict[str, Any],
    result: Result,
    app: RecordingApp,
    elapsed: float,
    caplog: pytest.LogCaptureFixture,
) -> None:
    expected = case["expected"]
    credentials = bool(case["policy"].get("credentials"))

    if expected.get("app_called") is not None:
        assert (app.calls == 1) is expected["app_called"]
    if "status_class" in expected:
        classes = expected["status_class"]
        classes = classes if isinstance(classes, list) else [classes]
        assert result.status_code // 100 in classes

    for name, value in expected.get("headers", {}).items():
        assert result.values(name) == [value], name
    for name in expected.get("absent", []):
        assert result.values(name) == [], name
    for name, count in expected.get("max_count", {}).items():
        assert len(result.values(name)) <= count, name
    for name, value in expected.get("not_equal", {}).items():
        assert result.get(name) != value, name

    for name, tokens in expected.get("tokens_include", {}).items():
        for token in tokens:
            assert tokens_cover(result, name, token, credentials), (name, token)
    for name, tokens in expected.get("tokens_exclude", {}).items():
        for token in tokens:
            assert not tokens_cover(result, name, token, credentials), (name, token)

    vary = {token.lower() for token in result.tokens("Vary")}
    for token in expected.get("vary_contains", []):
        assert token.lower() in vary, token

    check_safety(expected, result, elapsed, caplog)


def check_safety(
    expected: dict[str, Any],
    result: Result,
    elapsed: float,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if expected.get("no_ctl_in_header_values"):
        for name, value in result.headers:
            assert not set(value) & {"\r", "\n", "\0"}, name
    if "max_seconds" in expected:
        assert elapsed <= expected["max_seconds"]
    if "max_header_len" in expected:
        for name, value in result.headers:
            assert len(value) <= expected["max_header_len"], name
    if expected.get("log_no_raw_crlf"):
        for record in caplog.records:
            message = record.getMessage()
            assert "\r" not in message
            assert "\n" not in message
