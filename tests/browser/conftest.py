"""Fixtures that start the page server, the API servers and headless Chromium.

The page is served from ``http://127.0.0.1:PAGE_PORT`` and calls the API at
``http://localhost:API_PORT``, so every call is cross-origin. Chromium and
the page server start once per session. One API server starts per policy, on
first use, and serves every row with that policy.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from . import chromium, harness

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

PAGE_HTML = "<!doctype html><title>CORS test page</title><p>CORS test page</p>\n"


@pytest.fixture(scope="session")
def log_directory(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Directory for the server logs, which failure messages point to."""
    return tmp_path_factory.mktemp("browser-logs")


@pytest.fixture(scope="session")
def page_server(
    tmp_path_factory: pytest.TempPathFactory, log_directory: pathlib.Path
) -> Iterator[harness.Server]:
    """HTTP server for the test page, on a different origin than the API."""
    directory = tmp_path_factory.mktemp("page")
    (directory / "index.html").write_text(PAGE_HTML)

    server = harness.start_page_server(directory, log_directory / "page.log")
    yield server
    harness.stop(server)


@pytest.fixture(scope="session")
def page_origin(page_server: harness.Server) -> str:
    """Origin of the test page, which policies list as the allowed origin."""
    return f"http://127.0.0.1:{page_server.port}"


@pytest.fixture(scope="session")
def api_servers(
    log_directory: pathlib.Path, page_origin: str
) -> Iterator[harness.ApiServers]:
    """API servers, one per policy, stopped at the end of the session."""
    servers = harness.ApiServers(log_directory, page_origin)
    yield servers
    servers.stop_all()


@pytest.fixture(scope="session")
def browser(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Chrome]:
    """Headless Chromium with a fresh profile, showing the test page.

    Missing Chromium, chromedriver or Selenium fails the tests when ``CI`` is
    ``true`` and skips them elsewhere. The check runs before any server starts.
    """
    missing = chromium.missing_browser_parts()
    if missing:
        message = "browser tests need " + ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)

    page_origin: str = request.getfixturevalue("page_origin")
    driver = chromium.start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        driver.get(page_origin + "/")
        yield driver
    finally:
        chromium.stop_chromium(driver)
