"""The middleware keeps the WSGI contract (PEP 3333), in process and under real servers.

In process, :func:`wsgiref.validate.validator` wraps both the middleware and
the app it calls, so each side of the middleware is checked. Under gunicorn
(sync and gthread workers) and waitress, the same requests must get the same
status, CORS headers and body as in process.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from wsgiref.util import FileWrapper
from wsgiref.validate import validator

import pytest

from flask_fhir_cors import CORSMiddleware, CORSPolicy
from tests.served_apps import (
    ALLOWED_ORIGIN,
    BODY_CHUNKS,
    DISALLOWED_ORIGIN,
    POLICY_SETTINGS,
    compliance_app,
)
from tests.servers import REPO_ROOT, free_port, gunicorn, stop, wait_for_port
from tests.support import RecordingApp, Result, call_wsgi, make_environ

POLICY = CORSPolicy(**POLICY_SETTINGS)
Header = tuple[str, str]

# Validator warnings (such as an unknown method) fail the test like its errors.
pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")


def preflight(origin: str, method: str = "PUT") -> dict[str, Any]:
    return {
        "method": "OPTIONS",
        "headers": [
            ("Origin", origin),
            ("Access-Control-Request-Method", method),
            ("Access-Control-Request-Headers", "authorization, content-type"),
        ],
    }


def actual(origin: str | None, method: str = "GET") -> dict[str, Any]:
    headers = [] if origin is None else [("Origin", origin)]
    return {"method": method, "headers": headers}


# Each row: request, expected status, whether the app runs.
REQUESTS = [
    pytest.param(preflight(ALLOWED_ORIGIN), 204, False, id="preflight, origin allowed"),
    pytest.param(
        preflight(DISALLOWED_ORIGIN), 403, False, id="preflight, origin not allowed"
    ),
    pytest.param(
        preflight(ALLOWED_ORIGIN, "PATCH"), 403, False, id="preflight, method refused"
    ),
    pytest.param(actual(ALLOWED_ORIGIN), 200, True, id="actual, origin allowed"),
    pytest.param(
        actual(DISALLOWED_ORIGIN, "POST"), 200, True, id="actual, origin not allowed"
    ),
    pytest.param(actual(None), 200, True, id="actual, no origin"),
    pytest.param(
        actual(ALLOWED_ORIGIN, "OPTIONS"),
        200,
        True,
        id="OPTIONS without request method",
    ),
]

ORIGINS = [
    pytest.param(ALLOWED_ORIGIN, id="origin allowed"),
    pytest.param(DISALLOWED_ORIGIN, id="origin not allowed"),
    pytest.param(None, id="no origin"),
]


def environ_for(request: dict[str, Any], path: str = "/Patient/1") -> dict[str, Any]:
    return make_environ(request["method"], path, request["headers"])


def origin_environ(origin: str | None, path: str = "/Patient/1") -> dict[str, Any]:
    return environ_for(actual(origin), path)


def validated(app: Any) -> Any:
    """Wrap ``app`` in the middleware, with a validator on each side of it."""
    return validator(CORSMiddleware(validator(app), POLICY))


@pytest.mark.parametrize(("request_", "status", "app_runs"), REQUESTS)
def test_validator_accepts(
    request_: dict[str, Any], status: int, app_runs: bool
) -> None:
    app = RecordingApp()

    result = call_wsgi(validated(app), environ_for(request_))

    assert result.status_code == status
    assert app.calls == (1 if app_runs else 0)


class CountingBody:
    """A body iterable that counts close() calls and can fail after one chunk."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.closes = 0

    def __iter__(self) -> Iterator[bytes]:
        yield BODY_CHUNKS[0]
        if self.fail:
            raise RuntimeError("the app failed while sending its body")
        yield from BODY_CHUNKS[1:]

    def close(self) -> None:
        self.closes += 1


class BodyApp:
    """A WSGI app that returns a given iterable and counts its calls."""

    def __init__(self, body: Any) -> None:
        self.body = body
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return self.body


def serve(app: Any, environ: dict[str, Any]) -> bytes:
    """Read the body as a server does: iterate, and close() in every case."""
    iterable = app(environ, lambda status, headers, exc_info=None: None)
    try:
        return b"".join(iterable)
    finally:
        if hasattr(iterable, "close"):
            iterable.close()


@pytest.mark.parametrize("origin", ORIGINS)
def test_generator_body(origin: str | None) -> None:
    closed = []

    def chunks() -> Iterator[bytes]:
        try:
            yield from BODY_CHUNKS
        finally:
            closed.append(True)

    result = call_wsgi(validated(BodyApp(chunks())), origin_environ(origin))

    assert result.body == b"".join(BODY_CHUNKS)
    assert closed == [True]


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("validate", [False, True], ids=["bare", "validated"])
def test_close_once_on_success(origin: str | None, validate: bool) -> None:
    body = CountingBody(fail=False)
    app = BodyApp(body)
    wrapped = validated(app) if validate else CORSMiddleware(app, POLICY)

    received = serve(wrapped, origin_environ(origin))

    assert received == b"".join(BODY_CHUNKS)
    assert body.closes == 1
    assert app.calls == 1


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("validate", [False, True], ids=["bare", "validated"])
def test_close_once_on_error(origin: str | None, validate: bool) -> None:
    body = CountingBody(fail=True)
    app = BodyApp(body)
    wrapped = validated(app) if validate else CORSMiddleware(app, POLICY)

    with pytest.raises(RuntimeError, match="while sending its body"):
        serve(wrapped, origin_environ(origin))

    assert body.closes == 1
    assert app.calls == 1


@pytest.mark.parametrize("origin", ORIGINS)
def test_app_iterable_returned(origin: str | None) -> None:
    body = CountingBody(fail=False)
    middleware = CORSMiddleware(BodyApp(body), POLICY)

    iterable = middleware(origin_environ(origin), lambda *args: None)

    assert iterable is body


@pytest.mark.parametrize("origin", ORIGINS)
def test_file_wrapper_passes_through(origin: str | None) -> None:
    wrappers: list[FileWrapper] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        wrapper = environ["wsgi.file_wrapper"](io.BytesIO(b"file body"), 4)
        wrappers.append(wrapper)
        return wrapper

    environ = origin_environ(origin)
    environ["wsgi.file_wrapper"] = FileWrapper

    iterable = CORSMiddleware(app, POLICY)(environ, lambda *args: None)

    assert len(wrappers) == 1
    assert iterable is wrappers[0]
    assert b"".join(iterable) == b"file body"


class Server:
    """A PEP 3333 start_response and write() that record what the app sent."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: list[Header] = []
        self.headers_sent = False
        self.written: list[bytes] = []
        self.exc_infos: list[Any] = []

    def start_response(
        self, status: str, headers: list[Header], exc_info: Any = None
    ) -> Any:
        self.exc_infos.append(exc_info)
        if exc_info is not None and self.headers_sent:
            raise exc_info[1].with_traceback(exc_info[2])
        self.status = status
        self.headers = list(headers)
        return self.write

    def write(self, data: bytes) -> None:
        self.headers_sent = True
        self.written.append(data)

    def run(self, app: Any, environ: dict[str, Any]) -> Result:
        """Call the app and send its body, marking headers sent at the first chunk."""
        iterable = app(environ, self.start_response)
        try:
            for chunk in iterable:
                self.write(chunk)
        finally:
            if hasattr(iterable, "close"):
                iterable.close()
        return Result(self.status or "", self.headers, b"".join(self.written))


def fail_before_body(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Start a 200, fail before any body, and replace it with a 500 (PEP 3333)."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("resource store unavailable")
    except ValueError:
        error_info = sys.exc_info()
        environ["test.exc_info"] = error_info
        start_response(
            "500 Internal Server Error", [("Content-Type", "text/plain")], error_info
        )
    return [b"error"]


def fail_after_body(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    """Send one chunk, then fail and call start_response with exc_info again."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield BODY_CHUNKS[0]
    try:
        raise ValueError("resource store failed mid-body")
    except ValueError:
        environ["test.exc_info"] = sys.exc_info()
        start_response("500 Internal Server Error", [], environ["test.exc_info"])
    yield b"never sent"


@pytest.mark.parametrize("validate", [False, True], ids=["bare", "validated"])
def test_exc_info_before_body(validate: bool) -> None:
    server = Server()
    environ = origin_environ(ALLOWED_ORIGIN)
    app = (
        validated(fail_before_body)
        if validate
        else CORSMiddleware(fail_before_body, POLICY)
    )

    result = server.run(app, environ)

    assert result.status_code == 500
    assert result.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    assert "Origin" in result.tokens("Vary")
    assert server.exc_infos[0] is None
    assert server.exc_infos[1] is environ["test.exc_info"]
    assert result.body == b"error"


def test_exc_info_after_body() -> None:
    server = Server()
    environ = origin_environ(ALLOWED_ORIGIN)

    with pytest.raises(ValueError, match="failed mid-body") as raised:
        server.run(CORSMiddleware(fail_after_body, POLICY), environ)

    assert raised.value is environ["test.exc_info"][1]
    assert server.exc_infos[1] is environ["test.exc_info"]
    assert server.status == "200 OK"
    assert server.written == [BODY_CHUNKS[0]]


@pytest.mark.parametrize("origin", ORIGINS)
def test_write_callable_returned(origin: str | None) -> None:
    server = Server()
    received: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        received.append(write)
        write(b"written ")
        return [b"returned"]

    result = server.run(CORSMiddleware(app, POLICY), origin_environ(origin))

    assert received == [server.write]
    assert result.body == b"written returned"


@pytest.mark.parametrize("origin", ORIGINS)
def test_app_called_once(origin: str | None) -> None:
    app = RecordingApp()

    call_wsgi(CORSMiddleware(app, POLICY), origin_environ(origin))

    assert app.calls == 1


# Requests sent to the real servers: request, path.
SERVED_REQUESTS = [
    pytest.param(preflight(ALLOWED_ORIGIN), "/list", id="preflight, origin allowed"),
    pytest.param(
        preflight(DISALLOWED_ORIGIN), "/list", id="preflight, origin not allowed"
    ),
    pytest.param(
        preflight(ALLOWED_ORIGIN, "PATCH"), "/list", id="preflight, method refused"
    ),
    pytest.param(actual(ALLOWED_ORIGIN), "/list", id="list body, origin allowed"),
    pytest.param(
        actual(DISALLOWED_ORIGIN), "/list", id="list body, origin not allowed"
    ),
    pytest.param(actual(None), "/list", id="list body, no origin"),
    pytest.param(
        actual(ALLOWED_ORIGIN), "/generator", id="generator body, origin allowed"
    ),
    pytest.param(actual(None), "/generator", id="generator body, no origin"),
    pytest.param(actual(ALLOWED_ORIGIN), "/file", id="file wrapper, origin allowed"),
    pytest.param(
        actual(DISALLOWED_ORIGIN), "/file", id="file wrapper, origin not allowed"
    ),
    pytest.param(
        actual(ALLOWED_ORIGIN, "OPTIONS"), "/list", id="OPTIONS without request method"
    ),
    pytest.param(
        actual(DISALLOWED_ORIGIN), "/metadata", id="public path, origin not allowed"
    ),
]


@contextlib.contextmanager
def waitress(target: str) -> Iterator[int]:
    """Run ``waitress-serve`` on a free port of 127.0.0.1 and yield the port."""
    executable = shutil.which("waitress-serve")
    assert executable is not None, (
        "waitress-serve is not installed; pip install waitress"
    )

    port = free_port()
    command = [executable, f"--listen=127.0.0.1:{port}", target]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, process)
        yield port
    finally:
        stop(process)


SERVERS = {
    "gunicorn sync worker": lambda target: gunicorn(target),
    "gunicorn gthread worker": lambda target: gunicorn(
        target, extra_args=("--worker-class", "gthread", "--threads", "4")
    ),
    "waitress": waitress,
}


@pytest.fixture(scope="module", params=list(SERVERS))
def server_port(request: pytest.FixtureRequest) -> Iterator[int]:
    with SERVERS[request.param]("tests.served_apps:compliance_app") as port:
        yield port


def fetch(port: int, method: str, path: str, headers: list[Header]) -> Result:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, headers=dict(headers))
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    return Result(f"{response.status} {response.reason}", response.getheaders(), body)


def cors_view(result: Result) -> dict[str, Any]:
    """The parts of a response that CORS decides, with header names lowercased."""
    headers = sorted(
        (name.lower(), value)
        for name, value in result.headers
        if name.lower().startswith("access-control-") or name.lower() == "vary"
    )
    return {"status": result.status_code, "headers": headers, "body": result.body}


@pytest.mark.parametrize(("request_", "path"), SERVED_REQUESTS)
def test_server_matches_in_process(
    server_port: int, request_: dict[str, Any], path: str
) -> None:
    expected = call_wsgi(compliance_app, environ_for(request_, path))

    served = fetch(server_port, request_["method"], path, request_["headers"])

    assert cors_view(served) == cors_view(expected)
