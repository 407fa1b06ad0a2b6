"""The API and page servers of the browser tests, run as child processes.

Each server starts in a new process group and is stopped by its group id,
which is the server's process id, so gunicorn's worker stops with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from typing import Any

from tests.servers import free_port, gunicorn_command

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0
POLL_INTERVAL_SECONDS = 0.05
START_ATTEMPTS = 3
ENV_PREFIX = "FLASK_FHIR_CORS_"
LOG_TAIL_CHARACTERS = 3000

# Stands for the test page's origin in policy settings, which are written
# before the page server has a port.
PAGE_ORIGIN = "{page_origin}"


class ServerStartError(RuntimeError):
    """A test server exited or did not respond before the startup timeout."""


@dataclasses.dataclass
class Server:
    """A running test server process and where to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: pathlib.Path

    def log_tail(self) -> str:
        """Return the end of the server log, for failure messages."""
        text = self.log_path.read_text(errors="replace")
        return text[-LOG_TAIL_CHARACTERS:]


def resolve_page_origin(value: Any, page_origin: str) -> Any:
    """Replace ``PAGE_ORIGIN`` in a setting value, or in each item of a list."""
    if isinstance(value, list):
        return [resolve_page_origin(item, page_origin) for item in value]
    if value == PAGE_ORIGIN:
        return page_origin
    return value


def policy_environment(settings: Mapping[str, Any]) -> dict[str, str]:
    """Return this process's environment with only the given CORS settings.

    Every ``FLASK_*`` variable is dropped first, so a policy never picks up a
    value from the shell that runs the tests.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("FLASK_")
    }
    environment.update(policy_variables(settings))
    return environment


def policy_variables(settings: Mapping[str, Any]) -> dict[str, str]:
    """Return the ``FLASK_FHIR_CORS_*`` variables for ``settings``.

    Each value is JSON, which ``Flask.config.from_prefixed_env`` decodes.
    """
    return {ENV_PREFIX + name: json.dumps(value) for name, value in settings.items()}


def start_api_server(settings: Mapping[str, Any], log_path: pathlib.Path) -> Server:
    """Start gunicorn with the test API and the given policy, and wait until ready.

    A port taken between the free-port check and gunicorn's bind makes
    gunicorn exit, so startup is tried up to ``START_ATTEMPTS`` times.
    """
    environment = policy_environment(settings)
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        command = api_command(port)
        server = spawn(command, environment, port, log_path)
        try:
            wait_until_ready(server, "/_counts")
            return server
        except ServerStartError:
            stop(server)
            if attempt == START_ATTEMPTS:
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


def api_command(port: int) -> list[str]:
    """Return the gunicorn command line for the test API on ``port``."""
    return [
        *gunicorn_command(port),
        "--access-logfile",
        "-",
        "tests.browser.api_app:serve_app()",
    ]


def start_page_server(directory: pathlib.Path, log_path: pathlib.Path) -> Server:
    """Serve ``directory`` over HTTP on 127.0.0.1 and wait until ready."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "http.server",
        str(port),
        "--bind",
        "127.0.0.1",
        "--directory",
        str(directory),
    ]
    server = spawn(command, dict(os.environ), port, log_path)
    try:
        wait_until_ready(server, "/")
    except ServerStartError:
        stop(server)
        raise
    return server


def spawn(
    command: list[str], environment: dict[str, str], port: int, log_path: pathlib.Path
) -> Server:
    """Start ``command`` in its own process group, logging to ``log_path``."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(process, port, log_path)


def wait_until_ready(server: Server, path: str) -> None:
    """Poll ``path`` until it responds, the process exits or time runs out."""
    url = f"http://127.0.0.1:{server.port}{path}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerStartError(
                f"server on port {server.port} exited with code "
                f"{server.process.returncode}; log:\n{server.log_tail()}"
            )

        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=1):
                return
        time.sleep(POLL_INTERVAL_SECONDS)

    raise ServerStartError(
        f"server on port {server.port} timed out: no response to {path} within "
        f"{STARTUP_TIMEOUT_SECONDS} s; log:\n{server.log_tail()}"
    )


def stop(server: Server) -> None:
    """Stop the server's process group: SIGTERM, then SIGKILL after a timeout."""
    send_stop_signal(server)
    wait_stopped(server)


def send_stop_signal(server: Server) -> None:
    """Send SIGTERM to the server's process group unless it already exited."""
    if server.process.poll() is not None:
        return

    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGTERM)


def wait_stopped(server: Server) -> None:
    """Wait for the server to exit, and SIGKILL its process group after a timeout."""
    try:
        server.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=STOP_TIMEOUT_SECONDS)


def read_counts(server: Server) -> dict[str, dict[str, Any]]:
    """Fetch the API server's OPTIONS statuses and route counts, not via the browser."""
    url = f"http://127.0.0.1:{server.port}/_counts"
    with urllib.request.urlopen(url, timeout=5) as response:
        counts: dict[str, dict[str, Any]] = json.load(response)
    return counts


class ApiServers:
    """API servers by policy name, started on first use and stopped together."""

    def __init__(self, log_directory: pathlib.Path, page_origin: str) -> None:
        self.log_directory = log_directory
        self.page_origin = page_origin
        self.servers: dict[str, Server] = {}

    def get(self, name: str, settings: Mapping[str, Any]) -> Server:
        """Return the server for policy ``name``, starting it if needed."""
        if name not in self.servers:
            resolved = {
                key: resolve_page_origin(value, self.page_origin)
                for key, value in settings.items()
            }
            log_path = self.log_directory / f"api-{name}.log"
            self.servers[name] = start_api_server(resolved, log_path)
        return self.servers[name]

    def stop_all(self) -> None:
        """Stop every server that was started, signalling all before waiting."""
        for server in self.servers.values():
            send_stop_signal(server)

        for server in self.servers.values():
            wait_stopped(server)
