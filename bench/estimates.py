"""The estimate a job starts with (POST /v1/estimates, app/estimates/service.py) against its actual duration.

What it measures
    One `flashjobs up` stack (API, one warm worker, SQLite) on synthetic CIFAR-10. Tiny train jobs of one spec,
    one after the other, with --epochs each (the default varies them, so the estimate also extrapolates to other
    epoch counts). Each job stores at creation the estimate from the runs before it; once it ends, its actual
    duration (finished_at - started_at) is compared: relative error = (estimate - actual) / actual. The first job
    has no basis. A submission with `reuse: if_identical` after the first run is checked to be answered by it.

How to run
    .venv/bin/python bench/estimates.py                  # ~4 min on 2 CPU cores
Output
    bench/results/estimates.json; docs/benchmarks.md reports a run.
"""

import argparse
import json
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import loadavg, machine, write_results
from service import api, running_service, wait_final

TRAIN_IMAGES = 200


def spec(epochs: int) -> dict:
    return {
        "kind": "train",
        "dataset": {"name": "cifar10", "train_limit": TRAIN_IMAGES},
        "model": {"backbone": "resnet18", "cifar_stem": False},
        "trainer": {"max_epochs": epochs, "batch_size": 20, "optimizer": "adam", "num_workers": 0},
    }


def _seconds(job: dict) -> float:
    return (datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, nargs="+", default=[2, 2, 3, 1, 2], help="max_epochs of each job")
    args = parser.parse_args()
    from app.synthetic_data import write_cifar10

    start_load, runs = loadavg(), []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_cifar10(root / "data", train_per_class=TRAIN_IMAGES // 10, val_per_class=4)
        with running_service(root, root / "data") as url:
            for index, epochs in enumerate(args.epochs):
                created = api.post(f"{url}/v1/jobs", json=spec(epochs), timeout=30).json()
                job, _ = wait_final(url, created["id"])
                assert job["status"] == "succeeded", job
                estimate, actual = created["estimate"], _seconds(job)
                error = None if estimate["seconds"] is None else (estimate["seconds"] - actual) / actual
                runs.append({"epochs": epochs, "estimate": estimate, "actual_s": round(actual, 2), "error": error})
                print(json.dumps(runs[-1]))
                if index == 0:
                    reused = api.post(f"{url}/v1/jobs", json={**spec(epochs), "reuse": "if_identical"}, timeout=30)
                    assert reused.status_code == 200 and reused.json()["id"] == job["id"], reused.text
    errors = [run["error"] for run in runs if run["error"] is not None]
    summary = {
        "runs_with_a_basis": len(errors),
        "median_abs_error": round(statistics.median(abs(e) for e in errors), 3) if errors else None,
        "max_abs_error": round(max(abs(e) for e in errors), 3) if errors else None,
        "errors": [round(e, 3) for e in errors],
    }
    path = write_results(
        "estimates",
        {
            "machine": machine(),
            "loadavg_start": start_load,
            "loadavg_end": loadavg(),
            "config": vars(args),
            "summary": summary,
            "runs": runs,
        },
    )
    print(json.dumps(summary, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
