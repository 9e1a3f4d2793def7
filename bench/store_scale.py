"""Scale of the store: list/filter/paginate and curve reads as the jobs and metrics tables grow.

What it measures
    A real schema (the Alembic migrations, app.core.migrate.upgrade) filled with jobs that each have
    100 epochs x 12 series of metrics, first `--small-jobs` (default 1,000: 1.2M metric rows), then grown to
    `--large-jobs` (default 10,000: 12M metric rows; the added jobs are newer, as a store grows). At each size
    it times the service functions the routes call, each call in its own session from the app's engine
    (app.core.db.make_engine: WAL on SQLite, the pool on Postgres) with the read-only option the GET routes use
    (app.core.db.get_read_engine), as a route does:

        list_first_page          app.jobs.service.list_jobs(limit=50)
        list_status_common       list_jobs(status="succeeded")          (~85% of the jobs)
        list_status_failed       list_jobs(status="failed")             (~7%: a full page at both sizes)
        list_status_rare         list_jobs(status="running")            (~1%: 10 rows at 1,000 jobs)
        list_kind                list_jobs(kind="finetune")             (~30%; kind has no index)
        list_status_kind_rare    list_jobs(status="failed", kind="finetune")   (~2%: 26 rows at 1,000 jobs)
        page_deep                list_jobs(cursor=<a cursor 90% of the way down>)
        page_deep_status         list_jobs(status="succeeded", cursor=<90% down>)
        series_all               app.metrics.service.get_series(job)            (1,200 points)
        series_names             get_series(job, names={val_accuracy, val_loss}) (200 points)
        series_since             get_series(job, since_epoch=95)                 (60 points)
        epochs_after             app.metrics.service.epochs_after(job, after_epoch=95)  (what SSE reads)
    (Until 13dd666 it also timed bench-local copies of two candidate fixes, the row-value cursor and the names
    filter in SQL, and by default tried the (status, created_at, id) index; all three are in app/ since 890c31a.)

    Curve reads rotate over 200 random jobs. Each query runs `--calls` times (or `--max-seconds`, whichever
    first) after two warm-up calls; median and p99 are reported; the figure of merit is large/small of the
    median (flat ~ 1). Each query's SQL, captured as executed, is EXPLAINed at both sizes (SQLite: EXPLAIN QUERY
    PLAN; Postgres: EXPLAIN (ANALYZE, BUFFERS), whose execution time, the best of three, is the server's share)
    and timed bare through the DBAPI ("sql only": no ORM), because the ORM's constant few milliseconds per call
    hide what grows with the table.

    To try an index change, `--extra-index name:table:cols` and/or `--drop-index name` apply it at the large size
    as a migration would, and everything is timed and explained again (default: none).

    Loading is a benchmark-only bulk path (not the service's): jobs through SQLAlchemy Core executemany,
    metrics through the DBAPI executemany (SQLite, 1,000-job transactions, cache_size 1 GiB on the loading
    connection only) or COPY (Postgres, foreign-key triggers off for the loading session only), in job-id order
    within each step (the rows of one job lie together, as they do when one worker trains one job at a time).
    Postgres gets ANALYZE after each step (what autovacuum does after a bulk load); SQLite gets none (the app
    runs none). Insertion times are reported.

How to run
    .venv/bin/python bench/store_scale.py                         # both backends, 1,000 -> 10,000 jobs, ~6 min
    .venv/bin/python bench/store_scale.py --backends sqlite --small-jobs 200 --large-jobs 2000   # quick look
    Postgres: a throwaway database on 127.0.0.1:5432 (FLASHJOBS_BENCH_POSTGRES to change), dropped afterwards;
    skipped if no server answers. SQLite: a file in a temporary directory (1.8 GB at 10,000 jobs), removed
    afterwards. `--sqlite-large-jobs N` caps SQLite's large size where 12M rows take too long.

Output
    bench/results/store_scale.json: machine, load average at start and end, config, insertion times, and per
    backend, size and query: timings, the large/small ratios, and the plans.
"""

import argparse
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from app.jobs.status import FINAL, NOT_STARTED, JobStatus

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

from tests.helpers import create_postgres_database, drop_postgres_database

EPOCHS = 100
SERIES_SAMPLE = 200  # curve reads rotate over this many random jobs
T0 = datetime(2025, 1, 1)  # job i is created at T0 + i * 7 minutes (newest last): the table grows with newer jobs
STATUS_WEIGHTS = {
    JobStatus.SUCCEEDED: 85,
    JobStatus.FAILED: 7,
    JobStatus.CANCELLED: 5,
    JobStatus.RUNNING: 1,
    JobStatus.QUEUED: 1.5,
    JobStatus.WAITING: 0.5,
}


# ----------------------------------------------------------------------------------------------- the data


def job_rows(start: int, stop: int, rng: random.Random, train_ids: list[str]) -> list[dict[str, Any]]:
    """Jobs start..stop-1 as rows of the jobs table, with a realistic spec and final metrics."""
    from app.jobs.schemas import JobSpec

    train_spec = JobSpec(kind="train", dataset={"name": "cifar10"}, trainer={"max_epochs": EPOCHS}).model_dump(
        mode="json"
    )
    statuses, weights = zip(*STATUS_WEIGHTS.items(), strict=True)
    rows = []
    for i in range(start, stop):
        kind = "finetune" if train_ids and rng.random() < 0.3 else "train"
        status = rng.choices(statuses, weights)[0]
        created = T0 + timedelta(minutes=7 * i, microseconds=rng.randrange(1_000_000))
        parent = rng.choice(train_ids) if kind == "finetune" else None
        spec = dict(train_spec, kind=kind)
        if parent:
            spec = dict(
                spec,
                dataset={**spec["dataset"], "name": "cifar100"},
                init_from={"job_id": parent},
                finetune={
                    "strategy": "freeze",
                    "unfreeze_epoch": None,
                    "milestones": None,
                    "num_layers": None,
                    "train_bn": False,
                },
            )
        final = status in FINAL
        started = status not in NOT_STARTED
        job_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        rows.append(
            {
                "id": job_id,
                "kind": kind,
                "status": status,
                "spec": spec,
                "parent_id": parent,
                "created_at": created,
                "started_at": created + timedelta(seconds=30) if started else None,
                "finished_at": created + timedelta(minutes=6) if final else None,
                "attempt": 1 if started else 0,
                "owner": "worker@host" if status == JobStatus.RUNNING else None,
                "heartbeat_at": created + timedelta(minutes=6) if started else None,
                "dispatched_at": created,
                "epochs_done": EPOCHS,
                "max_epochs": EPOCHS,
                "error_type": "training_error" if status == JobStatus.FAILED else None,
                "error_message": "CUDA out of memory" if status == JobStatus.FAILED else None,
                "latest_metrics": {s: round(rng.random(), 4) for s in common.SERIES},
            }
        )
        if kind == "train":
            train_ids.append(job_id)
    return rows


def metric_tuples(job: dict[str, Any], rng: random.Random):  # generator of row tuples
    """(job_id, epoch, split, name, value, attempt, recorded_at) for every epoch and series of one job."""
    base = job["created_at"] + timedelta(seconds=30)
    names = [(s.split("_", 1)[0], s.split("_", 1)[1]) for s in common.SERIES]
    for epoch in range(EPOCHS):
        recorded = (base + timedelta(seconds=3 * epoch)).strftime("%Y-%m-%d %H:%M:%S.%f")
        for split, name in names:
            yield job["id"], epoch, split, name, rng.random(), 1, recorded


def insert_jobs(engine, rows: list[dict[str, Any]]) -> None:
    from sqlalchemy import insert

    from app.jobs.models import Job

    # Parents first (finetune rows point at earlier train rows; created_at order guarantees it).
    with engine.begin() as conn:
        for chunk in range(0, len(rows), 1000):
            conn.execute(insert(Job), rows[chunk : chunk + 1000])


def insert_metrics_sqlite(engine, jobs: list[dict[str, Any]], rng: random.Random) -> None:
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        dbapi.execute("PRAGMA cache_size=-1048576")  # 1 GiB page cache for this loading connection only
        ordered = sorted(jobs, key=lambda j: j["id"])
        sql = (
            "INSERT INTO metrics (job_id, epoch, split, name, value, attempt, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        for chunk in range(0, len(ordered), 1000):
            dbapi.execute("BEGIN IMMEDIATE")
            for job in ordered[chunk : chunk + 1000]:
                dbapi.executemany(sql, metric_tuples(job, rng))
            dbapi.execute("COMMIT")
        dbapi.execute("PRAGMA cache_size=-2000")
    finally:
        raw.close()


def copy_text(job: dict[str, Any], rng: random.Random) -> str:
    """The rows of metric_tuples(job) in COPY's text format, built with less per-row work."""
    base = job["created_at"] + timedelta(seconds=30)
    pairs = [f"\t{s.split('_', 1)[0]}\t{s.split('_', 1)[1]}\t" for s in common.SERIES]
    jid = job["id"]
    parts = []
    for epoch in range(EPOCHS):
        tail = f"\t1\t{(base + timedelta(seconds=3 * epoch)).strftime('%Y-%m-%d %H:%M:%S.%f')}\n"
        head = f"{jid}\t{epoch}"
        parts.extend(f"{head}{pair}{rng.random()!r}{tail}" for pair in pairs)
    return "".join(parts)


def insert_metrics_postgres(engine, jobs: list[dict[str, Any]], rng: random.Random) -> None:
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        ordered = sorted(jobs, key=lambda j: j["id"])
        with dbapi.cursor() as cur:
            # Foreign-key triggers off for this loading session only (every job_id was inserted just before);
            # otherwise each row costs a lookup of its job. Indexes and the unique constraint stay on.
            cur.execute("SET session_replication_role = replica")
            for chunk in range(0, len(ordered), 200):
                with cur.copy(
                    "COPY metrics (job_id, epoch, split, name, value, attempt, recorded_at) FROM STDIN"
                ) as copy:
                    for job in ordered[chunk : chunk + 200]:
                        copy.write(copy_text(job, rng))
            cur.execute("SET session_replication_role = DEFAULT")
        dbapi.commit()
    finally:
        raw.close()


def grow(
    engine,
    backend: str,
    start: int,
    stop: int,
    rng: random.Random,
    train_ids: list[str],
    all_jobs: list[dict[str, Any]],
) -> dict[str, float]:
    from sqlalchemy import text

    t0 = time.perf_counter()
    rows = job_rows(start, stop, rng, train_ids)
    insert_jobs(engine, rows)
    t1 = time.perf_counter()
    if backend == "sqlite":
        insert_metrics_sqlite(engine, rows, rng)
    else:
        insert_metrics_postgres(engine, rows, rng)
    t2 = time.perf_counter()
    if backend == "postgres":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    t3 = time.perf_counter()
    all_jobs.extend(rows)
    n_metrics = (stop - start) * EPOCHS * len(common.SERIES)
    return {
        "added_jobs": stop - start,
        "added_metric_rows": n_metrics,
        "jobs_s": round(t1 - t0, 2),
        "metrics_s": round(t2 - t1, 2),
        "metric_rows_per_s": round(n_metrics / (t2 - t1)),
        "analyze_s": round(t3 - t2, 2),
        "total_s": round(t3 - t0, 2),
    }


# ----------------------------------------------------------------------------------------------- the queries


def queries(all_jobs: list[dict[str, Any]], rng: random.Random) -> dict[str, Any]:
    """name -> callable(session, i) calling the service function the route calls."""
    from app.core.pages import encode_cursor
    from app.jobs import service as jobs
    from app.metrics import service as metrics

    newest_first = sorted(all_jobs, key=lambda j: (j["created_at"], j["id"]), reverse=True)
    deep = newest_first[min(int(len(newest_first) * 0.9), len(newest_first) - 52)]  # a full page remains
    deep_cursor = encode_cursor(deep["created_at"], deep["id"])
    sample = [j["id"] for j in rng.sample(all_jobs, min(SERIES_SAMPLE, len(all_jobs)))]

    def lister(status: JobStatus | None = None, kind: str | None = None, cursor: str | None = None):
        return lambda s, _i: jobs.list_jobs(s, project=None, status=status, kind=kind, limit=50, cursor=cursor)

    return {
        "list_first_page": lister(),
        "list_status_common": lister(status=JobStatus.SUCCEEDED),
        "list_status_failed": lister(status=JobStatus.FAILED),
        "list_status_rare": lister(status=JobStatus.RUNNING),
        "list_kind": lister(kind="finetune"),
        "list_status_kind_rare": lister(status=JobStatus.FAILED, kind="finetune"),
        "page_deep": lister(cursor=deep_cursor),
        "page_deep_status": lister(status=JobStatus.SUCCEEDED, cursor=deep_cursor),
        "series_all": lambda s, i: metrics.get_series(s, job_id=sample[i % len(sample)]),
        "series_names": lambda s, i: metrics.get_series(
            s, job_id=sample[i % len(sample)], names={"val_accuracy", "val_loss"}
        ),
        "series_since": lambda s, i: metrics.get_series(s, job_id=sample[i % len(sample)], since_epoch=95),
        "epochs_after": lambda s, i: metrics.epochs_after(s, job_id=sample[i % len(sample)], after_epoch=95),
    }


def check_results(name: str, result: Any) -> int:
    """How many rows/points a call returned (a sanity check stored with the timings)."""
    if isinstance(result, tuple):  # list_jobs
        return len(result[0])
    if isinstance(result, dict):
        return sum(len(v) for v in result.values())
    return len(result)


def time_queries(engine, qs: dict[str, Any], *, calls: int, max_seconds: float) -> dict[str, Any]:
    from sqlalchemy.orm import sessionmaker

    # As the GET routes do: a session on the read engine (app.core.db.get_read_engine: on SQLite read-only
    # connections BEGIN deferred; older app versions without it read through the write engine).
    import app.core.db as db

    read_engine = engine.execution_options(flashjobs_read_only=True) if hasattr(db, "get_read_engine") else engine
    maker = sessionmaker(read_engine, expire_on_commit=False)
    out = {}
    for name, fn in qs.items():
        for i in range(2):  # warm-up
            with maker() as session:
                rows = check_results(name, fn(session, i))
        durations = []
        deadline = time.perf_counter() + max_seconds
        for i in range(calls):
            t0 = time.perf_counter()
            with maker() as session:
                fn(session, i)
            durations.append(time.perf_counter() - t0)
            if time.perf_counter() > deadline:
                break
        out[name] = {**common.summarize_ms(durations), "rows": rows}
    return out


def explain(engine, backend: str, qs: dict[str, Any], *, sql_calls: int = 30) -> dict[str, Any]:
    """Capture each query's SQL as executed, ask the database for its plan, and time the bare SQL (DBAPI
    cursor, fetchall: no ORM) so that the database's share can be told from the Python around it."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    plans = {}
    for name, fn in qs.items():
        captured: list[tuple[str, Any]] = []

        def capture(_conn, _cursor, statement, parameters, _context, _many, captured=captured):
            if statement.lstrip().upper().startswith("SELECT"):
                captured.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", capture)
        try:
            with Session(engine) as session:
                fn(session, 0)
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        statement, params = captured[-1]
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            if backend == "sqlite":
                cur.execute("EXPLAIN QUERY PLAN " + statement, params)
                lines = [row[3] for row in cur.fetchall()]
            else:  # three runs, the plan of the last, the fastest execution time (one run is noisy here)
                runs = []
                for _ in range(3):
                    cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                    lines = [row[0] for row in cur.fetchall()]
                    runs.extend(float(ln.split(":")[1].split()[0]) for ln in lines if ln.startswith("Execution Time"))
            durations = []
            for _ in range(sql_calls):
                t0 = time.perf_counter()
                cur.execute(statement, params)
                cur.fetchall()
                durations.append(time.perf_counter() - t0)
            cur.close()
            raw.rollback()
        finally:
            raw.close()
        text = "\n".join(lines)
        flags = []
        removed = 0
        if backend == "sqlite":
            for ln in lines:
                if ln.startswith("SCAN") and "CONSTANT ROW" in ln:
                    continue  # the VALUES list of an IN, not a table
                if ln.startswith("SCAN") and "USING" not in ln:
                    flags.append("full table scan")
                elif ln.startswith("SCAN"):
                    flags.append("walks an index from its end")
            if "TEMP B-TREE" in text:
                flags.append("sorts in a temp b-tree")
        else:
            if "Seq Scan" in text:
                flags.append("seq scan")
            if "Sort Key" in text:
                flags.append("sort")
            removed = sum(int(ln.split(":")[1]) for ln in lines if "Rows Removed by Filter" in ln)
            if removed:
                flags.append(f"{removed} rows removed by filter")
            execution = [min(runs)] if runs else []
        plans[name] = {
            "sql": " ".join(statement.split()),
            "plan": lines,
            "flags": flags,
            "sql_only": common.summarize_ms(durations),
        }
        if backend == "postgres":
            plans[name]["rows_removed_by_filter"] = removed
            plans[name]["server_execution_ms"] = execution[0] if execution else None
    return plans


def run_backend(backend: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from sqlalchemy import text

    from app.core.db import make_engine
    from app.core.migrate import upgrade

    name = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'store.db'}"
    else:
        url, name = create_postgres_database("flashjobs_bench_store", admin_url=common.POSTGRES_ADMIN_URL)
    result: dict[str, Any] = {"sizes": {}}
    try:
        upgrade(url)  # the real migrations
        engine = make_engine(url)
        rng = random.Random(11)
        train_ids: list[str] = []
        all_jobs: list[dict[str, Any]] = []
        large = args.large_jobs if backend == "postgres" or not args.sqlite_large_jobs else args.sqlite_large_jobs
        steps = [("small", args.small_jobs), ("large", large)]
        done = 0
        for label, size in steps:
            print(
                f"[{backend}] growing to {size} jobs ({size * EPOCHS * len(common.SERIES):,} metric rows)", flush=True
            )
            ins = grow(engine, backend, done, size, rng, train_ids, all_jobs)
            done = size
            print(f"    inserted in {ins['total_s']} s ({ins['metric_rows_per_s']:,} metric rows/s)", flush=True)
            qs = queries(all_jobs, random.Random(5))
            timings = time_queries(engine, qs, calls=args.calls, max_seconds=args.max_seconds)
            plans = explain(engine, backend, qs)
            result["sizes"][label] = {
                "jobs": size,
                "metric_rows": size * EPOCHS * len(common.SERIES),
                "insert": ins,
                "queries": timings,
                "plans": plans,
            }
            if backend == "sqlite":
                result["sizes"][label]["db_file_mib"] = round((tmp / "store.db").stat().st_size / 2**20)
            else:
                with engine.connect() as conn:
                    result["sizes"][label]["db_mib"] = round(
                        conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one() / 2**20
                    )
            for q, t in timings.items():
                server = f"  (server {plans[q]['server_execution_ms']:.3f} ms)" if backend == "postgres" else ""
                print(
                    f"    {q:26s} median {t['median_ms']:8.3f} ms  p99 {t['p99_ms']:8.3f} ms  rows {t['rows']:5d}"
                    f"  sql {plans[q]['sql_only']['median_ms']:7.3f} ms{server}  {', '.join(plans[q]['flags'])}",
                    flush=True,
                )
        small, big = result["sizes"]["small"]["queries"], result["sizes"]["large"]["queries"]
        small_sql = result["sizes"]["small"]["plans"]
        big_sql = result["sizes"]["large"]["plans"]
        result["ratio_large_to_small"] = {
            q: {
                "median": round(big[q]["median_ms"] / small[q]["median_ms"], 2),
                "p99": round(big[q]["p99_ms"] / small[q]["p99_ms"], 2),
                "sql_only_median": round(
                    big_sql[q]["sql_only"]["median_ms"] / small_sql[q]["sql_only"]["median_ms"], 2
                ),
                **(
                    {
                        "server_execution": round(
                            big_sql[q]["server_execution_ms"] / max(small_sql[q]["server_execution_ms"], 0.001), 2
                        )
                    }
                    if backend == "postgres"
                    else {}
                ),
            }
            for q in small
        }
        if args.extra_index or args.drop_index:
            created = []
            from sqlalchemy import inspect

            # --extra-index and --drop-index name indexes on jobs
            existing = {ix["name"] for ix in inspect(engine).get_indexes("jobs")}
            with engine.begin() as conn:
                for spec in args.extra_index:
                    iname, table, cols = spec.split(":")
                    if iname in existing:  # the migrations already have it
                        created.append(f"{iname} already in the schema")
                        continue
                    conn.execute(text(f"CREATE INDEX {iname} ON {table} ({cols})"))
                    created.append(f"CREATE INDEX {iname} ON {table} ({cols})")
                for iname in args.drop_index:
                    if iname not in existing:
                        created.append(f"{iname} not in the schema")
                        continue
                    conn.execute(text(f"DROP INDEX {iname}"))
                    created.append(f"DROP INDEX {iname}")
            if backend == "postgres":
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("ANALYZE jobs"))
            qs = queries(all_jobs, random.Random(5))
            timings = time_queries(engine, qs, calls=args.calls, max_seconds=args.max_seconds)
            plans = explain(engine, backend, qs)
            result["large_with_extra_indexes"] = {"index_changes": created, "queries": timings, "plans": plans}
            print(f"    after {'; '.join(created)}:", flush=True)
            for q, t in timings.items():
                server = (
                    f"  (server {plans[q]['server_execution_ms']:.3f} ms, was {big_sql[q]['server_execution_ms']:.3f})"
                    if backend == "postgres"
                    else ""
                )
                print(
                    f"    {q:26s} median {t['median_ms']:8.3f} ms  p99 {t['p99_ms']:8.3f} ms  "
                    f"(was {big[q]['median_ms']:.3f})  sql {plans[q]['sql_only']['median_ms']:7.3f} ms "
                    f"(was {big_sql[q]['sql_only']['median_ms']:.3f}){server}  {', '.join(plans[q]['flags'])}",
                    flush=True,
                )
        engine.dispose()
    finally:
        if name:
            drop_postgres_database(name, admin_url=common.POSTGRES_ADMIN_URL)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--small-jobs", type=int, default=1000)
    parser.add_argument("--large-jobs", type=int, default=10000)
    parser.add_argument(
        "--sqlite-large-jobs",
        type=int,
        default=0,
        help="a smaller large size for SQLite only, if the full one takes too long (0: the same)",
    )
    parser.add_argument("--calls", type=int, default=100, help="timed calls per query and size")
    parser.add_argument("--max-seconds", type=float, default=1.5, help="at most this long per query and size")
    parser.add_argument(
        "--extra-index",
        action="append",
        default=[],
        help="name:table:col1,col2 created after the large-size run, then timed again",
    )
    parser.add_argument("--drop-index", action="append", default=[], help="an index dropped at the same time")
    parser.add_argument("--output", default="store_scale", help="bench/results/<output>.json")
    args = parser.parse_args()

    backends = common.reachable_backends(args.backends)
    payload: dict[str, Any] = {
        "benchmark": "store_scale",
        "machine": common.machine(),
        "loadavg_start": common.loadavg(),
        "config": {
            "small_jobs": args.small_jobs,
            "large_jobs": args.large_jobs,
            "sqlite_large_jobs": args.sqlite_large_jobs or args.large_jobs,
            "epochs": EPOCHS,
            "series": len(common.SERIES),
            "calls": args.calls,
            "max_seconds": args.max_seconds,
            "status_mix_percent": STATUS_WEIGHTS,
            "finetune_share": 0.3,
            "page_limit": 50,
            "extra_indexes": args.extra_index,
            "dropped_indexes": args.drop_index,
        },
        "results": {},
    }
    if "postgres" in backends:
        payload["machine"]["postgres_server"] = common.postgres_server_version()
    started = time.perf_counter()
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="flashjobs-bench-store-") as tmpdir:
            payload["results"][backend] = run_backend(backend, args, Path(tmpdir))
    payload["loadavg_end"] = common.loadavg()
    payload["runtime_s"] = round(time.perf_counter() - started, 1)
    path = common.write_results(args.output, payload)
    print(f"\nmedian large/small (flat ~ 1); written to {path.relative_to(common.REPO)}")
    for backend, res in payload["results"].items():
        print(f"  {backend}:")
        for q, r in res["ratio_large_to_small"].items():
            extra = f"   server execution {r['server_execution']:6.2f}" if "server_execution" in r else ""
            print(f"    {q:26s} service {r['median']:6.2f}   sql only {r['sql_only_median']:6.2f}{extra}")


if __name__ == "__main__":
    main()
