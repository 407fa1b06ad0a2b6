"""A bounded load run against gunicorn: every response must be right under concurrency.

Client threads, each with one keep-alive connection, send a fixed mix of
preflights and actual requests from allowed and disallowed origins. The
server is the Flask app with FhirCORS under gunicorn (2 gthread workers) on
127.0.0.1. Every response's status and Access-Control-Allow-Origin is checked.
The run lasts ``LOAD_SECONDS`` (default 5) with ``LOAD_CONNECTIONS``
connections (default 8). Run with ``-s`` to see the request rate.
"""

from __future__ import annotations

import dataclasses
import http.client
import os
import threading
import time
from collections.abc import Iterator

import pytest

from tests.served_apps import ALLOWED_ORIGIN, DISALLOWED_ORIGIN, SECOND_ORIGIN
from tests.servers import gunicorn

# Upper bound on requests per connection, so a very fast server still ends.
MAX_REQUESTS_PER_CONNECTION = 1_000_000
REQUEST_TIMEOUT_SECONDS = 10.0
# Extra time the client threads get to finish their last request.
JOIN_GRACE_SECONDS = 30.0
# Maximum number of failures listed in an assertion message.
MAX_REPORTED_FAILURES = 10


@dataclasses.dataclass(frozen=True)
class Case:
    """One request of the mix and the response it must get."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    status: int
    allow_origin: str | None
    new_header_each_time: bool = False


def preflight(
    origin: str, status: int, allow_origin: str | None, new_header: bool = False
) -> Case:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    name = f"preflight from {origin}"
    if new_header:
        name += " with a new header name"
    path = "/Patient/1"
    return Case(name, "OPTIONS", path, headers, status, allow_origin, new_header)


def read(path: str, origin: str | None, allow_origin: str | None) -> Case:
    headers = {} if origin is None else {"Origin": origin}
    name = f"GET {path} from {origin or 'no Origin'}"
    return Case(name, "GET", path, headers, 200, allow_origin)


MIX = (
    preflight(ALLOWED_ORIGIN, 204, ALLOWED_ORIGIN),
    preflight(SECOND_ORIGIN, 204, SECOND_ORIGIN),
    preflight(DISALLOWED_ORIGIN, 403, None),
    # A header name never sent before makes each of these a distinct request,
    # so the server's cache of preflight decisions fills and is emptied while
    # other threads read it.
    preflight(ALLOWED_ORIGIN, 403, None, new_header=True),
    read("/Patient/1", ALLOWED_ORIGIN, ALLOWED_ORIGIN),
    read("/Patient/2", SECOND_ORIGIN, SECOND_ORIGIN),
    read("/Patient/3", DISALLOWED_ORIGIN, None),
    read("/Patient/4", None, None),
    read("/metadata", DISALLOWED_ORIGIN, "*"),
)


def positive_setting(name: str, default: float) -> float:
    """Read a positive number from the environment variable ``name``."""
    text = os.environ.get(name)
    if text is None:
        return default

    message = f"invalid {name}={text!r}: expected a positive number"
    try:
        value = float(text)
    except ValueError:
        raise ValueError(message) from None
    if value <= 0:
        raise ValueError(message)
    return value


@dataclasses.dataclass
class Tally:
    """What one client connection sent and what went wrong."""

    requests: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)
    wrong: list[str] = dataclasses.field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.wrong += other.wrong


def send(
    connection: http.client.HTTPConnection, case: Case, serial: str
) -> tuple[int, str | None]:
    headers = case.headers
    if case.new_header_each_time:
        requested = headers["Access-Control-Request-Headers"]
        headers = {
            **headers,
            "Access-Control-Request-Headers": f"{requested}, x-{serial}",
        }

    connection.request(case.method, case.path, headers=headers)
    response = connection.getresponse()
    response.read()
    values = response.headers.get_all("Access-Control-Allow-Origin") or []
    if len(values) > 1:
        return response.status, ", ".join(values)
    return response.status, values[0] if values else None


def run_connection(port: int, offset: int, deadline: float, tally: Tally) -> None:
    """Send the mix, starting at ``offset``, over one keep-alive connection."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=REQUEST_TIMEOUT_SECONDS
    )
    try:
        for index in range(offset, offset + MAX_REQUESTS_PER_CONNECTION):
            if time.monotonic() >= deadline:
                break

            case = MIX[index % len(MIX)]
            tally.requests += 1
            try:
                status, allow_origin = send(connection, case, f"{offset}-{index}")
            except (OSError, http.client.HTTPException) as error:
                tally.errors.append(f"{case.name}: {error!r}")
                connection.close()
                continue

            if (status, allow_origin) != (case.status, case.allow_origin):
                tally.wrong.append(
                    f"{case.name}: got {status} {allow_origin!r}, "
                    f"expected {case.status} {case.allow_origin!r}"
                )
    finally:
        connection.close()


def run_load(port: int, connections: int, seconds: float) -> tuple[Tally, float]:
    deadline = time.monotonic() + seconds
    tallies = [Tally() for _ in range(connections)]
    threads = [
        threading.Thread(
            target=run_connection, args=(port, index, deadline, tally), daemon=True
        )
        for index, tally in enumerate(tallies)
    ]

    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0) + JOIN_GRACE_SECONDS)
    elapsed = time.monotonic() - start

    stuck = sum(thread.is_alive() for thread in threads)
    total = Tally()
    for tally in tallies:
        total.add(tally)
    if stuck:
        total.errors.append(f"{stuck} client threads still running after the run")
    return total, elapsed


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    workers = ("--workers", "2", "--worker-class", "gthread", "--threads", "8")
    with gunicorn(
        "tests.served_apps:fhir_app", extra_args=(*workers, "--keep-alive", "30")
    ) as bound:
        yield bound


def test_load_all_correct(port: int) -> None:
    seconds = positive_setting("LOAD_SECONDS", 5.0)
    connections = int(positive_setting("LOAD_CONNECTIONS", 8))

    total, elapsed = run_load(port, connections, seconds)

    rate = total.requests / elapsed
    print(
        f"\nload: {total.requests} requests in {elapsed:.1f} s over {connections} "
        f"connections, {rate:.0f} requests/s, {len(total.errors)} errors, "
        f"{len(total.wrong)} wrong answers"
    )
    assert total.requests > 0
    assert total.errors == [], total.errors[:MAX_REPORTED_FAILURES]
    assert total.wrong == [], total.wrong[:MAX_REPORTED_FAILURES]
