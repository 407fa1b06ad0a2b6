"""Results output: reStructuredText tables, PASS/MISS lines, environment, JSON."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

from contenders import BARE, CONTENDERS, FLOOR
from loadtest import LoadResult
from timing import BuildResult, Measurements
from workloads import SCALE_COMPARISONS, Workload

import flask_fhir_cors


@dataclass
class Target:
    """One performance goal and the figure measured for it."""

    name: str
    value: float
    limit: float
    unit: str = "x"

    @property
    def passed(self) -> bool:
        return self.value <= self.limit

    def line(self) -> str:
        verdict = "PASS" if self.passed else "MISS"
        figure = f"{self.value:.3f}{self.unit}"
        return f"{verdict}  {self.name}: {figure} (limit {self.limit}{self.unit})"


# --- output -------------------------------------------------------------------


def rst_table(header: list[str], rows: list[list[str]]) -> str:
    """Format a reStructuredText simple table."""
    widths = [len(cell) for cell in header]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row)]

    rule = "  ".join("=" * width for width in widths)
    lines = [rule, _rst_row(header, widths), rule]
    lines += [_rst_row(row, widths) for row in rows]
    lines.append(rule)
    return "\n".join(lines)


def _rst_row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()


def format_tables(
    workloads: list[Workload],
    measurements: Measurements,
    build: BuildResult,
    load: list[LoadResult],
) -> str:
    sections = [
        ("Workloads", _workload_table(workloads)),
        ("Time per request, µs (median)", _absolute_table(workloads, measurements)),
        ("Ratio against bare", _ratio_table(workloads, measurements, BARE)),
        ("Ratio against floor", _ratio_table(workloads, measurements, FLOOR)),
        ("Ratio against the one-origin time", _scale_table(measurements)),
        ("Response observed", _response_table(workloads, measurements)),
        ("Building a policy", _build_table(build)),
    ]
    if load:
        sections.append(("gunicorn + wrk", _load_table(load)))
    return "\n\n".join(f"{title}\n\n{table}" for title, table in sections)


def _workload_table(workloads: list[Workload]) -> str:
    rows = [[workload.name, workload.description] for workload in workloads]
    return rst_table(["workload", "request and policy"], rows)


def _absolute_table(workloads: list[Workload], measurements: Measurements) -> str:
    rows = []
    for workload in workloads:
        row = [workload.name]
        row += [f"{measurements.median_us(workload.name, c):.2f}" for c in CONTENDERS]
        rows.append(row)
    return rst_table(["workload", *CONTENDERS], rows)


def _ratio_table(
    workloads: list[Workload], measurements: Measurements, reference: str
) -> str:
    others = [c for c in CONTENDERS if c != reference]
    rows = []
    for workload in workloads:
        row = [workload.name]
        row += [
            f"{measurements.ratio(workload.name, c, reference):.3f}" for c in others
        ]
        rows.append(row)
    return rst_table(["workload", *others], rows)


def _scale_table(measurements: Measurements) -> str:
    rows = []
    for workload, one_origin, _ in SCALE_COMPARISONS:
        row = [workload]
        for contender in CONTENDERS:
            ratio = measurements.ratio(workload, contender, contender, one_origin)
            row.append(f"{ratio:.3f}")
        rows.append(row)
    return rst_table(["workload", *CONTENDERS], rows)


def _response_table(workloads: list[Workload], measurements: Measurements) -> str:
    rows = []
    for workload in workloads:
        responses = measurements.responses[workload.name]
        rows.append([workload.name, *(responses[c] for c in CONTENDERS)])
    return rst_table(["workload", *CONTENDERS], rows)


def _build_table(build: BuildResult) -> str:
    row = [
        f"{build.origin_count:,}",
        f"{build.median_s * 1000:.1f}",
        f"{build.retained_bytes / 1024:,.0f}",
        f"{build.peak_bytes / 1024:,.0f}",
    ]
    return rst_table(
        ["origins", "time, ms (median)", "retained, KiB", "peak, KiB"], [row]
    )


def _load_table(load: list[LoadResult]) -> str:
    rows = []
    for result in load:
        rows.append(
            [
                result.workload,
                result.contender,
                f"{result.requests_per_s:,.0f}",
                f"{result.latency_avg_ms:.2f}",
                f"{result.latency_p50_ms:.2f}",
                f"{result.latency_p99_ms:.2f}",
                str(result.non_2xx),
            ]
        )
    header = ["workload", "contender", "req/s", "avg ms", "p50 ms", "p99 ms", "non-2xx"]
    return rst_table(header, rows)


# --- environment --------------------------------------------------------------


def describe_environment() -> dict[str, str]:
    """Return the machine, Python and package versions the figures came from."""
    packages = [
        "flask",
        "werkzeug",
        "flask-cors",
        "wsgicors",
        "flask-fhir-cors",
        "gunicorn",
    ]
    environment = {
        "cpus": str(len(os.sched_getaffinity(0))),
        "cpu_model": _cpu_model(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "wrk": _wrk_version(),
        "flask-fhir-cors source sha256": _product_source_digest(),
    }
    for package in packages:
        environment[package] = version(package)
    return environment


def _product_source_digest() -> str:
    # The package version stays 0.1.0 while its code changes, so the digest of
    # its Python files identifies the code that was measured.
    package_dir = Path(flask_fhir_cors.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        digest.update(path.relative_to(package_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _cpu_model() -> str:
    if shutil.which("lscpu") is None:
        return platform.processor() or "unknown"

    output = subprocess.run(
        ["lscpu"], capture_output=True, text=True, check=False
    ).stdout
    for line in output.splitlines():
        if line.startswith("Model name:"):
            return line.partition(":")[2].strip()
    return "unknown"


def _wrk_version() -> str:
    if shutil.which("wrk") is None:
        return "not found"

    # wrk prints its version above the usage text and exits with status 1.
    completed = subprocess.run(
        ["wrk", "--version"], capture_output=True, text=True, check=False
    )
    return (completed.stdout or completed.stderr).splitlines()[0].strip()


def write_json(
    path: str,
    args: argparse.Namespace,
    environment: dict[str, str],
    measurements: Measurements,
    build: BuildResult,
    targets: list[Target],
    load: list[LoadResult],
) -> None:
    document = {
        "command": " ".join(sys.argv),
        "arguments": vars(args),
        "environment": environment,
        "ns_per_request": measurements.times,
        "iterations_per_block": measurements.iterations,
        "responses": measurements.responses,
        "build": asdict(build),
        "targets": [{**asdict(target), "passed": target.passed} for target in targets],
        "load": [result.to_json() for result in load],
    }
    with open(path, "w", encoding="utf-8") as output:
        json.dump(document, output, indent=2)
        output.write("\n")
