"""Polling under load: GET /v1/jobs/{id}/metrics against GET /healthz on the same server.

What it measures
    The real API (`uvicorn app.main:app`, one process, as `flashjobs up` serves it; the reconciler loop off
    with FLASHJOBS_RECONCILE_IN_API=false so that nothing else runs in it) against a real database holding a
    running job with 50 epochs x 12 series (recorded through app.metrics.service.record_epoch, 600 rows) and
    100 other jobs of the same size (bulk-inserted, 60,000 rows), plus the bundled redis-server.
    A separate load-generator process (`wrk`, or a small asyncio client where wrk is missing) keeps N
    connections busy for a fixed time on each endpoint, loopback only, one endpoint at a time:

        healthz        GET /healthz                                  (the baseline: same server, no SQL)
        metrics        GET /v1/jobs/{id}/metrics                     (full curves, 200)
        metrics_304    the same with If-None-Match: <its ETag>       (304, no body)
        since_last     GET /v1/jobs/{id}/metrics?since_epoch=<last>  (one epoch, 200)
        healthz_end    GET /healthz again, to see drift during the run

    For each: requests/s, p50, p90, p99 (ms), and the ratio of requests/s to the baseline (the mean of the two
    /healthz runs). Target: ratio >= 0.5. Ratios, not absolute numbers, are the figure of merit: the machine
    is shared and absolute throughput drifts.

    Backends: SQLite (the embedded default: a file in a temporary state dir) and Postgres (a throwaway
    database on 127.0.0.1:5432, dropped afterwards; skipped if no server answers).
    Variants (diagnostics, `--variants`): `stock` is the code as it is; the others start the same app with one
    thing patched in, from this file, to measure a candidate fix without editing app/:
        deferred-begin  SQLite sessions open with plain BEGIN instead of BEGIN IMMEDIATE
        cheap-etag      the metrics route answers If-None-Match from a one-row aggregate, not the whole curve
        both            deferred-begin and cheap-etag together

How to run
    .venv/bin/python bench/polling.py                          # sqlite + postgres, stock + diagnostics, ~5 min
    .venv/bin/python bench/polling.py --backends sqlite --variants stock --duration 5   # quick look
    Options: --clients N (default 32), --duration S per endpoint (default 8), --loadgen wrk|python.
    `wrk` comes from Debian (`apt-get install wrk`); without it the asyncio client is used (it spends a CPU
    core itself, so its absolute numbers are lower; its ratios remain comparable).

Output
    bench/results/polling.json: machine, load average at start and end, config, and per backend/variant the
    per-endpoint figures. docs/benchmarks.md gives the figures of a run.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

ENDPOINTS = ("healthz", "metrics", "metrics_304", "since_last")
# Diagnostic variants: the same app with candidate fixes patched in from this file (see _serve_variant).
#   deferred  SQLite transactions BEGIN (deferred) instead of BEGIN IMMEDIATE
#   release   JobDep ends its transaction after loading the job, before the route's own threadpool hop
#   fixed     the metrics route as recommended: one threadpool hop, reads BEGIN DEFERRED on SQLite, the ETag
#             from the job row (a metrics revision) and the serialised curve cached per (job, query, revision)
VARIANT_FIXES = {
    "stock": (),
    "deferred": ("deferred",),
    "release": ("release",),
    "fixed": ("deferred", "fixed_route"),
}
VARIANTS = tuple(VARIANT_FIXES)
SQLITE_ONLY = {"deferred"}

WRK_SCRIPT = r"""
local inm = os.getenv("BENCH_IF_NONE_MATCH")
if inm ~= nil and inm ~= "" then wrk.headers["If-None-Match"] = inm end
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

    from app.core.db import make_engine, utcnow
    from app.core.migrate import upgrade
    from app.jobs import service
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
            jobs, _ = service.create_chain(session, steps=[spec] * (other_jobs + 1), loc=["body"])
            ids = [job.id for job in jobs]
        target, others = ids[0], ids[1:]
        # The others: finished jobs with whole curves, bulk-inserted.
        now = utcnow()
        with Session(engine) as session, session.begin():
            rows = [{"job_id": job_id, "epoch": e, "split": s.split("_", 1)[0], "name": s.split("_", 1)[1],
                     "value": rng.random(), "attempt": 1, "recorded_at": now - timedelta(seconds=epochs - e)}
                    for job_id in others for e in range(epochs) for s in common.SERIES]
            session.execute(insert(Metric), rows)
            session.execute(Job.__table__.update().where(Job.id.in_(others)).values(
                status="succeeded", attempt=1, epochs_done=epochs, finished_at=now))
        # The target: claimed by a worker, every epoch recorded as the trainer records it.
        with Session(engine) as session, session.begin():
            assert service.claim(session, job_id=target, owner="bench-worker") is not None
        for epoch in range(epochs):
            values = {s: rng.random() for s in common.SERIES}
            with Session(engine) as session, session.begin():
                assert record_epoch(session, job_id=target, attempt=1, epoch=epoch, values=values)
    finally:
        engine.dispose()
    return {"job_id": target, "epochs": epochs, "series": len(common.SERIES), "other_jobs": other_jobs,
            "metric_rows": (other_jobs + 1) * epochs * len(common.SERIES),
            "seed_s": round(time.perf_counter() - started, 2)}


# ----------------------------------------------------------------------------------------------- the server


def _serve_variant(variant: str, port: int) -> None:
    """Run the app with candidate fixes patched in (diagnostics only; `stock` runs plain uvicorn instead).

    Each patch is written the way it would go into app/; docs/benchmarks.md describes the fixes.
    """
    import uvicorn

    fixes = set(VARIANT_FIXES[variant])
    if "deferred" in fixes:
        _patch_deferred_begin()
    if "fixed_route" in fixes:
        _patch_fixed_metrics_route()
    import app.main  # after the patches above: create_app() includes the routers at import

    if "release" in fixes:
        _override_release_after_lookup(app.main.app)
    uvicorn.run(app.main.app, host="127.0.0.1", port=port, log_level="warning")


def _patch_deferred_begin() -> None:
    """SQLite transactions BEGIN (deferred) instead of BEGIN IMMEDIATE: in WAL mode readers then never wait.

    For this read-only load that is what a read-only session for GET routes gives; writes keep IMMEDIATE.
    """
    import app.core.db as db

    stock_make_engine = db.make_engine

    def make_engine(url: str):  # noqa: ANN202
        engine = stock_make_engine(url)
        if url.startswith("sqlite"):
            from sqlalchemy import event

            for fn in list(engine.dispatch.begin):
                event.remove(engine, "begin", fn)

            @event.listens_for(engine, "begin")
            def _begin(conn):  # noqa: ANN001
                conn.exec_driver_sql("BEGIN")

        return engine

    db.make_engine = make_engine


def _override_release_after_lookup(fastapi_app) -> None:  # noqa: ANN001
    """JobDep ends its transaction after loading the row, so no connection (nor SQLite's write lock) is held
    while the request waits for the next threadpool thread to run the route."""
    from fastapi import HTTPException

    from app.api.deps import SessionDep, valid_job
    from app.jobs.models import Job

    def valid_job_released(job_id: str, session: SessionDep) -> Job:
        job = session.get(Job, job_id)
        if job is None:
            raise HTTPException(status_code=404, detail=f"no job {job_id!r}")
        session.commit()  # expire_on_commit=False: the row stays loaded; the connection goes back to the pool
        return job

    fastapi_app.dependency_overrides[valid_job] = valid_job_released


def _patch_fixed_metrics_route() -> None:
    """GET /v1/jobs/{id}/metrics as recommended for app/api/routes/metrics.py.

    - `async def` route, all SQL in ONE run_in_threadpool call with its own short session: one thread hop
      instead of four (get_session enter, valid_job, the route, get_session exit), and no connection or lock
      held while a request waits for a thread.
    - The ETag comes from the job row: hash(job id, status, attempt, metrics revision, query). The recommended
      code adds `jobs.metrics_rev` (migration 0002), incremented by record_epoch in the UPDATE it already does;
      this patch stands in for it with epochs_done (nothing writes during the benchmark, so both give the same
      answers here, at the same cost: a few narrow columns of one row by primary key).
    - The serialised body is cached per (job, names, since_epoch) and reused while the revision is unchanged,
      so the 200 path skips the 600-row query, the dict building and json.dumps as well.
    """
    import hashlib
    import json as _json
    import threading
    from collections import OrderedDict
    from typing import Annotated

    from fastapi import Header, Query, Response
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse
    from sqlalchemy import bindparam, select
    from sqlalchemy.orm import Session

    from app.api.routes import metrics as route
    from app.core.db import get_engine
    from app.jobs.models import Job
    from app.metrics import service

    cache: OrderedDict[tuple, tuple[tuple, str, bytes]] = OrderedDict()
    lock = threading.Lock()
    cache_size = 1024

    revision_query = select(Job.status, Job.attempt, Job.epochs_done).where(Job.id == bindparam("job_id"))

    def poll(job_id: str, names: str | None, since_epoch: int | None) -> tuple[str, bytes] | None:
        key = (job_id, names, since_epoch)
        # A Core connection, not an ORM Session, for the one-row check: 0.2 ms instead of 0.45 ms of CPU.
        with get_engine().connect() as conn:
            row = conn.execute(revision_query, {"job_id": job_id}).first()
            if row is None:
                return None
            revision = tuple(row)
            with lock:
                hit = cache.get(key)
                if hit is not None and hit[0] == revision:
                    cache.move_to_end(key)
                    return hit[1], hit[2]
            wanted = {n.strip() for n in names.split(",") if n.strip()} if names else None
            series = service.get_series(Session(bind=conn), job_id=job_id, names=wanted, since_epoch=since_epoch)
        payload = _json.dumps({"job_id": job_id, "status": row.status, "series": series},
                              separators=(",", ":")).encode()
        etag = '"' + hashlib.sha256(repr((key, revision)).encode()).hexdigest()[:32] + '"'
        with lock:
            cache[key] = (revision, etag, payload)
            cache.move_to_end(key)
            while len(cache) > cache_size:
                cache.popitem(last=False)
        return etag, payload

    async def get_metrics(
        job_id: str,
        names: Annotated[str | None, Query(description="Comma-separated series, e.g. val_accuracy,val_f1")] = None,
        since_epoch: Annotated[int | None, Query(ge=0)] = None,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        found = await run_in_threadpool(poll, job_id, names, since_epoch)
        if found is None:
            return JSONResponse({"detail": f"no job {job_id!r}"}, status_code=404)
        etag, payload = found
        if if_none_match == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(payload, media_type="application/json", headers={"ETag": etag})

    router = route.router
    router.routes[:] = [r for r in router.routes
                        if not (getattr(r, "path", "") == "/v1/jobs/{job_id}/metrics" and "GET" in r.methods)]
    router.add_api_route("", get_metrics, methods=["GET"])


@contextmanager
def api_server(*, url: str, variant: str, state_dir: Path, redis_url: str, log_path: Path):
    port = common.free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "FLASHJOBS_DATABASE_URL": url, "FLASHJOBS_REDIS_URL": redis_url,
           "FLASHJOBS_RECONCILE_IN_API": "false", "FLASHJOBS_STATE_DIR": str(state_dir),
           "FLASHJOBS_ARTIFACT_DIR": str(state_dir / "artifacts"), "FLASHJOBS_DATA_DIR": str(state_dir / "data"),
           "FLASHJOBS_ALLOW_DOWNLOADS": "false"}
    if variant == "stock":
        cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "_serve", "--variant", variant, "--port", str(port)]
    log = log_path.open("ab")
    proc = subprocess.Popen(cmd, cwd=common.REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"API exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"API not ready in 60 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        log.close()


# ----------------------------------------------------------------------------------------------- load generators


def run_wrk(url: str, *, clients: int, duration: float, headers: dict[str, str], script: Path) -> dict[str, Any]:
    env = {**os.environ, "BENCH_IF_NONE_MATCH": headers.get("If-None-Match", "")}
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(duration))}s", "--timeout", "10s", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=duration + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary: {out.stdout}\n{out.stderr}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    seconds = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    return {"requests": raw["requests"], "seconds": round(seconds, 3), "rps": round(raw["requests"] / seconds, 1),
            "p50_ms": lat["p50"] / 1000, "p90_ms": lat["p90"] / 1000, "p99_ms": lat["p99"] / 1000,
            "max_ms": lat["max"] / 1000, "errors": raw["errors"], "bytes": raw["bytes"]}


def run_python_loadgen(url: str, *, clients: int, duration: float, headers: dict[str, str]) -> dict[str, Any]:
    """The asyncio client, in its own process so that it never shares the server's interpreter."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "_load", "--url", url, "--clients", str(clients),
           "--duration", str(duration), "--headers", json.dumps(headers)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _python_load(url: str, clients: int, duration: float, headers: dict[str, str],
                 max_requests: int = 2_000_000) -> dict[str, Any]:
    """N keep-alive HTTP/1.1 connections, each sending the next request when the last answer is read."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}\r\n".encode()
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
            writer.write(request)
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
    return {"requests": len(lat), "seconds": round(seconds, 3), "rps": round(len(lat) / seconds, 1),
            "p50_ms": common.percentile(lat, 50), "p90_ms": common.percentile(lat, 90),
            "p99_ms": common.percentile(lat, 99), "max_ms": lat[-1] if lat else float("nan"),
            "errors": errors, "bytes": total_bytes}


# ----------------------------------------------------------------------------------------------- one run


def endpoint_requests(base: str, job_id: str) -> dict[str, tuple[str, dict[str, str], int]]:
    """Each endpoint's URL and headers, checked once by hand: (url, headers, expected status)."""
    import httpx

    metrics = f"{base}/v1/jobs/{job_id}/metrics"
    first = httpx.get(metrics, timeout=10)
    first.raise_for_status()
    etag = first.headers["etag"]
    series = first.json()["series"]
    last = max(point["epoch"] for points in series.values() for point in points)
    since = f"{metrics}?since_epoch={last}"
    reqs = {
        "healthz": (f"{base}/healthz", {}, 200),
        "metrics": (metrics, {}, 200),
        "metrics_304": (metrics, {"If-None-Match": etag}, 304),
        "since_last": (since, {}, 200),
    }
    for name, (url, headers, expected) in reqs.items():
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


def measure_server(base: str, pid: int, job_id: str, *, args: argparse.Namespace,
                   wrk_script: Path | None) -> dict[str, Any]:
    """Rounds of healthz, metrics, metrics_304, since_last (each `duration` s): each ratio is taken against the
    /healthz slice of its own round, seconds earlier, and the median over rounds reported."""
    import statistics

    import httpx

    reqs = endpoint_requests(base, job_id)
    sizes = {name: len(httpx.get(url, headers=h, timeout=10).content) for name, (url, h, _) in reqs.items()}

    def load(url: str, headers: dict[str, str], clients: int, duration: float) -> dict[str, Any]:
        cpu0 = server_cpu_s(pid)
        if wrk_script is not None:
            res = run_wrk(url, clients=clients, duration=duration, headers=headers, script=wrk_script)
        else:
            res = run_python_loadgen(url, clients=clients, duration=duration, headers=headers)
        res["server_cpu_s"] = round(server_cpu_s(pid) - cpu0, 3)
        return res

    for name in ENDPOINTS:  # warm: connections, caches, the threadpool
        url, headers, _ = reqs[name]
        load(url, headers, args.clients, args.warmup)
        drain(base)
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in ENDPOINTS}
    for _ in range(args.rounds):
        for name in ENDPOINTS:
            url, headers, _ = reqs[name]
            res = load(url, headers, args.clients, args.duration)
            res["drain_s"] = drain(base)
            rounds[name].append(res)
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
            "requests": requests, "seconds": round(seconds, 2),
            "errors": {k: sum(r["errors"].get(k, 0) for r in runs) for k in runs[0]["errors"]},
            "expected_status": reqs[name][2], "body_bytes": sizes[name],
            "rounds": runs,
        }
    base_cpu = results["healthz"]["server_cpu_ms_per_request"]
    for name, res in results.items():
        cpu = res["server_cpu_ms_per_request"]
        res["cpu_ratio_to_healthz"] = round(base_cpu / cpu, 3) if cpu else None
        print(f"    {name:12s} {res['rps']:8.1f} req/s  ratio {res['ratio_to_healthz']:5.2f}  p50 {res['p50_ms']:8.2f} ms"
              f"  p99 {res['p99_ms']:8.2f} ms  cpu {cpu} ms/req  errors {sum(res['errors'].values())}", flush=True)
    out: dict[str, Any] = {"baseline_rps": results["healthz"]["rps"], "endpoints": results}
    if args.overload_clients:
        # More clients than the 40 threadpool threads: does the server keep answering, and how fast?
        url, headers, _ = reqs["metrics"]
        res = load(url, headers, args.overload_clients, args.duration)
        t0 = time.perf_counter()
        try:
            code: int | str = httpx.get(f"{base}/healthz", timeout=120).status_code
        except httpx.HTTPError as exc:
            code = repr(exc)
        res["healthz_after_s"] = round(time.perf_counter() - t0, 3)
        res["healthz_after_status"] = code
        res["drain_s"] = drain(base)
        res["clients"] = args.overload_clients
        out["overload_metrics"] = res
        print(f"    overload: {args.overload_clients} clients on metrics for {args.duration:g} s: {res['requests']} "
              f"answers ({res['rps']:.1f} req/s), socket errors {sum(res['errors'].values())}; a /healthz sent "
              f"right after took {res['healthz_after_s']:.2f} s; the server was idle again after {res['drain_s']} s",
              flush=True)
    return out


def run_backend(backend: str, variants: list[str], args: argparse.Namespace, wrk_script: Path | None,
                tmp: Path) -> dict[str, Any]:
    from app.core.embedded_redis import start_redis_server

    out: dict[str, Any] = {}
    with ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp / 'sqlite-state' / 'flashjobs.db'}"
        else:
            url, name = common.create_postgres_database("flashjobs_bench_poll")
            stack.callback(common.drop_postgres_database, name)
        print(f"[{backend}] seeding {url.split('@')[-1]}", flush=True)
        seeded = seed(url, epochs=args.epochs, other_jobs=args.other_jobs)
        out["seed"] = seeded
        redis_port = common.free_port()
        redis_proc = start_redis_server(port=redis_port, data_dir=tmp / f"redis-{backend}")
        stack.callback(lambda: (redis_proc.terminate(), redis_proc.wait(timeout=10)))
        for variant in variants:
            if backend == "postgres" and variant in SQLITE_ONLY:
                continue
            print(f"[{backend}/{variant}] {args.clients} clients, {args.duration:g} s per endpoint", flush=True)
            with api_server(url=url, variant=variant, state_dir=tmp / f"state-{backend}",
                            redis_url=f"redis://127.0.0.1:{redis_port}/0", log_path=tmp / f"api-{backend}.log") as (
                    base, pid):
                out[variant] = measure_server(base, pid, seeded["job_id"], args=args, wrk_script=wrk_script)
    return out


# ----------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    serve = sub.add_parser("_serve")  # internal: a diagnostic variant of the server
    serve.add_argument("--variant", choices=VARIANTS, required=True)
    serve.add_argument("--port", type=int, required=True)
    load = sub.add_parser("_load")  # internal: the asyncio load generator
    load.add_argument("--url", required=True)
    load.add_argument("--clients", type=int, required=True)
    load.add_argument("--duration", type=float, required=True)
    load.add_argument("--headers", default="{}")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from {', '.join(VARIANTS)} (SQLite-only ones are skipped for "
                             "Postgres and the other way round)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds of load per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of healthz, metrics, metrics_304, since_last")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load on each endpoint first")
    parser.add_argument("--overload-clients", type=int, default=100,
                        help="clients of a last run on /metrics, above the 40 threadpool threads (0: skip it)")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--other-jobs", type=int, default=100)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--output", default="polling", help="bench/results/<output>.json")
    args = parser.parse_args()

    if args.cmd == "_serve":
        _serve_variant(args.variant, args.port)
        return
    if args.cmd == "_load":
        print(json.dumps(_python_load(args.url, args.clients, args.duration, json.loads(args.headers))))
        return

    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk"))
    if args.loadgen == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk), or use --loadgen python")
    variants = [v for v in args.variants.split(",") if v]
    assert all(v in VARIANTS for v in variants), variants
    backends = [b for b in args.backends.split(",") if b]
    if "postgres" in backends and not common.postgres_reachable():
        print("no Postgres at 127.0.0.1:5432: skipping it", flush=True)
        backends.remove("postgres")

    payload: dict[str, Any] = {
        "benchmark": "polling",
        "machine": common.machine(),
        "loadavg_start": common.loadavg(),
        "config": {"clients": args.clients, "overload_clients": args.overload_clients, "duration_s": args.duration,
                   "rounds": args.rounds, "warmup_s": args.warmup,
                   "epochs": args.epochs, "series": len(common.SERIES), "other_jobs": args.other_jobs,
                   "loadgen": "wrk -t1" if use_wrk else "python asyncio (separate process)",
                   "server": "uvicorn app.main:app, one process, --log-level warning, "
                             "FLASHJOBS_RECONCILE_IN_API=false", "target_ratio": 0.5},
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
            payload["results"][backend] = run_backend(backend, variants, args, wrk_script, tmp)
    payload["loadavg_end"] = common.loadavg()
    payload["runtime_s"] = round(time.perf_counter() - started, 1)
    path = common.write_results(args.output, payload)

    print(f"\nratio to /healthz (target >= 0.5); written to {path.relative_to(common.REPO)}")
    for backend, per in payload["results"].items():
        for variant, res in per.items():
            if variant == "seed":
                continue
            row = "  ".join(f"{n} {res['endpoints'][n]['ratio_to_healthz']:.2f}"
                            for n in ("metrics", "metrics_304", "since_last"))
            print(f"  {backend:8s} {variant:15s} healthz {res['baseline_rps']:8.1f} req/s   {row}")


if __name__ == "__main__":
    main()
