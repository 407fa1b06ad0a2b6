"""In-process timing: WSGI calls with prebuilt environs, in interleaved blocks.

A block sends one workload to one contender a fixed number of times. Within a
repeat, the blocks of one workload run back to back for every contender, in an
order that rotates between repeats, so neighbouring blocks share the machine's
noise. A ratio is the median over repeats of the ratio between two blocks of
the same repeat.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from contenders import (
    BARE,
    CONTENDERS,
    PRODUCT,
    CorsConfig,
    Environ,
    WSGIApp,
    create_app,
    create_fhir_app,
    wrap_product,
)
from workloads import Workload, many_origins

MIN_BLOCK_ITERATIONS = 5
WARMUP_ITERATIONS = 20
ALLOW_ORIGIN = "access-control-allow-origin"


@dataclass
class Measurements:
    """Per-request times in ns, one per repeat, keyed by workload then contender."""

    times: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    iterations: dict[str, dict[str, int]] = field(default_factory=dict)
    responses: dict[str, dict[str, str]] = field(default_factory=dict)

    def median_us(self, workload: str, contender: str) -> float:
        return statistics.median(self.times[workload][contender]) / 1000

    def ratio(
        self,
        workload: str,
        contender: str,
        reference: str,
        reference_workload: str | None = None,
    ) -> float:
        """Return the median over repeats of contender time / reference time.

        The reference is another contender on the same workload, or the same
        contender on ``reference_workload``.
        """
        ours = self.times[workload][contender]
        theirs = self.times[reference_workload or workload][reference]
        return statistics.median(a / b for a, b in zip(ours, theirs))


# --- one request --------------------------------------------------------------


def discard_start_response(
    status: str, headers: list[tuple[str, str]], exc_info: Any = None
) -> Callable[[bytes], None]:
    return discard_write


def discard_write(data: bytes) -> None:
    return None


def call_once(
    app: WSGIApp, environ: Environ, body: bytes
) -> tuple[str, list[tuple[str, str]]]:
    """Send one request and return its status line and headers."""
    captured: dict[str, Any] = {}

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        captured["status"] = status
        captured["headers"] = headers
        return discard_write

    request_environ = environ.copy()
    request_environ["wsgi.input"] = BytesIO(body)
    result = app(request_environ, start_response)
    try:
        b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured["status"], captured["headers"]


def check_response(app: WSGIApp, workload: Workload, contender: str) -> str:
    """Verify one response of each distinct kind and return a summary of it.

    Raises RuntimeError when a contender is configured so that it does not
    allow or reject the origin the workload expects. Checking this keeps the
    contenders' configurations equivalent.
    """
    # The first and last environs differ when the workload rotates origins.
    samples = [workload.environs[0]]
    if len(workload.environs) > 1:
        samples.append(workload.environs[-1])

    summary = ""
    for environ in samples:
        status, headers = call_once(app, environ, workload.body)
        summary = _summarize(status, headers)
        problem = _find_problem(workload, contender, environ, status, headers)
        if problem:
            raise RuntimeError(f"{contender} on {workload.name}: {problem} ({summary})")
    return summary


def _summarize(status: str, headers: list[tuple[str, str]]) -> str:
    code = status.split()[0]
    has_allow_origin = any(name.lower() == ALLOW_ORIGIN for name, _ in headers)
    return f"{code} + CORS" if has_allow_origin else code


def _find_problem(
    workload: Workload,
    contender: str,
    environ: Environ,
    status: str,
    headers: list[tuple[str, str]],
) -> str:
    code = status.split()[0]
    origin = environ.get("HTTP_ORIGIN")
    allow_origin = [value for name, value in headers if name.lower() == ALLOW_ORIGIN]

    if not workload.is_preflight and code != "200":
        return f"expected status 200, got {status}"

    if contender == BARE:
        return ""

    if workload.is_allowed and allow_origin != [origin]:
        return f"expected Access-Control-Allow-Origin {origin!r}, got {allow_origin}"

    if not workload.is_allowed and allow_origin:
        return f"expected no Access-Control-Allow-Origin, got {allow_origin}"

    # flask-fhir-cors promises 204 for an allowed preflight and 403 otherwise.
    if contender == PRODUCT and workload.is_preflight:
        expected = "204" if workload.is_allowed else "403"
        if code != expected:
            return f"expected preflight status {expected}, got {status}"

    return ""


# --- timing -------------------------------------------------------------------


def time_requests(app: WSGIApp, workload: Workload, iterations: int) -> float:
    """Send ``iterations`` requests and return the mean time per request in ns.

    Each request gets a copy of a prebuilt environ and a fresh ``wsgi.input``,
    and its response body is consumed and closed, as a WSGI server would do.
    Garbage collection is off during the block, as in ``timeit``.
    """
    environs = workload.environs
    environ_count = len(environs)
    body = workload.body
    start_response = discard_start_response

    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for i in range(iterations):
            environ = environs[i % environ_count].copy()
            environ["wsgi.input"] = BytesIO(body)
            result = app(environ, start_response)
            for _chunk in result:
                pass
            close = getattr(result, "close", None)
            if close is not None:
                close()
        elapsed = time.perf_counter_ns() - start
    finally:
        if gc_was_enabled:
            gc.enable()

    return elapsed / iterations


def calibrate(
    app: WSGIApp, workload: Workload, iterations: int, budget_s: float
) -> int:
    """Warm the contender up and return its block size for this workload.

    The block size is ``iterations``, lowered so that one block takes about
    ``budget_s`` at most.
    """
    warmup = min(WARMUP_ITERATIONS, iterations)
    per_request_ns = time_requests(app, workload, warmup)
    affordable = int(budget_s * 1e9 / per_request_ns)
    return max(MIN_BLOCK_ITERATIONS, min(iterations, affordable))


def rotated(items: Sequence[str], shift: int) -> list[str]:
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


def measure_workloads(
    workloads: list[Workload], repeats: int, iterations: int, budget_s: float
) -> Measurements:
    """Check, calibrate and time every contender on every workload."""
    apps: dict[tuple[str, CorsConfig], WSGIApp] = {}
    measurements = Measurements()
    for workload in workloads:
        measurements.times[workload.name] = {}
        measurements.iterations[workload.name] = {}
        measurements.responses[workload.name] = {}
        for contender in CONTENDERS:
            key = (contender, workload.config)
            if key not in apps:
                apps[key] = create_app(contender, workload.config)
            app = apps[key]

            response = check_response(app, workload, contender)
            count = calibrate(app, workload, iterations, budget_s)
            measurements.responses[workload.name][contender] = response
            measurements.iterations[workload.name][contender] = count
            measurements.times[workload.name][contender] = []

    for repeat in range(repeats):
        gc.collect()
        started = time.monotonic()
        for workload in workloads:
            for contender in rotated(CONTENDERS, repeat):
                app = apps[(contender, workload.config)]
                count = measurements.iterations[workload.name][contender]
                per_request = time_requests(app, workload, count)
                measurements.times[workload.name][contender].append(per_request)
        elapsed = time.monotonic() - started
        print(f"repeat {repeat + 1}/{repeats} took {elapsed:.1f} s", file=sys.stderr)

    return measurements


# --- building a policy ----------------------------------------------------------


@dataclass
class BuildResult:
    """Time and memory to build a flask-fhir-cors policy and middleware."""

    origin_count: int
    median_s: float
    retained_bytes: int
    peak_bytes: int


def measure_policy_build(repeats: int, origin_count: int) -> BuildResult:
    """Time ``CORSPolicy`` plus ``CORSMiddleware`` for ``origin_count`` origins.

    The origin strings exist before timing starts, so neither the time nor the
    memory figure includes them. Memory comes from one extra, untimed build
    under tracemalloc. Retained is what the policy and middleware keep alive,
    and peak is the maximum allocated while building.
    """
    config = many_origins(origin_count)
    app = create_fhir_app().wsgi_app
    durations = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        wrap_product(app, config)
        durations.append((time.perf_counter_ns() - start) / 1e9)

    gc.collect()
    tracemalloc.start()
    try:
        middleware = wrap_product(app, config)
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del middleware

    return BuildResult(origin_count, statistics.median(durations), retained, peak)
