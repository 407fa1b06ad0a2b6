"""The demo FHIR server under a real gunicorn, spoken to over HTTP."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from tests.servers import gunicorn

CLIENT_ORIGIN = "http://127.0.0.1:8001"
EVIL_ORIGIN = "https://evil.example"
BEARER = {"Authorization": "Bearer demo-token"}


@pytest.fixture(scope="module")
def demo_port() -> Iterator[int]:
    environment = {"DEMO_CLIENT_ORIGIN": CLIENT_ORIGIN}
    with gunicorn("examples.fhir_server:app", environment) as port:
        yield port


def send(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body or None, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def preflight_headers(origin: str, method: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type",
    }


def test_preflight_allowed_for_client(demo_port: int) -> None:
    response = send(
        demo_port, "OPTIONS", "/Patient", preflight_headers(CLIENT_ORIGIN, "POST")
    )

    assert response.status == 204
    assert response.getheader("Access-Control-Allow-Origin") == CLIENT_ORIGIN
    assert "Authorization" in response.getheader("Access-Control-Allow-Headers", "")
    assert "Origin" in response.getheader("Vary", "")


def test_preflight_refused_for_other(demo_port: int) -> None:
    response = send(
        demo_port, "OPTIONS", "/Patient", preflight_headers(EVIL_ORIGIN, "POST")
    )

    assert response.status == 403
    assert response.getheader("Access-Control-Allow-Origin") is None


def test_create_exposes_location_and_etag(demo_port: int) -> None:
    body = json.dumps({"resourceType": "Patient", "name": [{"family": "Test"}]})
    headers = {
        **BEARER,
        "Origin": CLIENT_ORIGIN,
        "Content-Type": "application/fhir+json",
    }

    response = send(demo_port, "POST", "/Patient", headers, body.encode())

    assert response.status == 201
    assert response.getheader("Access-Control-Allow-Origin") == CLIENT_ORIGIN
    exposed = response.getheader("Access-Control-Expose-Headers", "")
    assert "Location" in exposed
    assert "ETag" in exposed
    assert response.getheader("Location", "").startswith("/Patient/")


def test_error_from_allowed_origin_readable(demo_port: int) -> None:
    headers = {**BEARER, "Origin": CLIENT_ORIGIN}

    response = send(demo_port, "GET", "/Patient/does-not-exist", headers)

    assert response.status == 404
    assert response.getheader("Access-Control-Allow-Origin") == CLIENT_ORIGIN


def test_other_origin_gets_no_grant(demo_port: int) -> None:
    headers = {**BEARER, "Origin": EVIL_ORIGIN}

    response = send(demo_port, "GET", "/Patient", headers)

    assert response.getheader("Access-Control-Allow-Origin") is None
    assert "Origin" in response.getheader("Vary", "")


@pytest.mark.parametrize("path", ["/metadata", "/.well-known/smart-configuration"])
def test_discovery_open_to_any_origin(demo_port: int, path: str) -> None:
    response = send(demo_port, "GET", path, {"Origin": EVIL_ORIGIN})

    assert response.status == 200
    assert response.getheader("Access-Control-Allow-Origin") == "*"
    assert response.getheader("Access-Control-Allow-Credentials") is None
