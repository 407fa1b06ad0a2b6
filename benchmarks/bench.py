"""Benchmark flask-fhir-cors against a bare app, a minimal floor and its peers.

The in-process phase calls each contender's WSGI callable directly with
prebuilt environs. Each timed block sends the same workload to one contender,
and the blocks of one workload run back to back for every contender, so
neighbouring blocks share the machine's noise. Figures are medians over
``--repeats`` blocks, and ratios are medians of the per-repeat ratios of
neighbouring blocks.

The load phase runs the app under gunicorn on 127.0.0.1 and drives it with wrk.

Usage::

    python benchmarks/bench.py                 # full run, prints PASS/MISS
    python benchmarks/bench.py --smoke         # every workload, tiny counts
    python benchmarks/bench.py --json out.json
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from io import BytesIO
from typing import Any

from contenders import (
    BARE,
    CONTENDERS,
    FLASK_CORS,
    FLOOR,
    PRODUCT,
    CorsConfig,
    WSGIApp,
    create_app,
    create_fhir_app,
    wrap_product,
)
from loadtest import LoadResult, run_load_phase
from workloads import Workload, build_base_workloads, build_scale_workloads

DEFAULT_REPEATS = 7
DEFAULT_ITERATIONS = 2_000
DEFAULT_GUNICORN_SECONDS = 10
# A block stops early once it has run this long, so slow contenders (linear
# scans over 10,000 origins) cannot stretch the run.
BLOCK_BUDGET_NS = 250_000_000
MIN_BLOCK_ITERATIONS = 5
WARMUP_ITERATIONS = 20
BUILD_ORIGIN_COUNT = 10_000

ACTUAL_REQUEST_LIMIT = 1.03
PREFLIGHT_FLOOR_LIMIT = 2.5
SCALE_LIMIT = 1.05
BUILD_LIMIT_S = 1.0

ACTUAL_WORKLOADS = ("get-allowed", "put-allowed", "get-disallowed", "get-no-origin")
PREFLIGHT_WORKLOADS = ("preflight-allowed", "preflight-disallowed")
# Scaled workload, the one-origin workload it is compared with, and whether the
# scale target applies to it.
SCALE_ROWS = (
    ("get-allowed-100-origins", "get-allowed", False),
    ("get-allowed-10000-origins", "get-allowed", True),
    ("get-allowed-patterns", "get-allowed", True),
    ("get-disallowed-100-origins", "get-disallowed", False),
    ("get-disallowed-10000-origins", "get-disallowed", True),
    ("get-disallowed-patterns", "get-disallowed", True),
    ("get-disallowed-rotating", "get-disallowed", True),
)
LOAD_CONTENDERS = [BARE, FLASK_CORS, PRODUCT]


@dataclass
class Measurements:
    """Nanoseconds per request: ``times[workload][contender]`` has one per repeat."""

    times: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    iterations: dict[str, dict[str, int]] = field(default_factory=dict)
    statuses: dict[str, dict[str, str]] = field(default_factory=dict)

    def median_us(self, workload: str, contender: str) -> float:
        return statistics.median(self.times[workload][contender]) / 1000

    def paired_ratio(
        self, workload: str, contender: str, reference: str, reference_workload: str = ""
    ) -> float:
        """Return the median over repeats of contender time / reference time."""
        ours = self.times[workload][contender]
        theirs = self.times[reference_workload or workload][reference]
        return statistics.median(a / b for a, b in zip(ours, theirs))


@dataclass
class Target:
    """One performance goal and the figure measured for it."""

    name: str
    value: float
    limit: float
    unit: str

    @property
    def passed(self) -> bool:
        return self.value <= self.limit

    def line(self) -> str:
        verdict = "PASS" if self.passed else "MISS"
        return f"{verdict}  {self.name}: {self.value:.3f}{self.unit} (limit {self.limit}{self.unit})"


