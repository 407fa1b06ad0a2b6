"""Benchmark flask-fhir-cors against a bare app, a minimal floor and its peers.

The in-process phase (see ``timing.py``) calls each contender's WSGI callable
directly with prebuilt environs. The load phase (see ``loadtest.py``) runs the
app under gunicorn on 127.0.0.1 and drives it with wrk.

Usage::

    python benchmarks/bench.py                 # full run with PASS/MISS lines
    python benchmarks/bench.py --smoke         # every workload, tiny counts
    python benchmarks/bench.py --json out.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from contenders import BARE, FLASK_CORS, FLOOR, PRODUCT
from loadtest import run_load_phase
from report import Target, describe_environment, format_tables, write_json
from timing import BuildResult, Measurements, measure_policy_build, measure_workloads
from workloads import SCALE_COMPARISONS, build_base_workloads, build_scale_workloads

DEFAULT_REPEATS = 7
DEFAULT_ITERATIONS = 5_000
DEFAULT_GUNICORN_SECONDS = 10
# Caps one block's duration, so that slow contenders (linear scans over
# 10,000 origins) run fewer requests per block instead of stretching the run.
DEFAULT_BLOCK_BUDGET_S = 0.3
SMOKE_ITERATIONS = 10
BUILD_ORIGIN_COUNT = 10_000

ACTUAL_REQUEST_LIMIT = 1.03
PREFLIGHT_FLOOR_LIMIT = 2.5
SCALE_LIMIT = 1.05
BUILD_LIMIT_S = 1.0

ACTUAL_WORKLOADS = ("get-allowed", "put-allowed", "get-disallowed", "get-no-origin")
PREFLIGHT_WORKLOADS = ("preflight-allowed", "preflight-disallowed")
LOAD_CONTENDERS = [BARE, FLASK_CORS, PRODUCT]


# --- targets ------------------------------------------------------------------


def evaluate_targets(measurements: Measurements, build: BuildResult) -> list[Target]:
    targets = []
    for workload in ACTUAL_WORKLOADS:
        ratio = measurements.ratio(workload, PRODUCT, BARE)
        targets.append(Target(f"{workload} vs bare", ratio, ACTUAL_REQUEST_LIMIT))

    for workload in PREFLIGHT_WORKLOADS:
        ratio = measurements.ratio(workload, PRODUCT, FLOOR)
        targets.append(Target(f"{workload} vs floor", ratio, PREFLIGHT_FLOOR_LIMIT))

    for workload, one_origin, has_target in SCALE_COMPARISONS:
        if has_target:
            ratio = measurements.ratio(workload, PRODUCT, PRODUCT, one_origin)
            name = f"{workload} vs {one_origin}"
            targets.append(Target(name, ratio, SCALE_LIMIT))

    name = f"build policy of {build.origin_count:,} origins"
    targets.append(Target(name, build.median_s, BUILD_LIMIT_S, unit=" s"))
    return targets


# --- command line -------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=(
            f"run every workload once with {SMOKE_ITERATIONS} requests per block "
            "and no load phase, without PASS/MISS lines; exits 0 when it works"
        ),
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        help="timed blocks per contender and workload (default: %(default)s)",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=DEFAULT_ITERATIONS,
        help="maximum requests per timed block (default: %(default)s)",
    )
    parser.add_argument(
        "--block-seconds",
        type=float,
        default=DEFAULT_BLOCK_BUDGET_S,
        help=(
            "approximate maximum duration of one timed block in seconds; slower "
            "contenders run fewer requests (default: %(default)s)"
        ),
    )
    parser.add_argument(
        "--gunicorn-seconds",
        type=int,
        default=DEFAULT_GUNICORN_SECONDS,
        help=(
            "wrk duration per contender and workload in seconds; 0 skips the "
            "load phase (default: %(default)s)"
        ),
    )
    parser.add_argument(
        "--json", metavar="OUT", help="also write all figures to this JSON file"
    )
    args = parser.parse_args(argv)

    if args.repeats < 1 or args.iterations < 1:
        parser.error("--repeats and --iterations must be at least 1")
    if args.gunicorn_seconds < 0:
        parser.error("--gunicorn-seconds must be 0 or more")

    if args.smoke:
        args.repeats = 1
        args.iterations = SMOKE_ITERATIONS
        args.gunicorn_seconds = 0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    environment = describe_environment()
    workloads = build_base_workloads() + build_scale_workloads()

    measurements = measure_workloads(
        workloads, args.repeats, args.iterations, args.block_seconds
    )
    build = measure_policy_build(args.repeats, BUILD_ORIGIN_COUNT)
    load = []
    if args.gunicorn_seconds > 0:
        load = run_load_phase(LOAD_CONTENDERS, args.gunicorn_seconds)

    targets = evaluate_targets(measurements, build)
    print(_format_environment(environment, args))
    print()
    print(format_tables(workloads, measurements, build, load))
    if not args.smoke:
        print()
        print("\n".join(target.line() for target in targets))

    if args.json:
        write_json(args.json, args, environment, measurements, build, targets, load)
    return 0


def _format_environment(environment: dict[str, str], args: argparse.Namespace) -> str:
    lines = [f"{key}: {value}" for key, value in environment.items()]
    lines.append(
        f"repeats: {args.repeats}, max iterations per block: {args.iterations}, "
        f"block budget: {args.block_seconds} s, wrk seconds: {args.gunicorn_seconds}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
