"""Headless Chromium under Selenium, and the fetch() call that the tests run in it."""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

CHROMIUM_PATH = pathlib.Path("/usr/bin/chromium")
CHROMEDRIVER_PATH = pathlib.Path("/usr/bin/chromedriver")
SCRIPT_TIMEOUT_SECONDS = 20
PAGE_LOAD_TIMEOUT_SECONDS = 20

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

# Runs fetch() `repeat` times in sequence and passes one result per call to
# the Selenium callback. A rejected fetch() has resolved=false and the error
# text, and a header that CORS hides reads as null, as it does for any page.
FETCH_SCRIPT = """
const [url, init, headerNames, repeat] = arguments;
const done = arguments[arguments.length - 1];

async function fetchOnce() {
  const startedMs = performance.now();
  try {
    const response = await fetch(url, init);
    const headers = {};
    for (const name of headerNames) {
      headers[name] = response.headers.get(name);
    }
    const body = await response.text();
    return {resolved: true, status: response.status, headers, body,
            error: null, startedMs};
  } catch (error) {
    return {resolved: false, status: null, headers: {}, body: null,
            error: String(error), startedMs};
  }
}

(async () => {
  const results = [];
  for (let i = 0; i < repeat; i++) {
    results.push(await fetchOnce());
  }
  done(results);
})();
"""


@dataclasses.dataclass(frozen=True)
class FetchResult:
    """What the page saw from one fetch() call."""

    resolved: bool
    status: int | None
    headers: dict[str, str | None]
    body: str | None
    error: str | None
    started_ms: float


def missing_browser_parts() -> list[str]:
    """Return the parts needed to drive Chromium that this machine lacks."""
    missing = []
    for path in (CHROMIUM_PATH, CHROMEDRIVER_PATH):
        if not os.access(path, os.X_OK):
            missing.append(f"{path} (Debian packages chromium, chromium-driver)")

    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install selenium)")
    return missing


def start_chromium(profile_directory: pathlib.Path) -> Chrome:
    """Start headless Chromium with a fresh profile in ``profile_directory``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM_PATH)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_directory}")

    service = Service(executable_path=str(CHROMEDRIVER_PATH))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_script_timeout(SCRIPT_TIMEOUT_SECONDS)
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_SECONDS)
    return driver


def run_fetch(
    driver: Chrome,
    url: str,
    init: dict[str, Any],
    header_names: list[str],
    repeat: int = 1,
) -> list[FetchResult]:
    """Call fetch(url, init) ``repeat`` times in the page and return each result."""
    raw_results = driver.execute_async_script(
        FETCH_SCRIPT, url, init, header_names, repeat
    )
    return [
        FetchResult(
            resolved=raw["resolved"],
            status=raw["status"],
            headers=raw["headers"],
            body=raw["body"],
            error=raw["error"],
            started_ms=raw["startedMs"],
        )
        for raw in raw_results
    ]


def stop_chromium(driver: Chrome) -> None:
    """Quit Chromium, then stop chromedriver by its process id if it still runs."""
    process = driver.service.process
    try:
        driver.quit()
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)
