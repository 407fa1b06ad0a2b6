"""Start and stop real servers on 127.0.0.1 for the tests."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent

# Seconds a server gets to accept connections before the test fails.
STARTUP_TIMEOUT_SECONDS = 20.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    """Wait until ``port`` accepts connections; fail if the process exits first."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        time.sleep(0.1)
    raise TimeoutError(
        f"no server on 127.0.0.1:{port} after {STARTUP_TIMEOUT_SECONDS}s"
    )


def gunicorn_command(port: int) -> list[str]:
    """Return a gunicorn command line, without the app, for 127.0.0.1:``port``."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--graceful-timeout",
        "2",
    ]

    version = gunicorn_version()
    if version >= (22, 0):
        # Gunicorn 22+ responds with 400 to a lowercase method such as "patch"
        # unless this is set, and browsers send "patch" as the page wrote it.
        command.append("--permit-unconventional-http-method")
    if version >= (25, 1):
        # Gunicorn 25.1+ opens a control socket at one path per user, which
        # would clash between servers that run side by side.
        command.append("--no-control-socket")
    return command


def gunicorn_version() -> tuple[int, ...]:
    """Return the installed gunicorn's major and minor version numbers."""
    release = importlib.metadata.version("gunicorn")
    return tuple(int(part) for part in release.split(".")[:2])


@contextlib.contextmanager
def gunicorn(
    target: str,
    env: Mapping[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
    port: int | None = None,
) -> Iterator[int]:
    """Run ``gunicorn target`` on 127.0.0.1 and yield its port.

    ``port`` defaults to a free one. The server is stopped by its PID when the
    block ends.
    """
    port = port or free_port()
    command = [*gunicorn_command(port), *extra_args, target]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield port
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started by the tests, by its PID."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
