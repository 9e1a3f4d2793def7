"""The dashboard in a real browser: how long 1,000 jobs and a job of 200 epochs x 12 series take to be on screen.

What it measures
    The real API (`uvicorn app.main:app`, as `flashjobs up` serves it) on SQLite holding 1,000 jobs (created
    through app.jobs.creation.create_chain; 1 in 20 running, the rest succeeded, each with latest metrics) and one
    more job with `--epochs` (200) epochs of the 12 series (recorded through app.metrics.service.record_epoch), and
    one with a single epoch. Headless Chromium (Debian's `chromium`, driven by Playwright) opens each view in a
    fresh tab; the time is the page's own performance.now() (milliseconds since the navigation started) at the
    first animation frame after everything asked for is drawn:

        jobs_first_page  #/jobs?limit=200: the first 200 of the 1,000 rows, with their progress bars
        jobs_all_pages   the same, then "Older" until the 1,000th job has been shown (5 pages, 5 requests)
        job_200_epochs   #/job/<id>: every chart holds all 200 epochs (2,400 values through the SSE stream)
        compare_200      #/compare?ids=<the 200-epoch job>,<the 1-epoch job>: both overlaid

    Baselines, on the same server and browser in the same run: an empty table (#/jobs?status=cancelling, no job
    has that status: the page's fixed cost of loading its modules, one request and a paint) for the tables,
    the 1-epoch job's page for the job page and compare. Each view is opened `--rounds` times (default 5); the
    median is reported, with the ratio to its baseline's median, and the median time of the last byte of the
    API's last answer (so that what the server takes and what the page takes can be told apart). Nothing is
    asserted: the target is under 1 s.

How to run
    .venv/bin/python bench/dashboard.py                 # ~1 min; needs `chromium` (apt-get install chromium)
    .venv/bin/python bench/dashboard.py --rounds 9

Output
    bench/results/dashboard.json: machine, config and per view every round's milliseconds, the median and the
    ratio to its baseline, and the API's last byte. docs/benchmarks.md gives a run's figures.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (bench/ is on sys.path when run as a script)
from polling import api_server  # noqa: E402

from tests.helpers import free_port  # noqa: E402

JOBS = 1000


def seed(url: str, *, epochs: int) -> dict[str, str]:
    """1,000 jobs, one job with `epochs` epochs of common.SERIES and one with a single epoch; their ids."""
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
    from app.jobs.status import JobStatus
    from app.metrics.service import record_epoch

    upgrade(url)
    engine = make_engine(url)
    rng = random.Random(3)
    spec = JobSpec(kind="train", dataset={"name": "cifar10"}, trainer={"max_epochs": 30})
    principal = Principal("bench", "default", Scope.SUBMIT)
    ids: dict[str, str] = {}
    try:
        with Session(engine) as session, session.begin():
            _, ids["key"] = access.create_key(session, project="default", scope=Scope.READ, name="bench")
            jobs, _, _ = create_chain(session, steps=[spec] * JOBS, loc=["body"], principal=principal)
            now = utcnow()
            for i, job in enumerate(jobs):
                running = i % 20 == 0
                job.status = JobStatus.RUNNING if running else JobStatus.SUCCEEDED
                job.attempt, job.started_at, job.owner, job.heartbeat_at = 1, now, "bench-worker", now
                job.epochs_done = rng.randrange(1, 30) if running else 30
                job.finished_at = None if running else now
                job.latest_metrics = {name: rng.random() for name in common.SERIES}
        for name, count in (("long", epochs), ("short", 1)):
            job_spec = JobSpec(kind="train", dataset={"name": "cifar10"}, trainer={"max_epochs": count})
            with Session(engine) as session, session.begin():
                (job,), _, _ = create_chain(session, steps=[job_spec], loc=["body"], principal=principal)
                ids[name] = job.id
            with Session(engine) as session, session.begin():
                assert service.claim(session, job_id=ids[name], owner="bench-worker") is not None
            for epoch in range(count):
                values = {s: 1 / (epoch + 1) + 0.05 * rng.random() for s in common.SERIES}
                with Session(engine) as session, session.begin():
                    assert record_epoch(session, job_id=ids[name], attempt=1, epoch=epoch, values=values)
            with Session(engine) as session, session.begin():
                session.get(Job, ids[name]).status = JobStatus.SUCCEEDED  # the stream sends every epoch, then ends
    finally:
        engine.dispose()
    return ids


# Each returns performance.now() at the first animation frame where its view is complete (polling: "raf").
def _rows(count: int) -> str:
    return f"() => document.querySelectorAll('#jobs tbody tr[data-job]').length === {count} && performance.now()"


def _charts(epochs: int, charts: int) -> str:
    return (
        f"() => {{ const c = [...document.querySelectorAll('.chart')]; return c.length === {charts}"
        f" && c.every((e) => e.dataset.epochs === '{epochs}') && performance.now(); }}"
    )


EMPTY = "() => document.querySelector('#jobs tbody td.muted') && performance.now()"


# The last byte of the last API answer (the SSE stream's included: it ends after a finished job's last epoch).
LAST_API_BYTE = (
    "Math.max(0, ...performance.getEntriesByType('resource')"
    ".filter((e) => e.name.includes('/v1/')).map((e) => e.responseEnd))"
)


def open_view(browser: Any, base: str, key: str, hash_: str, done: str, then: Any = None) -> tuple[float, float]:
    """Milliseconds from navigation start until `done` holds in a fresh tab (with the API key), and until the API's
    last byte."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script(f"sessionStorage.setItem('flashjobs.apiKey', {json.dumps(key)})")
    try:
        page.goto(f"{base}/{hash_}")
        ms = page.wait_for_function(done, polling="raf", timeout=60_000).json_value()
        if then is not None:
            ms = then(page)
        return float(ms), float(page.evaluate(LAST_API_BYTE))
    finally:
        page.close()


def walk_pages(page: Any) -> float:
    """Press "Older" until the table has shown the last of the jobs; performance.now() then."""
    shown = page.locator("#jobs tbody tr[data-job]").count()
    while shown < JOBS:
        first = page.locator("#jobs tbody tr[data-job]").first.get_attribute("data-job")
        page.click("#older")
        ms = page.wait_for_function(
            f"() => {{ const r = document.querySelector('#jobs tbody tr[data-job]');"
            f" return r && r.dataset.job !== '{first}' && performance.now(); }}",
            polling="raf",
        ).json_value()
        shown += page.locator("#jobs tbody tr[data-job]").count()
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", default="dashboard", help="bench/results/<output>.json")
    args = parser.parse_args()
    executable = shutil.which("chromium")
    if executable is None:
        sys.exit("chromium is not installed: apt-get install -y chromium")

    from playwright.sync_api import sync_playwright

    from app.core.config import get_settings
    from app.core.embedded_redis import start_redis_server

    load_before = common.loadavg()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp_name:
        tmp = Path(tmp_name)
        redis_port = free_port()
        redis_proc = start_redis_server(port=redis_port, data_dir=tmp / "redis")
        stack.callback(lambda: (redis_proc.terminate(), redis_proc.wait(timeout=10)))
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        os.environ["FLASHJOBS_REDIS_URL"] = redis_url
        get_settings.cache_clear()
        url = f"sqlite:///{tmp / 'flashjobs.db'}"
        started = time.perf_counter()
        ids = seed(url, epochs=args.epochs)
        print(f"seeded {JOBS + 2} jobs in {time.perf_counter() - started:.1f} s", flush=True)
        base, _pid = stack.enter_context(
            api_server(url=url, state_dir=tmp / "state", redis_url=redis_url, log_path=tmp / "api.log")
        )
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        stack.callback(browser.close)
        version = browser.version
        charts = len({name.split("_", 1)[1] for name in common.SERIES})  # a chart per metric, a line per split
        views = {
            "jobs_empty": ("#/jobs?status=cancelling", EMPTY, None),
            "jobs_first_page": ("#/jobs?limit=200", _rows(200), None),
            "jobs_all_pages": ("#/jobs?limit=200", _rows(200), walk_pages),
            "job_1_epoch": (f"#/job/{ids['short']}", _charts(1, charts), None),
            f"job_{args.epochs}_epochs": (f"#/job/{ids['long']}", _charts(args.epochs, charts), None),
            f"compare_{args.epochs}": (f"#/compare?ids={ids['long']},{ids['short']}", _charts(args.epochs, 4), None),
        }
        open_view(
            browser, base, ids["key"], *views["jobs_empty"][:2]
        )  # warm the server's and the browser's caches once
        rounds: dict[str, list[float]] = {name: [] for name in views}
        api_rounds: dict[str, list[float]] = {name: [] for name in views}
        for _ in range(args.rounds):
            for name, (hash_, done, then) in views.items():
                ms, api_ms = open_view(browser, base, ids["key"], hash_, done, then)
                rounds[name].append(round(ms, 1))
                api_rounds[name].append(round(api_ms, 1))
    baseline_of = {"jobs_first_page": "jobs_empty", "jobs_all_pages": "jobs_empty"}
    baseline_of |= {f"job_{args.epochs}_epochs": "job_1_epoch", f"compare_{args.epochs}": "job_1_epoch"}
    results: dict[str, Any] = {}
    for name, values in rounds.items():
        median = statistics.median(values)
        base_name = baseline_of.get(name)
        ratio = round(median / statistics.median(rounds[base_name]), 2) if base_name else None
        api = statistics.median(api_rounds[name])
        results[name] = {
            "median_ms": median,
            "rounds_ms": values,
            "baseline": base_name,
            "ratio": ratio,
            "last_api_byte_median_ms": api,
            "last_api_byte_rounds_ms": api_rounds[name],
        }
        note = f"  ({ratio}x {base_name})" if ratio else ""
        print(f"{name:<20} median {median:7.1f} ms (API's last byte {api:7.1f}){note}   rounds {values}", flush=True)
    payload = {
        "machine": common.machine(),
        "loadavg": {"start": load_before, "end": common.loadavg()},
        "config": {"jobs": JOBS, "epochs": args.epochs, "series": len(common.SERIES), "rounds": args.rounds},
        "browser": f"chromium {version}",
        "views": results,
    }
    print(f"wrote {common.write_results(args.output, payload)}")


if __name__ == "__main__":
    main()
