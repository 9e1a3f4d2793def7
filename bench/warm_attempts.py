"""Submit -> first training step with attempts started ahead (FLASHJOBS_WARM_ATTEMPTS, worker/spare.py) against a
new process per attempt, in one invocation.

What it measures
    Two `flashjobs up` stacks one after the other on the same data, one with FLASHJOBS_WARM_ATTEMPTS=false (the
    baseline) and one with it on. On each, --jobs tiny jobs one after the other, each submitted --pause-s after
    the last ended (a warm worker: its spare has imported by then; the baseline waits the same), timed from the
    POST to the first `progress` event on its SSE stream (bench/latency.py's measurement). Target: < 2 s warm.

How to run
    .venv/bin/python bench/warm_attempts.py              # ~4 min on 2 CPU cores
Output
    bench/results/warm_attempts.json; docs/benchmarks.md reports a run.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import loadavg, machine, summarize_ms, write_results
from latency import submit_to_first_step
from service import running_service


def measure(root: Path, data_dir: Path, *, warm: bool, jobs: int, pause_s: float) -> dict:
    runs = []
    with running_service(root, data_dir, progress_every_s="0.5", warm_attempts=str(warm).lower()) as api_url:
        for _ in range(jobs):
            time.sleep(pause_s)
            runs.append(submit_to_first_step(api_url, 1))
    return {
        "submit_to_first_step_s": [r["submit_to_first_step_seen"]["median_ms"] / 1000 for r in runs],
        "submit_to_claimed_s": [r["submit_to_claimed"]["median_ms"] / 1000 for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--pause-s", type=float, default=15.0)
    args = parser.parse_args()
    from app.synthetic_data import write_cifar10

    start_load = loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_cifar10(root / "data", train_per_class=10, val_per_class=5)
        new = measure(root / "new", root / "data", warm=False, jobs=args.jobs, pause_s=args.pause_s)
        print("new process per attempt:", json.dumps(new))
        warm = measure(root / "warm", root / "data", warm=True, jobs=args.jobs, pause_s=args.pause_s)
        print("attempt started ahead:", json.dumps(warm))
    summary = {name: summarize_ms(side["submit_to_first_step_s"]) for name, side in (("new", new), ("warm", warm))}
    ratio = round(summary["warm"]["median_ms"] / summary["new"]["median_ms"], 3)
    path = write_results(
        "warm_attempts",
        {
            "machine": machine(),
            "loadavg_start": start_load,
            "loadavg_end": loadavg(),
            "config": vars(args),
            "target": "warm submit -> first step < 2 s",
            "submit_to_first_step": summary,
            "warm_over_new_median": ratio,
            "runs": {"new": new, "warm": warm},
        },
    )
    print(json.dumps({"submit_to_first_step": summary, "warm_over_new_median": ratio}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
