"""Load phase: the app under gunicorn on loopback, driven by wrk.

Every server listens on 127.0.0.1 only, every wrk run is bounded by ``-d``, and
every gunicorn master is stopped through its PID.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from contenders import APP_ORIGIN, BARE
from workloads import PATIENT_PATH

HOST = "127.0.0.1"
BENCHMARKS_DIR = Path(__file__).resolve().parent
WORKERS = 2
WRK_THREADS = 2
WRK_CONNECTIONS = 20
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# A discarded wrk run per server first, so no contender pays for a cold start.
WARMUP_S = 2

LOAD_SCRIPTS = {
    "get-allowed": f"""
wrk.method = "GET"
wrk.headers["Origin"] = "{APP_ORIGIN}"
wrk.headers["Accept"] = "application/fhir+json"
wrk.headers["Authorization"] = "Bearer benchmark"
""",
    "preflight-allowed": f"""
wrk.method = "OPTIONS"
wrk.headers["Origin"] = "{APP_ORIGIN}"
wrk.headers["Access-Control-Request-Method"] = "PUT"
wrk.headers["Access-Control-Request-Headers"] = "authorization,content-type"
""",
}


@dataclass
class LoadResult:
    """One wrk run against one contender."""

    contender: str
    workload: str
    requests_per_s: float
    latency_avg_ms: float
    latency_p50_ms: float
    latency_p99_ms: float
    non_2xx: int
    socket_errors: str
    command: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def check_tools() -> None:
    """Raise RuntimeError when wrk or gunicorn is missing."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk not found on PATH; install the Debian package wrk")

    try:
        import gunicorn  # noqa: F401
    except ImportError as error:
        raise RuntimeError("gunicorn is not installed; pip install gunicorn") from error


def run_load_phase(contenders: list[str], seconds: int) -> list[LoadResult]:
    """Run every load script against each contender, one gunicorn at a time."""
    check_tools()
    results = []
    with tempfile.TemporaryDirectory(prefix="fhir-cors-bench-") as tmp:
        scripts = _write_scripts(Path(tmp))
        for contender in contenders:
            results += _load_one_contender(contender, scripts, seconds, Path(tmp))
    return results


def _write_scripts(directory: Path) -> dict[str, Path]:
    scripts = {}
    for workload, source in LOAD_SCRIPTS.items():
        path = directory / f"{workload}.lua"
        path.write_text(source)
        scripts[workload] = path
    return scripts


def _load_one_contender(
    contender: str, scripts: dict[str, Path], seconds: int, log_dir: Path
) -> list[LoadResult]:
    port = _free_port()
    log_path = log_dir / f"gunicorn-{contender}.log"
    server = _start_gunicorn(contender, port, log_path)
    try:
        _wait_until_ready(server, port, log_path)
        url = f"http://{HOST}:{port}{PATIENT_PATH}"
        _check_cors(contender, url)
        first_workload, first_script = next(iter(scripts.items()))
        _run_wrk(contender, first_workload, first_script, url, min(WARMUP_S, seconds))

        return [
            _run_wrk(contender, workload, script, url, seconds)
            for workload, script in scripts.items()
        ]
    finally:
        _stop(server)


def _free_port() -> int:
    # The port is released before gunicorn binds it. Another process could take
    # it in between, in which case startup fails with a clear error.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _start_gunicorn(
    contender: str, port: int, log_path: Path
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--chdir",
        str(BENCHMARKS_DIR),
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(WORKERS),
        "--worker-class",
        "sync",
        "--log-level",
        "warning",
        f"contenders:create_app({contender!r})",
    ]
    with log_path.open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def _wait_until_ready(
    server: subprocess.Popen[bytes], port: int, log_path: Path
) -> None:
    url = f"http://{HOST}:{port}{PATIENT_PATH}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited with code {server.returncode} before serving; "
                f"log:\n{log_path.read_text()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise RuntimeError(
        f"gunicorn on port {port} did not serve {url} within {STARTUP_TIMEOUT_S} s"
    )


def _check_cors(contender: str, url: str) -> None:
    """Raise RuntimeError unless the served app's CORS matches the contender."""
    request = urllib.request.Request(url, headers={"Origin": APP_ORIGIN})
    with urllib.request.urlopen(request, timeout=5.0) as response:
        allow_origin = response.headers.get("Access-Control-Allow-Origin")

    expected = None if contender == BARE else APP_ORIGIN
    if allow_origin != expected:
        raise RuntimeError(
            f"{contender} under gunicorn sent Access-Control-Allow-Origin "
            f"{allow_origin!r}, expected {expected!r}"
        )


def _stop(server: subprocess.Popen[bytes]) -> None:
    # SIGTERM to the master PID makes gunicorn stop its workers too.
    if server.poll() is not None:
        return

    server.terminate()
    try:
        server.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=STOP_TIMEOUT_S)


def _run_wrk(
    contender: str, workload: str, script: Path, url: str, seconds: int
) -> LoadResult:
    command = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{WRK_CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"wrk failed with code {completed.returncode}: {completed.stderr.strip()}"
        )

    return _parse_wrk(contender, workload, completed.stdout, " ".join(command))


def _parse_wrk(contender: str, workload: str, output: str, command: str) -> LoadResult:
    requests = re.search(r"Requests/sec:\s+([\d.]+)", output)
    average = re.search(r"Latency\s+([\d.]+)(us|ms|s)\b", output)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", output)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", output)
    if requests is None or average is None or p50 is None or p99 is None:
        raise RuntimeError(f"could not parse wrk output:\n{output}")

    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors:\s*(.+)", output)
    return LoadResult(
        contender=contender,
        workload=workload,
        requests_per_s=float(requests.group(1)),
        latency_avg_ms=_to_ms(average),
        latency_p50_ms=_to_ms(p50),
        latency_p99_ms=_to_ms(p99),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=socket_errors.group(1).strip() if socket_errors else "",
        command=command,
    )


def _to_ms(match: re.Match[str]) -> float:
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return float(match.group(1)) * scale[match.group(2)]
