"""What a real browser does with the responses of a FhirCORS-wrapped app.

In each row, the page at ``http://127.0.0.1:PAGE_PORT`` calls fetch() on the
API at ``http://localhost:API_PORT``, which runs the row's policy. The test
checks whether fetch() resolved or rejected with a TypeError, the status, and
which response headers the page can read. The server's counts add whether a
preflight was sent and whether the route ran.

Chromium keys its preflight cache on the page's origin and the request URL,
so each row calls its own URL (``?case=<row slug>``) and no cached preflight
leaks between rows. The expected values follow the Fetch standard's CORS
checks and Chromium's preflight cache (services/network/cors/preflight_cache.cc
and services/network/public/cpp/cors/preflight_result.cc in the Chromium
source), which keeps an entry for 5 s when the response has no
Access-Control-Max-Age.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import TYPE_CHECKING, Any

import pytest

from flask_fhir_cors import PolicyError

from . import chromium, harness
from .api_app import SECRET_VALUE, create_app

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

PAGE_ORIGIN = harness.PAGE_ORIGIN
UNLISTED_ORIGIN = "https://app.example.com"

# Chromium's kDefaultTimeout for a preflight without Access-Control-Max-Age.
DEFAULT_PREFLIGHT_CACHE_MS = 5000

LOCATION = "/Patient/1/_history/1"
HEADER_NAMES = ["Location", "Content-Location", "ETag", "X-Secret"]
EXPOSED = {
    "Location": LOCATION,
    "Content-Location": LOCATION,
    "ETag": 'W/"1"',
    "X-Secret": None,
}
HIDDEN = dict.fromkeys(HEADER_NAMES)
SECRET_HIDDEN: dict[str, str | None] = {"X-Secret": None}

FHIR_JSON = {"Content-Type": "application/fhir+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
BEARER = {"Authorization": "Bearer test-token"}
UNLISTED_HEADER = {"X-Unlisted": "1"}
PATIENT_BODY = '{"resourceType": "Patient", "id": "1"}'
PATIENT_JSON = '"resourceType":"Patient"'
PATCH_BODY = '[{"op": "replace", "path": "/active", "value": true}]'


@dataclasses.dataclass(frozen=True)
class Policy:
    """``FHIR_CORS_*`` settings keyed without the prefix, and a log file name."""

    name: str
    settings: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Call:
    """One fetch() call from the page, made ``repeat`` times in a row."""

    method: str = "GET"
    path: str = "/Patient/1"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    credentials: str = "same-origin"
    body: str | None = None
    repeat: int = 1


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What the page and the API server are expected to show after the call.

    ``headers`` maps a header name to the value the page reads, or None when
    CORS hides it. ``options_statuses`` lists the status of each OPTIONS
    request the server received for the row's URL, and ``route_runs`` counts
    how often the route ran. None skips that check.
    """

    resolved: bool
    status: int | None = None
    headers: dict[str, str | None] = dataclasses.field(default_factory=dict)
    body_contains: str = ""
    options_statuses: tuple[int, ...] | None = None
    route_runs: int | None = None


@dataclasses.dataclass(frozen=True)
class Row:
    """One behaviour: a policy, a call and the outcome.

    A row without an outcome expects building the app to raise PolicyError
    with the problem code ``policy_error``, and makes no call.
    """

    name: str
    policy: Policy
    call: Call
    outcome: Outcome | None
    policy_error: str | None = None

    @property
    def slug(self) -> str:
        """The row name in lowercase, with other characters replaced by ``-``."""
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


LISTED = Policy("listed", {"ORIGINS": [PAGE_ORIGIN]})
OTHER_ORIGIN = Policy("other-origin", {"ORIGINS": [UNLISTED_ORIGIN]})
ANY_ORIGIN = Policy("any-origin", {"ORIGINS": "*"})
ANY_ORIGIN_CREDENTIALS = Policy(
    "any-origin-credentials", {"ORIGINS": "*", "ALLOW_CREDENTIALS": True}
)
ANY_HEADERS = Policy("any-headers", {"ORIGINS": [PAGE_ORIGIN], "HEADERS": "*"})
ANY_METHODS = Policy("any-methods", {"ORIGINS": [PAGE_ORIGIN], "METHODS": "*"})
# Lists no DELETE, which the "method not allowed" row relies on.
LOWERCASE_PATCH = Policy(
    "lowercase-patch",
    {"ORIGINS": [PAGE_ORIGIN], "METHODS": ["GET", "POST", "PUT", "patch"]},
)
CREDENTIALS = Policy(
    "credentials", {"ORIGINS": [PAGE_ORIGIN], "ALLOW_CREDENTIALS": True}
)
NO_EXPOSE = Policy("no-expose", {"ORIGINS": [PAGE_ORIGIN], "EXPOSE_HEADERS": []})
MAX_AGE_600 = Policy("max-age-600", {"ORIGINS": [PAGE_ORIGIN], "MAX_AGE": 600})
MAX_AGE_0 = Policy("max-age-0", {"ORIGINS": [PAGE_ORIGIN], "MAX_AGE": 0})

PUT_FHIR = Call("PUT", headers={**FHIR_JSON, **BEARER}, body=PATIENT_BODY)
PUT_FHIR_TWICE = dataclasses.replace(PUT_FHIR, repeat=2)
PUT_UNLISTED_HEADER = Call("PUT", headers={**FHIR_JSON, **BEARER, **UNLISTED_HEADER})
PUT_WITH_CREDENTIALS = dataclasses.replace(PUT_FHIR, credentials="include")
POST_FHIR = Call("POST", headers=FHIR_JSON, body=PATIENT_BODY)
LOWERCASE_PATCH_CALL = Call("patch", headers=JSON_PATCH, body=PATCH_BODY)

NO_PREFLIGHT: tuple[int, ...] = ()
PREFLIGHT_ALLOWED = (204,)
PREFLIGHT_REJECTED = (403,)

ROWS = [
    Row(
        "simple GET, listed origin",
        LISTED,
        Call(),
        Outcome(True, 200, EXPOSED, PATIENT_JSON, NO_PREFLIGHT, route_runs=1),
    ),
    Row(
        "simple GET, origin not listed",
        OTHER_ORIGIN,
        Call(),
        Outcome(False, options_statuses=NO_PREFLIGHT, route_runs=1),
    ),
    Row(
        "simple GET, any origin",
        ANY_ORIGIN,
        Call(),
        Outcome(True, 200, EXPOSED, PATIENT_JSON, NO_PREFLIGHT, route_runs=1),
    ),
    Row(
        "any origin, credentials rejected",
        ANY_ORIGIN_CREDENTIALS,
        Call(),
        None,
        policy_error="credentials-wildcard-origin",
    ),
    Row(
        "preflight, FHIR JSON and Authorization",
        LISTED,
        PUT_FHIR,
        Outcome(True, 200, EXPOSED, PATIENT_JSON, PREFLIGHT_ALLOWED, route_runs=1),
    ),
    Row(
        "preflight, header not allowed",
        LISTED,
        PUT_UNLISTED_HEADER,
        Outcome(False, options_statuses=PREFLIGHT_REJECTED, route_runs=0),
    ),
    Row(
        "preflight, method not allowed",
        LOWERCASE_PATCH,
        Call("DELETE"),
        Outcome(False, options_statuses=PREFLIGHT_REJECTED, route_runs=0),
    ),
    Row(
        "preflight, any header allows Authorization",
        ANY_HEADERS,
        PUT_UNLISTED_HEADER,
        Outcome(True, 200, EXPOSED, "", PREFLIGHT_ALLOWED, route_runs=1),
    ),
    Row(
        "preflight, any method allows DELETE",
        ANY_METHODS,
        Call("DELETE", headers=BEARER),
        Outcome(True, 204, EXPOSED, "", PREFLIGHT_ALLOWED, route_runs=1),
    ),
    Row(
        "lowercase patch, only PATCH listed",
        LISTED,
        LOWERCASE_PATCH_CALL,
        Outcome(False, options_statuses=PREFLIGHT_REJECTED, route_runs=0),
    ),
    Row(
        "lowercase patch, patch listed",
        LOWERCASE_PATCH,
        LOWERCASE_PATCH_CALL,
        Outcome(True, 200, EXPOSED, PATIENT_JSON, PREFLIGHT_ALLOWED, route_runs=1),
    ),
    Row(
        "credentials, allowed with flag",
        CREDENTIALS,
        Call(credentials="include"),
        Outcome(True, 200, EXPOSED, PATIENT_JSON, NO_PREFLIGHT, route_runs=1),
    ),
    Row(
        "credentials preflight, allowed with flag",
        CREDENTIALS,
        PUT_WITH_CREDENTIALS,
        Outcome(True, 200, EXPOSED, PATIENT_JSON, PREFLIGHT_ALLOWED, route_runs=1),
    ),
    Row(
        "credentials, blocked without flag",
        LISTED,
        Call(credentials="include"),
        Outcome(False, options_statuses=NO_PREFLIGHT, route_runs=1),
    ),
    Row(
        # The server allows the preflight, but the browser rejects it because
        # it has no Access-Control-Allow-Credentials, so the PUT is never sent.
        "credentials preflight, blocked without flag",
        LISTED,
        PUT_WITH_CREDENTIALS,
        Outcome(False, options_statuses=PREFLIGHT_ALLOWED, route_runs=0),
    ),
    Row(
        "exposed headers, after POST",
        LISTED,
        POST_FHIR,
        Outcome(True, 201, EXPOSED, PATIENT_JSON, PREFLIGHT_ALLOWED, route_runs=1),
    ),
    Row(
        "empty expose list, after POST",
        NO_EXPOSE,
        POST_FHIR,
        Outcome(True, 201, HIDDEN, PATIENT_JSON, PREFLIGHT_ALLOWED, route_runs=1),
    ),
    Row(
        "empty expose list, after PUT",
        NO_EXPOSE,
        PUT_FHIR,
        Outcome(True, 200, HIDDEN, PATIENT_JSON, PREFLIGHT_ALLOWED, route_runs=1),
    ),
    Row(
        "not found, readable",
        LISTED,
        Call(path="/Unknown/1"),
        Outcome(True, 404, SECRET_HIDDEN, "Not Found", NO_PREFLIGHT, route_runs=0),
    ),
    Row(
        "server error, readable",
        LISTED,
        Call(path="/boom"),
        Outcome(
            True,
            500,
            SECRET_HIDDEN,
            "Internal Server Error",
            NO_PREFLIGHT,
            route_runs=1,
        ),
    ),
    Row(
        "max age 600, preflight cached",
        MAX_AGE_600,
        PUT_FHIR_TWICE,
        Outcome(True, 200, EXPOSED, PATIENT_JSON, PREFLIGHT_ALLOWED, route_runs=2),
    ),
    Row(
        "max age 0, preflight repeated",
        MAX_AGE_0,
        PUT_FHIR_TWICE,
        Outcome(True, 200, EXPOSED, PATIENT_JSON, (204, 204), route_runs=2),
    ),
    Row(
        "max age unset, cached 5 s",
        LISTED,
        PUT_FHIR_TWICE,
        Outcome(True, 200, EXPOSED, PATIENT_JSON, PREFLIGHT_ALLOWED, route_runs=2),
    ),
    Row(
        "rejected preflight, route not run",
        OTHER_ORIGIN,
        PUT_FHIR,
        Outcome(False, options_statuses=PREFLIGHT_REJECTED, route_runs=0),
    ),
    Row(
        "public metadata, origin not listed",
        OTHER_ORIGIN,
        Call(path="/metadata"),
        Outcome(True, 200, {}, "CapabilityStatement", NO_PREFLIGHT, route_runs=1),
    ),
    Row(
        "public metadata, listed origin with credentials",
        CREDENTIALS,
        Call(path="/metadata", credentials="include"),
        Outcome(True, 200, {}, "CapabilityStatement", NO_PREFLIGHT, route_runs=1),
    ),
    Row(
        "data path, same origin not listed",
        OTHER_ORIGIN,
        Call(path="/Patient/1"),
        Outcome(False, route_runs=1),
    ),
]


def test_row_slugs_unique() -> None:
    slugs = [row.slug for row in ROWS]
    assert len(set(slugs)) == len(slugs)


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_cors_in_browser(
    row: Row, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if row.outcome is None:
        check_policy_rejected(row, monkeypatch)
        return

    browser: Chrome = request.getfixturevalue("browser")
    api_servers: harness.ApiServers = request.getfixturevalue("api_servers")
    server = api_servers.get(row.policy.name, row.policy.settings)

    target = f"{row.call.path}?case={row.slug}"
    results = call_from_page(browser, server, target, row.call)

    for result in results:
        check_page_result(result, row.outcome, server)

    check_calls_within_cache_time(results)
    check_counts(server, target, row.outcome)


def check_policy_rejected(row: Row, monkeypatch: pytest.MonkeyPatch) -> None:
    """Assert that the app factory rejects the row's policy with its problem code.

    The app is built in this process from the same environment variables that
    the API servers read.
    """
    for name in os.environ:
        if name.startswith("FLASK_"):
            monkeypatch.delenv(name)

    for name, value in harness.policy_variables(row.policy.settings).items():
        monkeypatch.setenv(name, value)

    with pytest.raises(PolicyError) as error:
        create_app()

    assert error.value.codes == [row.policy_error]


def call_from_page(
    browser: Chrome, server: harness.Server, target: str, call: Call
) -> list[chromium.FetchResult]:
    """Run the call with fetch() in the page against the API on localhost."""
    url = f"http://localhost:{server.port}{target}"
    init = {
        "method": call.method,
        "headers": call.headers,
        "credentials": call.credentials,
        "cache": "default",
        "body": call.body,
    }
    return chromium.run_fetch(browser, url, init, HEADER_NAMES, call.repeat)


def check_page_result(
    result: chromium.FetchResult, outcome: Outcome, server: harness.Server
) -> None:
    """Assert what the page saw: resolved or TypeError, status, headers, body."""
    context = f"fetch error: {result.error}; API log: {server.log_path}"
    assert result.resolved is outcome.resolved, context

    if not outcome.resolved:
        assert result.error is not None
        assert result.error.startswith("TypeError"), result.error
        return

    assert result.status == outcome.status, context
    for name, value in outcome.headers.items():
        assert result.headers[name] == value, f"readable value of {name}"

    assert result.body is not None
    assert outcome.body_contains in result.body
    assert SECRET_VALUE not in result.headers.values()


def check_calls_within_cache_time(results: list[chromium.FetchResult]) -> None:
    """Assert that repeated calls started inside the default preflight cache time."""
    elapsed_ms = results[-1].started_ms - results[0].started_ms
    assert elapsed_ms < DEFAULT_PREFLIGHT_CACHE_MS, f"calls took {elapsed_ms} ms"


def check_counts(server: harness.Server, target: str, outcome: Outcome) -> None:
    """Assert which OPTIONS requests reached the server and how often the route ran."""
    counts = harness.read_counts(server)
    options_statuses = tuple(counts["options"].get(target, []))
    route_runs = counts["routes"].get(target, 0)

    if outcome.options_statuses is not None:
        assert options_statuses == outcome.options_statuses, f"OPTIONS for {target}"
    if outcome.route_runs is not None:
        assert route_runs == outcome.route_runs, f"route runs for {target}"
