"""Helpers that run a WSGI app on a hand-built environ and record what it did."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from werkzeug.test import EnvironBuilder

Header = tuple[str, str]


@dataclasses.dataclass
class RecordingApp:
    """A WSGI app that returns a fixed response and counts its calls."""

    status: str = "200 OK"
    headers: list[Header] = dataclasses.field(
        default_factory=lambda: [("Content-Type", "text/plain")]
    )
    body: bytes = b"app body"
    calls: int = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.calls += 1
        start_response(self.status, list(self.headers))
        return [self.body]


@dataclasses.dataclass
class Result:
    """The status, raw header list and body of one WSGI response."""

    status: str
    headers: list[Header]
    body: bytes

    @property
    def status_code(self) -> int:
        return int(self.status.split(" ", 1)[0])

    def values(self, name: str) -> list[str]:
        """Return every value of the header ``name``, compared without case."""
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def get(self, name: str) -> str | None:
        """Return the only value of ``name``, or None; fail if it appears twice."""
        found = self.values(name)
        assert len(found) <= 1, f"{name} appears {len(found)} times: {found}"
        return found[0] if found else None

    def tokens(self, name: str) -> list[str]:
        """Return the comma-separated items of every ``name`` line, trimmed."""
        return [
            token.strip()
            for value in self.values(name)
            for token in value.split(",")
            if token.strip()
        ]


def make_environ(
    method: str = "GET",
    path: str = "/",
    headers: Iterable[Header] = (),
    environ_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a WSGI environ; repeated headers are joined with ', ' as servers do.

    Header values are set verbatim, so tests can send values (such as CR LF)
    that a real client library would refuse to send.
    """
    environ: dict[str, Any] = EnvironBuilder(method=method, path=path).get_environ()
    for name, value in headers:
        key = "HTTP_" + name.upper().replace("-", "_")
        if name.lower() == "content-type":
            key = "CONTENT_TYPE"
        if key in environ and key.startswith("HTTP_"):
            environ[key] = environ[key] + ", " + value
        else:
            environ[key] = value
    environ.update(environ_overrides or {})
    return environ


def call_wsgi(app: Any, environ: dict[str, Any]) -> Result:
    """Call ``app`` once, consume and close its body, and return the response."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[Header], exc_info: Any = None) -> Any:
        captured["status"] = status
        captured["headers"] = list(headers)
        return lambda data: None

    iterable = app(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return Result(captured["status"], captured["headers"], body)
