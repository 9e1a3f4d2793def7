"""Polling under load: GET /v1/jobs/{id}/metrics against GET /healthz on the same server.

What it measures
    The real API (`uvicorn app.main:app`, one process, as `flashjobs up` serves it; the reconciler loop off
    with FLASHJOBS_RECONCILE_IN_API=false so that nothing else runs in it) against a real database holding a
    running job with 50 epochs x 12 series (recorded through app.metrics.service.record_epoch: 600 rows) and
    100 other jobs of the same size (bulk-inserted: 60,000 rows; 50 running, 50 finished), plus the bundled
    redis-server.
    A separate load-generator process (`wrk -t1`, or a small asyncio client where wrk is missing) keeps
    `--clients` connections (default 32) busy on one endpoint at a time, loopback only:

        healthz        GET /healthz                                  (the baseline: same server, no SQL)
        metrics        GET /v1/jobs/{id}/metrics                     (the full curves, 200, 24 kB)
        metrics_304    the same with If-None-Match: <its ETag>       (304, no body)
        since_last     GET /v1/jobs/{id}/metrics?since_epoch=<last>  (one epoch, 200)
        metrics_many_running   each request the full curves of another of 50 running jobs, in turn: no two
                       concurrent polls are for the same curve, so none can share a read; each is answered from
                       memory while no job-changed notice came for its job, up to TRUST_S (app/metrics/polling.py)
        metrics_many_finished  the same over 50 finished jobs (answered from memory once cached)
        job            GET /v1/jobs/{id}                             (the status poll: the job's view, 200)
        job_many_running       each request the view of another of the 50 running jobs, in turn
        jobs_list      GET /v1/jobs?status=running&limit=20          (a page of 20 job views, read from SQL)

    metrics, metrics_304, since_last and job have all clients watching one job (a dashboard many people have
    open); the *_many_* endpoints, every client a different job.

    In `--rounds` rounds (default 2) of `--duration` seconds (default 2) per endpoint, each endpoint's ratio is
    taken against the /healthz slice of its own round, seconds earlier, and the median over rounds reported:
    the machine is shared, absolute throughput drifts, ratios hold. Per endpoint: requests/s, the ratio (target
    >= 0.5), p50/p99 latency, the server's CPU ms per request (from /proc), and on Postgres how many new
    database connections the server opened.
    Also per server: a trainer heartbeat (a write transaction, app.jobs.service.heartbeat) every 100 ms from
    this process during the metrics slices, timed (what polling costs the writers); and overload runs,
    `--overload-clients` (default 100, more than the 40 threadpool threads) on /metrics and on GET
    /v1/jobs/{id}, each followed by one /healthz: does the server keep answering?

    Backends: SQLite (the embedded default: a file in a temporary state dir) and Postgres (a throwaway
    database on 127.0.0.1:5432, dropped afterwards; skipped if no server answers).

    Until 437f2b5 this script could also start the app with candidate changes patched in ("variants"); those
    changes are all in app/ now, and docs/benchmarks.md keeps what each one measured.

How to run
    .venv/bin/python bench/polling.py                     # SQLite + Postgres, ~3 min
    .venv/bin/python bench/polling.py --rounds 3          # what docs/benchmarks.md reports, ~4 min
    .venv/bin/python bench/polling.py --backends sqlite --rounds 1   # a quick look
    `wrk` comes from Debian (`apt-get install wrk`); without it the asyncio client is used (`--loadgen python`;
    it spends a CPU core itself, so its absolute numbers are lower; ratios remain comparable).

Output
    bench/results/polling.json (or --output NAME): machine, load average at start and end, config, and per
    backend the per-endpoint figures with every round. docs/benchmarks.md gives a run's figures.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from app.jobs.status import JobStatus

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

from tests.helpers import create_postgres_database, drop_postgres_database, free_port

ENDPOINTS = (
    "healthz",
    "metrics",
    "metrics_304",
    "since_last",
    "metrics_many_running",
    "metrics_many_finished",
    "job",
    "job_many_running",
    "jobs_list",
)
OVERLOAD_HEALTHZ_TIMEOUT_S = 5.0
# Every request carries the API key seed() made (the /healthz baseline too, so both parse the same header).
AUTH: dict[str, str] = {}

WRK_SCRIPT = r"""
local auth = os.getenv("BENCH_AUTHORIZATION")
if auth ~= nil and auth ~= "" then wrk.headers["Authorization"] = auth end
local inm = os.getenv("BENCH_IF_NONE_MATCH")
if inm ~= nil and inm ~= "" then wrk.headers["If-None-Match"] = inm end
local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS") or "", "[^,]+") do table.insert(paths, p) end
local i = 0
if #paths > 0 then
  request = function()
    i = i % #paths + 1
    return wrk.format(nil, paths[i])
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
"""


# ----------------------------------------------------------------------------------------------- seeding


def seed(url: str, *, epochs: int, other_jobs: int) -> dict[str, Any]:
    """A running job with `epochs` epochs of all SERIES (through record_epoch), and `other_jobs` finished ones."""
    import random
    from datetime import timedelta

    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from app.access import service as access
    from app.access.principal import Principal
    from app.access.scopes import Scope
    from app.core.db import make_engine, utcnow
    from app.core.migrate import upgrade
    from app.jobs import service
    from app.jobs.creation import create_chain
    from app.jobs.models import Job
    from app.jobs.schemas import JobSpec
    from app.metrics.models import Metric
    from app.metrics.service import record_epoch

    upgrade(url)
    engine = make_engine(url)
    rng = random.Random(7)
    spec = JobSpec(kind="train", dataset={"name": "cifar10"}, trainer={"max_epochs": epochs})
    started = time.perf_counter()
    try:
        with Session(engine) as session, session.begin():
            _, api_key = access.create_key(session, project="default", scope=Scope.SUBMIT, name="bench")
            principal = Principal("bench", "default", Scope.SUBMIT)
            jobs, _, _ = create_chain(session, steps=[spec] * (other_jobs + 1), loc=["body"], principal=principal)
            ids = [job.id for job in jobs]
        target, others = ids[0], ids[1:]
        # The others: whole curves, bulk-inserted; half of them finished, half still running.
        now = utcnow()
        finished, running = others[: len(others) // 2], others[len(others) // 2 :]
        with Session(engine) as session, session.begin():
            rows = [
                {
                    "job_id": job_id,
                    "epoch": e,
                    "split": s.split("_", 1)[0],
                    "name": s.split("_", 1)[1],
                    "value": rng.random(),
                    "attempt": 1,
                    "recorded_at": now - timedelta(seconds=epochs - e),
                }
                for job_id in others
                for e in range(epochs)
                for s in common.SERIES
            ]
            session.execute(insert(Metric), rows)
            counts = dict(attempt=1, epochs_done=epochs, metric_rows=epochs * len(common.SERIES))
            session.execute(
                Job.__table__.update()
                .where(Job.id.in_(finished))
                .values(status=JobStatus.SUCCEEDED, finished_at=now, **counts)
            )
            session.execute(
                Job.__table__.update()
                .where(Job.id.in_(running))
                .values(status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, owner="bench-worker", **counts)
            )
        # The target: claimed by a worker, every epoch recorded as the trainer records it.
        with Session(engine) as session, session.begin():
            assert service.claim(session, job_id=target, owner="bench-worker") is not None
        for epoch in range(epochs):
            values = {s: rng.random() for s in common.SERIES}
            with Session(engine) as session, session.begin():
                assert record_epoch(session, job_id=target, attempt=1, epoch=epoch, values=values)
    finally:
        engine.dispose()
    AUTH["Authorization"] = f"Bearer {api_key}"
    return {
        "job_id": target,
        "epochs": epochs,
        "series": len(common.SERIES),
        "other_jobs": other_jobs,
        "metric_rows": (other_jobs + 1) * epochs * len(common.SERIES),
        "seed_s": round(time.perf_counter() - started, 2),
    }


# ----------------------------------------------------------------------------------------------- the server


@contextmanager
def api_server(*, url: str, state_dir: Path, redis_url: str, log_path: Path):
    port = free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "FLASHJOBS_DATABASE_URL": url,
        "FLASHJOBS_REDIS_URL": redis_url,
        "FLASHJOBS_RECONCILE_IN_API": "false",
        "FLASHJOBS_STATE_DIR": str(state_dir),
        "FLASHJOBS_ARTIFACT_DIR": str(state_dir / "artifacts"),
        "FLASHJOBS_DATA_DIR": str(state_dir / "data"),
        "FLASHJOBS_ALLOW_DOWNLOADS": "false",
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    log = log_path.open("ab")
    proc = subprocess.Popen(cmd, cwd=common.REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        from app.stack.commands import NotReady, exit_of, wait_ready

        try:
            wait_ready(base, timeout_s=60, abort_if=exit_of(proc, "API"))
        except NotReady as exc:
            raise RuntimeError(f"{exc}:\n{log_path.read_text()[-3000:]}") from None
        yield base, proc.pid
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:  # a stalled server would wait for its stuck requests: not for long
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        log.close()


# ----------------------------------------------------------------------------------------------- load generators


def run_wrk(urls: list[str], *, clients: int, duration: float, headers: dict[str, str], script: Path) -> dict[str, Any]:
    """wrk on one URL, or round-robin over several of the same server (BENCH_PATHS)."""
    from urllib.parse import urlsplit

    paths = [urlsplit(u).path + (f"?{urlsplit(u).query}" if urlsplit(u).query else "") for u in urls]
    env = {
        **os.environ,
        "BENCH_IF_NONE_MATCH": headers.get("If-None-Match", ""),
        "BENCH_AUTHORIZATION": headers.get("Authorization", ""),
        "BENCH_PATHS": ",".join(paths) if len(paths) > 1 else "",
    }
    cmd = [
        "wrk",
        "-t1",
        f"-c{clients}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        urls[0],
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=duration + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary: {out.stdout}\n{out.stderr}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    seconds = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 3),
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": lat["p50"] / 1000,
        "p90_ms": lat["p90"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "max_ms": lat["max"] / 1000,
        "errors": raw["errors"],
        "bytes": raw["bytes"],
    }


def run_python_loadgen(urls: list[str], *, clients: int, duration: float, headers: dict[str, str]) -> dict[str, Any]:
    """The asyncio client, in its own process so that it never shares the server's interpreter."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_load",
        "--url",
        ",".join(urls),
        "--clients",
        str(clients),
        "--duration",
        str(duration),
        "--headers",
        json.dumps(headers),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _python_load(
    urls: str, clients: int, duration: float, headers: dict[str, str], max_requests: int = 2_000_000
) -> dict[str, Any]:
    """N keep-alive HTTP/1.1 connections, each sending the next request when the last answer is read; several
    comma-separated URLs (of one server) are taken in turn."""
    import itertools
    from urllib.parse import urlsplit

    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    requests = []
    for url in urls.split(","):
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        requests.append(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}\r\n".encode())
    next_request = itertools.cycle(requests).__next__
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "status": 0}
    total_bytes = 0

    async def client(deadline: float) -> None:
        nonlocal total_bytes
        try:
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        except OSError:
            errors["connect"] += 1
            return
        while time.perf_counter() < deadline and len(latencies) < max_requests:
            t0 = time.perf_counter()
            writer.write(next_request())
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length) if length else b""
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                errors["read"] += 1
                break
            latencies.append(time.perf_counter() - t0)
            total_bytes += len(head) + len(body)
            if status >= 400:
                errors["status"] += 1
        writer.close()

    async def main() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(client(start + duration) for _ in range(clients)))
        return time.perf_counter() - start

    seconds = asyncio.run(main())
    lat = sorted(x * 1000 for x in latencies)
    return {
        "requests": len(lat),
        "seconds": round(seconds, 3),
        "rps": round(len(lat) / seconds, 1),
        "p50_ms": common.percentile(lat, 50),
        "p90_ms": common.percentile(lat, 90),
        "p99_ms": common.percentile(lat, 99),
        "max_ms": lat[-1] if lat else float("nan"),
        "errors": errors,
        "bytes": total_bytes,
    }


# ----------------------------------------------------------------------------------------------- one run


def endpoint_requests(base: str, job_id: str) -> dict[str, tuple[list[str], dict[str, str], int]]:
    """Each endpoint's URLs (several are taken in turn) and headers, checked once: (urls, headers, expected status)."""
    import httpx

    metrics = f"{base}/v1/jobs/{job_id}/metrics"
    first = httpx.get(metrics, headers=AUTH, timeout=10)
    first.raise_for_status()
    etag = first.headers["etag"]
    series = first.json()["series"]
    last = max(point["epoch"] for points in series.values() for point in points)
    since = f"{metrics}?since_epoch={last}"

    # metrics_many_*: every request another job's whole curve, so no two concurrent polls can share a read: the
    # cost of a poll when every client watches a different job.
    def curves_of(status: JobStatus) -> list[str]:
        page = httpx.get(f"{base}/v1/jobs", params={"status": status, "limit": 200}, headers=AUTH, timeout=10)
        jobs = page.json()["jobs"]
        return [f"{base}/v1/jobs/{job['id']}/metrics" for job in jobs if job["id"] != job_id]

    running = curves_of(JobStatus.RUNNING)

    reqs = {
        "healthz": ([f"{base}/healthz"], {}, 200),
        "metrics": ([metrics], {}, 200),
        "metrics_304": ([metrics], {"If-None-Match": etag}, 304),
        "since_last": ([since], {}, 200),
        "metrics_many_running": (running, {}, 200),
        "metrics_many_finished": (curves_of(JobStatus.SUCCEEDED), {}, 200),
        "job": ([f"{base}/v1/jobs/{job_id}"], {}, 200),
        "job_many_running": ([url.removesuffix("/metrics") for url in running], {}, 200),
        "jobs_list": ([f"{base}/v1/jobs?status={JobStatus.RUNNING}&limit=20"], {}, 200),
    }
    reqs = {name: (urls, {**AUTH, **headers}, expected) for name, (urls, headers, expected) in reqs.items()}
    for name, (urls, headers, expected) in reqs.items():
        for url in urls[:3]:
            got = httpx.get(url, headers=headers, timeout=10)
            assert got.status_code == expected, (name, got.status_code, got.text[:200])
    return reqs


def drain(base: str, timeout_s: float = 90.0) -> float:
    """Wait until the server has finished the requests a load generator abandoned when it stopped (they keep
    threadpool threads busy): /healthz answers within 50 ms. Returns the seconds it took."""
    import httpx

    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        t0 = time.perf_counter()
        try:
            httpx.get(f"{base}/healthz", timeout=timeout_s)
        except httpx.HTTPError:
            pass
        if time.perf_counter() - t0 < 0.05:
            break
        time.sleep(0.1)
    return round(time.monotonic() - start, 2)


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds the server process has used (load-independent cost per request)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class WriterProbe:
    """A trainer's heartbeat (app.jobs.service.heartbeat, a write transaction) every 100 ms from this process,
    timed: what the polling load costs the writers that share the database (with BEGIN IMMEDIATE on every
    read, a write waits for the lock like any poll)."""

    def __init__(self, url: str, job_id: str) -> None:
        import threading

        from app.core.db import make_engine

        self.engine = make_engine(url)
        self.job_id = job_id
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread: Any = None

    def beat(self) -> None:
        from sqlalchemy.orm import Session

        from app.jobs.service import heartbeat

        t0 = time.perf_counter()
        try:
            with Session(self.engine) as session, session.begin():
                assert heartbeat(session, job_id=self.job_id, attempt=1) is not None
            self.latencies.append(time.perf_counter() - t0)
        except Exception:  # a locked database counts as a failed beat
            self.failures += 1

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.beat()

    def __enter__(self) -> "WriterProbe":
        import threading

        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def summary(self) -> dict[str, Any]:
        return {
            **common.summarize_ms(self.latencies),
            "max_ms": round(max(self.latencies) * 1000, 2) if self.latencies else None,
            "failures": self.failures,
        }


def measure_server(
    base: str,
    pid: int,
    job_id: str,
    *,
    url: str,
    args: argparse.Namespace,
    wrk_script: Path | None,
    pg_sessions: Any = None,
) -> dict[str, Any]:
    """Rounds of the ENDPOINTS (each `duration` s): each ratio is taken against the
    /healthz slice of its own round, seconds earlier, and the median over rounds reported."""
    import statistics

    import httpx

    reqs = endpoint_requests(base, job_id)
    sizes = {name: len(httpx.get(u[0], headers=h, timeout=10).content) for name, (u, h, _) in reqs.items()}

    def load(target: list[str], headers: dict[str, str], clients: int, duration: float) -> dict[str, Any]:
        cpu0 = server_cpu_s(pid)
        sessions0 = pg_sessions() if pg_sessions else None
        if wrk_script is not None:
            res = run_wrk(target, clients=clients, duration=duration, headers=headers, script=wrk_script)
        else:
            res = run_python_loadgen(target, clients=clients, duration=duration, headers=headers)
        res["server_cpu_s"] = round(server_cpu_s(pid) - cpu0, 3)
        if pg_sessions:
            res["pg_connections_opened"] = pg_sessions() - sessions0
        return res

    for name in ENDPOINTS:  # warm: connections, caches, the threadpool
        target, headers, _ = reqs[name]
        load(target, headers, args.clients, args.warmup)
        drain(base)
    idle_writer = WriterProbe(url, job_id)
    for _ in range(20):
        idle_writer.beat()
    busy_writer = WriterProbe(url, job_id)
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in ENDPOINTS}
    for _ in range(args.rounds):
        for name in ENDPOINTS:
            target, headers, _ = reqs[name]
            if name == "metrics":
                with busy_writer:
                    res = load(target, headers, args.clients, args.duration)
            else:
                res = load(target, headers, args.clients, args.duration)
            res["drain_s"] = drain(base)
            rounds[name].append(res)
    writer = {"idle": idle_writer.summary(), "under_metrics_load": busy_writer.summary()}
    idle_writer.engine.dispose()
    busy_writer.engine.dispose()
    results: dict[str, Any] = {}
    for name, runs in rounds.items():
        requests = sum(r["requests"] for r in runs)
        seconds = sum(r["seconds"] for r in runs)
        cpu = sum(r["server_cpu_s"] for r in runs)
        ratios = [r["rps"] / h["rps"] for r, h in zip(runs, rounds["healthz"], strict=True)]
        results[name] = {
            "rps": round(requests / seconds, 1),
            "ratio_to_healthz": round(statistics.median(ratios), 3),
            "ratio_by_round": [round(x, 3) for x in ratios],
            "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 2),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
            "p99_ms_worst_round": round(max(r["p99_ms"] for r in runs), 2),
            "server_cpu_ms_per_request": round(cpu / requests * 1000, 3) if requests else None,
            "requests": requests,
            "seconds": round(seconds, 2),
            "errors": {k: sum(r["errors"].get(k, 0) for r in runs) for k in runs[0]["errors"]},
            **({"pg_connections_opened": sum(r["pg_connections_opened"] for r in runs)} if pg_sessions else {}),
            "expected_status": reqs[name][2],
            "body_bytes": sizes[name],
            "rounds": runs,
        }
    base_cpu = results["healthz"]["server_cpu_ms_per_request"]
    for name, res in results.items():
        cpu = res["server_cpu_ms_per_request"]
        res["cpu_ratio_to_healthz"] = round(base_cpu / cpu, 3) if cpu else None
        opened = f"  pg connections opened {res['pg_connections_opened']}" if pg_sessions else ""
        print(
            f"    {name:12s} {res['rps']:8.1f} req/s  ratio {res['ratio_to_healthz']:5.2f}  "
            f"p50 {res['p50_ms']:8.2f} ms  p99 {res['p99_ms']:8.2f} ms  cpu {cpu} ms/req  "
            f"errors {sum(res['errors'].values())}{opened}",
            flush=True,
        )
    print(
        f"    trainer heartbeat (a write) every 100 ms during the metrics load: median "
        f"{writer['under_metrics_load']['median_ms']:.1f} ms, p99 {writer['under_metrics_load']['p99_ms']:.1f} ms, "
        f"max {writer['under_metrics_load']['max_ms']} ms, failed {writer['under_metrics_load']['failures']} "
        f"(idle: median {writer['idle']['median_ms']:.2f} ms)",
        flush=True,
    )
    out: dict[str, Any] = {"baseline_rps": results["healthz"]["rps"], "endpoints": results, "writer_heartbeat": writer}
    if args.overload_clients:
        # More clients than the 40 threadpool threads, on /metrics and on GET /v1/jobs/{id} (a JobDep route): does
        # the server keep answering? The last measurements on this server: a stalled one is stopped, not waited for.
        job_url = f"{base}/v1/jobs/{job_id}"
        for name, (target, headers) in (("metrics", reqs["metrics"][:2]), ("job", ([job_url], AUTH))):
            drain(base, timeout_s=OVERLOAD_HEALTHZ_TIMEOUT_S)
            res = load(target, headers, args.overload_clients, args.duration)
            t0 = time.perf_counter()
            try:
                code: int | str = httpx.get(f"{base}/healthz", timeout=OVERLOAD_HEALTHZ_TIMEOUT_S).status_code
            except httpx.HTTPError as exc:
                code = f"no answer within {OVERLOAD_HEALTHZ_TIMEOUT_S:g} s ({type(exc).__name__})"
            res["healthz_after_s"] = round(time.perf_counter() - t0, 3)
            res["healthz_after_status"] = code
            res["clients"] = args.overload_clients
            out[f"overload_{name}"] = res
            print(
                f"    overload: {args.overload_clients} clients on {name} for {args.duration:g} s: {res['requests']} "
                f"answers ({res['rps']:.1f} req/s), socket errors {sum(res['errors'].values())}; a /healthz sent "
                f"right after: {code} after {res['healthz_after_s']:.2f} s",
                flush=True,
            )
    return out


def run_backend(backend: str, args: argparse.Namespace, wrk_script: Path | None, tmp: Path) -> dict[str, Any]:
    from app.core.config import get_settings
    from app.core.embedded_redis import start_redis_server

    out: dict[str, Any] = {}
    with ExitStack() as stack:
        pg_sessions = None
        if backend == "sqlite":
            url = f"sqlite:///{tmp / 'sqlite-state' / 'flashjobs.db'}"
        else:
            url, name = create_postgres_database("flashjobs_bench_poll", admin_url=common.POSTGRES_ADMIN_URL)
            stack.callback(drop_postgres_database, name, admin_url=common.POSTGRES_ADMIN_URL)
            pg_sessions = common.postgres_sessions_counter(name)
            stack.callback(pg_sessions.dispose)
        redis_port = free_port()
        redis_proc = start_redis_server(port=redis_port, data_dir=tmp / f"redis-{backend}")
        stack.callback(lambda: (redis_proc.terminate(), redis_proc.wait(timeout=10)))
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        os.environ["FLASHJOBS_REDIS_URL"] = redis_url  # where this process's commits announce job changes
        get_settings.cache_clear()
        print(f"[{backend}] seeding {url.split('@')[-1]}", flush=True)
        seeded = seed(url, epochs=args.epochs, other_jobs=args.other_jobs)
        out["seed"] = seeded
        print(f"[{backend}] {args.clients} clients, {args.duration:g} s per endpoint", flush=True)
        with api_server(
            url=url, state_dir=tmp / f"state-{backend}", redis_url=redis_url, log_path=tmp / f"api-{backend}.log"
        ) as (base, pid):
            out["server"] = measure_server(
                base, pid, seeded["job_id"], url=url, args=args, wrk_script=wrk_script, pg_sessions=pg_sessions
            )
    return out


# ----------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    load = sub.add_parser("_load")  # internal: the asyncio load generator
    load.add_argument("--url", required=True)
    load.add_argument("--clients", type=int, required=True)
    load.add_argument("--duration", type=float, required=True)
    load.add_argument("--headers", default="{}")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds of load per endpoint and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of all the endpoints")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load on each endpoint first")
    parser.add_argument(
        "--overload-clients",
        type=int,
        default=100,
        help="clients of a last run on /metrics, above the 40 threadpool threads (0: skip it)",
    )
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--other-jobs", type=int, default=100)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--output", default="polling", help="bench/results/<output>.json")
    args = parser.parse_args()

    if args.cmd == "_load":
        print(json.dumps(_python_load(args.url, args.clients, args.duration, json.loads(args.headers))))
        return

    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk"))
    if args.loadgen == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk), or use --loadgen python")
    backends = common.reachable_backends(args.backends)

    payload: dict[str, Any] = {
        "benchmark": "polling",
        "machine": common.machine(),
        "loadavg_start": common.loadavg(),
        "config": {
            "clients": args.clients,
            "overload_clients": args.overload_clients,
            "duration_s": args.duration,
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "epochs": args.epochs,
            "series": len(common.SERIES),
            "other_jobs": args.other_jobs,
            "loadgen": "wrk -t1" if use_wrk else "python asyncio (separate process)",
            "server": "uvicorn app.main:app, one process, --log-level warning, FLASHJOBS_RECONCILE_IN_API=false",
            "target_ratio": 0.5,
        },
        "results": {},
    }
    if "postgres" in backends:
        payload["machine"]["postgres_server"] = common.postgres_server_version()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="flashjobs-bench-poll-") as tmpdir:
        tmp = Path(tmpdir)
        wrk_script = None
        if use_wrk:
            wrk_script = tmp / "bench.lua"
            wrk_script.write_text(WRK_SCRIPT)
        for backend in backends:
            payload["results"][backend] = run_backend(backend, args, wrk_script, tmp)
    payload["loadavg_end"] = common.loadavg()
    payload["runtime_s"] = round(time.perf_counter() - started, 1)
    path = common.write_results(args.output, payload)

    print(f"\nratio to /healthz (target >= 0.5); written to {path.relative_to(common.REPO)}")
    for backend, per in payload["results"].items():
        res = per["server"]
        row = "  ".join(f"{n} {res['endpoints'][n]['ratio_to_healthz']:.2f}" for n in ENDPOINTS[1:])
        print(f"  {backend:8s} healthz {res['baseline_rps']:8.1f} req/s   {row}")


if __name__ == "__main__":
    main()
