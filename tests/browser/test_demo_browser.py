"""The demo client page drives the demo FHIR server across origins."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from tests.servers import free_port, gunicorn

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

# Chromium opens spare connections in advance, which would hold a sync worker.
THREADED = ("--worker-class", "gthread", "--threads", "4")

# Seconds the page gets to finish its create, read, update and delete steps.
RUN_TIMEOUT_SECONDS = 30.0


@contextlib.contextmanager
def demo_servers(allowed_port: int, client_port: int) -> Iterator[int]:
    """Run the demo API and its client page; yield the API's port.

    The API allows the origin ``http://127.0.0.1:allowed_port`` and the page
    is served on ``client_port``.
    """
    environment = {"DEMO_CLIENT_ORIGIN": f"http://127.0.0.1:{allowed_port}"}
    with gunicorn("examples.fhir_server:app", environment, THREADED) as api_port:
        with gunicorn("examples.client_server:app", None, THREADED, client_port):
            yield api_port


def run_demo_page(browser: Chrome, client_port: int, api_port: int) -> dict[str, Any]:
    """Open the client page with auto-start and return its #result JSON."""
    url = f"http://127.0.0.1:{client_port}/?api=http://localhost:{api_port}&auto=1"
    browser.get(url)

    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        text = browser.find_element("id", "result").text
        with contextlib.suppress(json.JSONDecodeError):
            result: dict[str, Any] = json.loads(text)
            if result.get("done"):
                return result
        time.sleep(0.2)
    raise TimeoutError(f"the demo page did not finish: {text!r}")


def test_demo_client_full_cycle(browser: Chrome) -> None:
    client_port = free_port()

    with demo_servers(client_port, client_port) as api_port:
        result = run_demo_page(browser, client_port, api_port)

    steps = {step["name"]: step for step in result["steps"]}
    assert result["ok"] is True
    assert list(steps) == ["create", "read", "update", "delete"]
    assert steps["create"]["status"] == 201
    assert steps["create"]["location"].startswith("/Patient/")
    assert steps["create"]["etag"] == 'W/"1"'
    assert steps["read"]["status"] == 200
    assert steps["update"]["etag"] == 'W/"2"'
    assert steps["delete"]["status"] == 204


def test_demo_client_unlisted_origin_blocked(browser: Chrome) -> None:
    client_port = free_port()

    with demo_servers(free_port(), client_port) as api_port:
        result = run_demo_page(browser, client_port, api_port)

    create = result["steps"][0]
    assert result["ok"] is False
    assert create["name"] == "create"
    assert create["ok"] is False
    assert create["status"] is None
    assert len(result["steps"]) == 1
