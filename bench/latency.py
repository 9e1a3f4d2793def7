"""Control-plane latency with a warm worker: submit -> first training step; epoch end -> visible.

What it measures
    `flashjobs up` (API, bundled Redis, one warm Celery worker, SQLite), loopback clients.
    1. Submit -> first step: POST /v1/jobs, then the SSE stream's first `progress` event (the worker reports the
       first batch of every epoch at once). Also submit -> claimed (the job's started_at). Repeated --jobs times.
    2. Epoch end -> visible: one job of many tiny epochs. Two clients watch it: a poller (GET
       /v1/jobs/{id}/metrics?since_epoch=<next> with If-None-Match, every --poll-ms) and an SSE reader. For each
       epoch: the moment each client first sees it, minus the moment the worker started its SQL write (the
       epoch's recorded_at, read from the database afterwards; one machine, one clock). The epoch's checkpoint
       is written just before that SQL write (so that a resumed attempt re-reports identical values); its
       duration is reported separately. p50 and p99 over all epochs. Target: p99 < 100 ms.

How to run
    .venv/bin/python bench/latency.py                    # ~3 min on 2 CPU cores
    .venv/bin/python bench/latency.py --epochs 10 --jobs 2
Output
    bench/results/latency.json; docs/benchmarks.md reports a run.
"""

import argparse
import json
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

from app.jobs.status import JobStatus

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import loadavg, machine, summarize_ms, write_results
from service import api, running_service, wait_final

TINY = {
    "kind": "train",
    "dataset": {"name": "cifar10", "train_limit": 40, "val_limit": 20},
    "model": {"backbone": "resnet18", "cifar_stem": False},
    "trainer": {"batch_size": 20, "learning_rate": 0.05, "num_workers": 0},
}


def first_progress(api_url: str, job_id: str, seen: dict) -> None:
    with api.stream("GET", f"{api_url}/v1/jobs/{job_id}/metrics/stream", timeout=600) as response:
        for line in response.iter_lines():
            if line.startswith("event:") and line.split(":", 1)[1].strip() in ("progress", "epoch"):
                seen["first_step"] = time.time()
                return


def submit_to_first_step(api_url: str, jobs: int) -> dict:
    claimed, first_step = [], []
    for _ in range(jobs):
        start = time.time()
        job = api.post(
            f"{api_url}/v1/jobs", json={**TINY, "trainer": {**TINY["trainer"], "max_epochs": 1}}, timeout=30
        ).json()
        seen: dict = {}
        reader = threading.Thread(target=first_progress, args=(api_url, job["id"], seen))
        reader.start()
        job, _ = wait_final(api_url, job["id"])
        reader.join(timeout=60)
        claimed.append(datetime.fromisoformat(job["started_at"]).timestamp() - start)
        first_step.append(seen["first_step"] - start)
    return {"submit_to_claimed": summarize_ms(claimed), "submit_to_first_step_seen": summarize_ms(first_step)}


def watch_polling(api_url: str, job_id: str, epochs: int, poll_s: float, seen: dict[int, float]) -> None:
    etag, next_epoch = None, 0
    with httpx.Client(base_url=api_url, headers=api.headers, timeout=10) as client:
        deadline = time.monotonic() + 1800
        while next_epoch < epochs and time.monotonic() < deadline:
            headers = {"If-None-Match": etag} if etag else {}
            response = client.get(
                f"/v1/jobs/{job_id}/metrics",
                params={"since_epoch": next_epoch, "names": "val_accuracy"},
                headers=headers,
            )
            now = time.time()
            if response.status_code == 200:
                etag = response.headers["etag"]
                for point in response.json()["series"].get("val_accuracy", []):
                    seen.setdefault(point["epoch"], now)
                    next_epoch = max(next_epoch, point["epoch"] + 1)
            time.sleep(poll_s)


def watch_sse(api_url: str, job_id: str, seen: dict[int, float]) -> None:
    with api.stream("GET", f"{api_url}/v1/jobs/{job_id}/metrics/stream", timeout=1800) as response:
        event = None
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "epoch":
                seen.setdefault(json.loads(line.split(":", 1)[1])["epoch"], time.time())
            elif event == "end":
                return


def recorded_at(database: Path, job_id: str) -> dict[int, float]:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT epoch, MIN(recorded_at) FROM metrics WHERE job_id = :j GROUP BY epoch"), {"j": job_id}
        ).all()
    engine.dispose()
    # Stored as naive UTC (app.core.db.UTCDateTime).
    return {
        epoch: datetime.fromisoformat(str(at)).replace(tzinfo=__import__("datetime").UTC).timestamp()
        for epoch, at in rows
    }


def epoch_visibility(api_url: str, database: Path, epochs: int, poll_ms: float) -> dict:
    spec = {**TINY, "trainer": {**TINY["trainer"], "max_epochs": epochs}}
    job = api.post(f"{api_url}/v1/jobs", json=spec, timeout=30).json()
    polled: dict[int, float] = {}
    streamed: dict[int, float] = {}
    watchers = [
        threading.Thread(target=watch_polling, args=(api_url, job["id"], epochs, poll_ms / 1000, polled)),
        threading.Thread(target=watch_sse, args=(api_url, job["id"], streamed)),
    ]
    for watcher in watchers:
        watcher.start()
    final, _ = wait_final(api_url, job["id"])
    for watcher in watchers:
        watcher.join(timeout=60)
    assert final["status"] == JobStatus.SUCCEEDED, final
    written = recorded_at(database, job["id"])
    return {
        "epochs": epochs,
        "poll_interval_ms": poll_ms,
        "get_metrics": summarize_ms([polled[e] - written[e] for e in written if e in polled]),
        "sse": summarize_ms([streamed[e] - written[e] for e in written if e in streamed]),
        "epochs_seen": {"polled": len(polled), "sse": len(streamed), "recorded": len(written)},
    }


def checkpoint_write_ms() -> dict:
    """How long the per-epoch checkpoint of this model takes to write (it precedes the SQL write)."""
    import os

    import torch

    from app.jobs.schemas import JobSpec
    from worker.training.model import build_classifier

    model = build_classifier(JobSpec.model_validate(TINY), num_classes=10, parent_backbone=None)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    optimizer.step()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "last.ckpt"
        for _ in range(5):
            start = time.time()
            with open(path.with_suffix(".tmp"), "wb") as f:
                torch.save({"state_dict": model.state_dict(), "optimizer": optimizer.state_dict()}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(path.with_suffix(".tmp"), path)
            times.append(time.time() - start)
        size = path.stat().st_size
    return {"bytes": size, **summarize_ms(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--poll-ms", type=float, default=5.0)
    args = parser.parse_args()
    from app.synthetic_data import write_cifar10

    start_load = loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_cifar10(root / "data", train_per_class=10, val_per_class=5)
        with running_service(root / "service", root / "data", progress_every_s="0.5") as api_url:
            startup = submit_to_first_step(api_url, args.jobs)
            print("submit -> first step:", json.dumps(startup))
            visibility = epoch_visibility(
                api_url, root / "service" / "state" / "flashjobs.db", args.epochs, args.poll_ms
            )
            print("epoch end -> visible:", json.dumps(visibility))
    checkpoint = checkpoint_write_ms()
    print("checkpoint write:", json.dumps(checkpoint))
    path = write_results(
        "latency",
        {
            "machine": machine(),
            "loadavg_start": start_load,
            "loadavg_end": loadavg(),
            "config": vars(args),
            "target_p99_ms": 100,
            "submit_to_first_step": startup,
            "epoch_visibility": visibility,
            "checkpoint_write": checkpoint,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
