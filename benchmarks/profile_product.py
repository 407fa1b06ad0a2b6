"""Profile flask-fhir-cors's middleware alone on one or more workloads.

The middleware wraps a trivial WSGI app that returns a fixed JSON body, so the
profile shows the middleware's own functions instead of Flask's. Usage::

    python benchmarks/profile_product.py get-allowed preflight-allowed
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from collections.abc import Iterable, Sequence

from contenders import Environ, StartResponse, wrap_product
from timing import time_requests
from workloads import Workload, build_base_workloads, build_scale_workloads

DEFAULT_REQUESTS = 100_000
DEFAULT_LINES = 15


def fixed_json_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    headers = [("Content-Type", "application/fhir+json"), ("Content-Length", "2")]
    start_response("200 OK", headers)
    return [b"{}"]


def profile_workload(workload: Workload, requests: int, lines: int) -> None:
    middleware = wrap_product(fixed_json_app, workload.config)
    profiler = cProfile.Profile()
    profiler.enable()
    time_requests(middleware, workload, requests)
    profiler.disable()

    print(f"== {workload.name}: {requests:,} requests, trivial inner app")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.strip_dirs().sort_stats("tottime").print_stats(lines)


def main(argv: Sequence[str] | None = None) -> int:
    workloads = {w.name: w for w in build_base_workloads() + build_scale_workloads()}
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("workloads", nargs="+", choices=sorted(workloads))
    parser.add_argument(
        "--requests",
        type=int,
        default=DEFAULT_REQUESTS,
        help="requests per workload (default: %(default)s)",
    )
    parser.add_argument(
        "--lines",
        type=int,
        default=DEFAULT_LINES,
        help="functions to list, by own time (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    for name in args.workloads:
        profile_workload(workloads[name], args.requests, args.lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
