"""A real shared cache (nginx proxy_cache) in front of a Flask app with FhirCORS.

The app marks its reads ``Cache-Control: public, max-age=600``, so nginx
stores them. Because the middleware sends ``Vary: Origin`` whenever the
response depends on the origin, nginx must never hand one origin's
``Access-Control-Allow-Origin`` to another origin, to a disallowed origin or
to a request without ``Origin``, in whichever order they arrive. Each
sequence also repeats a request and expects ``X-Cache-Status: HIT``, so a
cache that stored nothing cannot pass.
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.served_apps import ALLOWED_ORIGIN, DISALLOWED_ORIGIN, SECOND_ORIGIN
from tests.servers import free_port, gunicorn, stop, wait_for_port

NGINX_CONFIG = """\
worker_processes 1;
master_process off;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;

events {{
    worker_connections 64;
}}

http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy_temp;
    fastcgi_temp_path {directory}/fastcgi_temp;
    uwsgi_temp_path {directory}/uwsgi_temp;
    scgi_temp_path {directory}/scgi_temp;
    proxy_cache_path {directory}/cache levels=1:2 keys_zone=fhir:1m max_size=10m
                     inactive=10m use_temp_path=off;

    server {{
        listen 127.0.0.1:{port};

        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_cache fhir;
            proxy_cache_valid 200 10m;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"""

# Origin for each name used in test ids. None sends no Origin header.
ORIGINS = {
    "origin A": ALLOWED_ORIGIN,
    "origin B": SECOND_ORIGIN,
    "disallowed origin": DISALLOWED_ORIGIN,
    "no Origin": None,
}
ALLOWED = {ALLOWED_ORIGIN, SECOND_ORIGIN}


def find_nginx() -> str:
    """Return the nginx executable, or fail (under CI=true) or skip if it is missing."""
    found = shutil.which("nginx") or shutil.which("/usr/sbin/nginx")
    if found is not None:
        return found

    message = "nginx is not installed (Debian package nginx-light)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def start_nginx(
    directory: pathlib.Path, upstream_port: int
) -> tuple[subprocess.Popen[bytes], int]:
    executable = find_nginx()
    port = free_port()
    config = directory / "nginx.conf"
    config.write_text(
        NGINX_CONFIG.format(directory=directory, port=port, upstream_port=upstream_port)
    )

    command = [executable, "-p", str(directory), "-c", str(config)]
    command += ["-e", str(directory / "error.log"), "-g", "daemon off;"]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, process)
    except BaseException:
        stop(process)
        raise
    return process, port


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """Start gunicorn with the Flask app and nginx in front of it; yield both ports."""
    directory = tmp_path_factory.mktemp("nginx")
    with gunicorn("tests.served_apps:fhir_app") as upstream_port:
        process, port = start_nginx(directory, upstream_port)
        try:
            yield port, upstream_port
        finally:
            stop(process)


class Response:
    """The status, headers and body nginx sent."""

    def __init__(self, response: http.client.HTTPResponse, body: bytes) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = body

    @property
    def allow_origin(self) -> str | None:
        values = self.headers.get_all("Access-Control-Allow-Origin") or []
        assert len(values) <= 1, f"Access-Control-Allow-Origin repeated: {values}"
        return values[0] if values else None

    @property
    def cache_status(self) -> str | None:
        return self.headers.get("X-Cache-Status")

    @property
    def vary(self) -> list[str]:
        values = self.headers.get_all("Vary") or []
        return [token.strip() for value in values for token in value.split(",")]


def get(port: int, path: str, origin: str | None) -> Response:
    headers = {} if origin is None else {"Origin": origin}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    return Response(response, body)


def app_hits(upstream_port: int, path: str) -> int:
    """Ask the app directly, past the cache, how often ``path`` reached it."""
    response = get(upstream_port, f"/hits?path={path}", None)
    return int(json.loads(response.body)["hits"])


def expected_allow_origin(origin: str | None) -> str | None:
    return origin if origin in ALLOWED else None


def test_repeat_is_hit(ports: tuple[int, int]) -> None:
    port, upstream_port = ports
    path = "/Patient/repeat"

    first = get(port, path, ALLOWED_ORIGIN)
    second = get(port, path, ALLOWED_ORIGIN)

    assert first.status == 200
    assert first.cache_status == "MISS"
    assert second.cache_status == "HIT"
    assert second.allow_origin == ALLOWED_ORIGIN
    assert app_hits(upstream_port, path) == 1


ORDERS = [
    pytest.param("origin A", "origin B", id="origin A first, then origin B"),
    pytest.param(
        "origin A", "disallowed origin", id="origin A first, then disallowed origin"
    ),
    pytest.param("origin A", "no Origin", id="origin A first, then no Origin"),
    pytest.param("no Origin", "origin A", id="no Origin first, then origin A"),
    pytest.param(
        "disallowed origin", "origin A", id="disallowed origin first, then origin A"
    ),
    pytest.param("origin B", "origin A", id="origin B first, then origin A"),
]


@pytest.mark.parametrize(("first", "second"), ORDERS)
def test_grant_not_shared(ports: tuple[int, int], first: str, second: str) -> None:
    port, _ = ports
    path = "/Patient/" + f"{first}-then-{second}".replace(" ", "-")
    sequence = [first, first, second, second, first]

    responses = [get(port, path, ORIGINS[name]) for name in sequence]

    assert responses[1].cache_status == "HIT", f"the cache did not store {first}"
    assert responses[3].cache_status == "HIT", f"the cache did not store {second}"
    for name, response in zip(sequence, responses):
        expected = expected_allow_origin(ORIGINS[name])
        assert response.status == 200
        assert response.allow_origin == expected, f"{name} got another grant"
        assert "Origin" in response.vary, f"{name} got no Vary: Origin"


def test_public_path_shared(ports: tuple[int, int]) -> None:
    port, upstream_port = ports
    names = ["origin A", "origin B", "disallowed origin", "no Origin"]

    responses = [get(port, "/metadata", ORIGINS[name]) for name in names]

    assert [response.allow_origin for response in responses] == ["*"] * len(names)
    assert [response.cache_status for response in responses[1:]] == ["HIT"] * 3
    assert app_hits(upstream_port, "/metadata") == 1
