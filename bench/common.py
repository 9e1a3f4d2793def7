"""What the benchmarks share: the machine (GPU included), GPU sampling, Postgres counters, statistics, JSON output.

Not a benchmark itself; the scripts in bench/ import it (they put bench/ on sys.path by being run as scripts:
`.venv/bin/python bench/polling.py`). Ports and throwaway databases come from tests/helpers.py, as in the tests.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
if str(REPO) not in sys.path:  # `app` and `tests.helpers` importable even without the editable install
    sys.path.insert(0, str(REPO))

from tests import helpers

POSTGRES_ADMIN_URL = os.environ.get("FLASHJOBS_BENCH_POSTGRES", helpers.POSTGRES_ADMIN_URL)

# Six metrics on each split: the twelve series a Flash classification job reports per epoch.
METRIC_NAMES = ("accuracy", "f1", "auroc", "loss", "precision", "recall")
SERIES = tuple(f"{split}_{name}" for split in ("train", "val") for name in METRIC_NAMES)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    """nproc, CPU model, RAM, Python, OS, date: what a reader needs to compare two runs."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:  # which code was measured (the app under test, and these scripts)
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "app", "migrations"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        info["git_commit"] = head + (" (app/ or migrations/ modified)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        import sqlite3

        info["sqlite"] = sqlite3.sqlite_version
    except ImportError:
        pass
    try:
        out = subprocess.run(["psql", "--version"], capture_output=True, text=True, timeout=5).stdout.strip()
        info["postgres_client"] = out
    except (OSError, subprocess.SubprocessError):
        pass
    gpus = _nvidia_smi("name,memory.total,driver_version")
    if gpus:
        info["gpus"] = gpus
    return info


def _nvidia_smi(fields: str) -> list[str] | None:
    """One CSV line per GPU from nvidia-smi, or None where there is no NVIDIA GPU (or no nvidia-smi)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else None


class GpuSampler:
    """Samples GPU 0's utilisation and memory every 100 ms while in the `with` block; a no-op without a GPU.

    nvidia-smi's `utilization.gpu` is the share of time a kernel was running: it says whether the GPU waited
    for input, not how well the kernels use it.
    """

    def __init__(self, interval_ms: int = 100) -> None:
        self.interval_ms = interval_ms
        self.samples: list[tuple[float, float]] = []
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> GpuSampler:
        if _nvidia_smi("index") is not None:
            self._process = subprocess.Popen(
                [
                    "nvidia-smi",
                    "--id=0",
                    "--query-gpu=utilization.gpu,memory.used",
                    "--format=csv,noheader,nounits",
                    f"--loop-ms={self.interval_ms}",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._process is None:
            return
        self._process.terminate()
        out, _ = self._process.communicate(timeout=10)
        for line in out.splitlines():
            try:
                utilisation, memory = (float(v) for v in line.split(","))
            except ValueError:
                continue
            self.samples.append((utilisation, memory))

    def summary(self) -> dict[str, float] | None:
        """Mean and median utilisation (%) and peak memory (MiB) over the block; None without a GPU."""
        if not self.samples:
            return None
        utilisation = [u for u, _ in self.samples]
        return {
            "samples": len(utilisation),
            "utilisation_mean_pct": round(statistics.fmean(utilisation), 1),
            "utilisation_median_pct": statistics.median(utilisation),
            "memory_peak_mib": max(m for _, m in self.samples),
        }


def reachable_backends(spec: str) -> list[str]:
    """The comma-separated backends of `spec` ("sqlite,postgres"), without Postgres where none answers."""
    backends = [b for b in spec.split(",") if b]
    if "postgres" in backends and not helpers.postgres_reachable(POSTGRES_ADMIN_URL):
        print("no Postgres at 127.0.0.1:5432: skipping it", flush=True)
        backends.remove("postgres")
    return backends


class postgres_sessions_counter:  # used like a function
    """Calling it gives how many connections the database `name` has accepted so far (pg_stat_database.sessions,
    Postgres 14+): the difference over a run is how many connections the app opened during it."""

    def __init__(self, name: str) -> None:
        import sqlalchemy as sa

        self.name = name
        self.engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.StaticPool)
        self.query = sa.text("SELECT sessions FROM pg_stat_database WHERE datname = :name")

    def __call__(self) -> int:
        with self.engine.connect() as conn:
            # the statistics snapshot is per transaction; a fresh read each call
            conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            return int(conn.execute(self.query, {"name": self.name}).scalar_one())

    def dispose(self) -> None:
        self.engine.dispose()


def postgres_server_version() -> str:
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_ADMIN_URL)
    with admin.connect() as conn:
        version = conn.execute(sa.text("SHOW server_version")).scalar_one()
    admin.dispose()
    return str(version)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def summarize_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Median, p99, min, mean of a list of durations in seconds, reported in milliseconds."""
    values = sorted(s * 1000 for s in seconds)
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 4),
        "p99_ms": round(percentile(values, 99), 4),
        "min_ms": round(values[0], 4),
        "mean_ms": round(statistics.fmean(values), 4),
    }


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    return path
