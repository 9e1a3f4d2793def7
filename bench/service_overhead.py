"""Service overhead: one training job through the whole service against the same spec run in-process.

What it measures
    Service: `flashjobs up` (API, bundled Redis, one warm Celery worker, SQLite), then HTTP POST /v1/jobs and
    polling (every 0.5 s: faster polls took measurable CPU from training) until it has succeeded; wall time from
    the POST to the job's `finished_at` (set when its artifacts are registered; one machine, one clock). The
    worker runs the job in a fresh process (imports torch and Flash), heartbeats, writes every epoch to SQL
    and Redis, and registers the artifacts.
    Direct: the same spec, data and code (worker.training.recipe.run) in a fresh Python process with a reporter
    that keeps the values in memory; wall time from spawning the process to its exit (imports included, as
    a user's training script pays them), and the run() call alone.
    Ratios: service wall / direct wall (target <= 1.05); service wall / direct run() alone (the upper bound of
    the overhead: the service's fixed per-job cost is the child's imports); and mean per-epoch training time
    (train_epoch_seconds) service / direct.
    Runs alternate direct, service, direct, service; each figure is the best of its runs (least disturbed).
    Also: training images/s (images x epochs / the sum of train_epoch_seconds), and on a GPU its utilisation
    and peak memory while each run trains (nvidia-smi, sampled every 100 ms). The job takes the GPU whenever
    torch sees one (worker.training.recipe), so on a GPU machine this measures the GPU path.

How to run
    .venv/bin/python bench/service_overhead.py                   # ~6 min on 2 CPU cores
    .venv/bin/python bench/service_overhead.py --train-per-class 50 --epochs 2 --repeats 1   # quick look
Output
    bench/results/service_overhead.json; docs/benchmarks.md reports a run.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from app.jobs.status import JobStatus

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import GpuSampler, loadavg, machine, write_results
from service import api, running_service, wait_final

REPO = Path(__file__).resolve().parents[1]


def job_spec(epochs: int, cifar_stem: bool) -> dict:
    return {
        "kind": "train",
        "dataset": {"name": "cifar10"},
        "model": {"backbone": "resnet18", "cifar_stem": cifar_stem},
        "trainer": {"max_epochs": epochs, "batch_size": 128, "learning_rate": 0.05},
    }


DIRECT = """
import json, sys, time
from pathlib import Path
from app.jobs.schemas import JobSpec
from worker.training import recipe

class Keep:
    def __init__(self): self.epochs = {}
    def epoch_end(self, epoch, values): self.epochs[epoch] = values
    def progress(self, **fields): pass
    def should_stop(self): return False

spec, data_dir, work_dir, out = sys.argv[1:5]
reporter = Keep()
start = time.monotonic()
recipe.run(spec=JobSpec.model_validate_json(spec), job_id="direct", work_dir=Path(work_dir), data_dir=Path(data_dir),
           allow_downloads=False, parent_backbone=None, reporter=reporter)
Path(out).write_text(json.dumps({"run_s": time.monotonic() - start, "epochs": reporter.epochs}))
"""


def run_direct(spec: dict, data_dir: Path, work_dir: Path) -> dict:
    out = work_dir / "direct.json"
    start = time.monotonic()
    with GpuSampler() as gpu:
        subprocess.run(
            [sys.executable, "-c", DIRECT, json.dumps(spec), str(data_dir), str(work_dir), str(out)],
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    wall = time.monotonic() - start
    result = json.loads(out.read_text())
    epoch_s = [v["train_epoch_seconds"] for v in result["epochs"].values()]
    return {"wall_s": wall, "run_s": result["run_s"], "epoch_s": epoch_s, "gpu": gpu.summary()}


def run_service(api_url: str, spec: dict) -> dict:
    start = time.time()  # the API's clock too (one machine): the job's finished_at ends the measurement
    with GpuSampler() as gpu:
        job = api.post(f"{api_url}/v1/jobs", json=spec, timeout=30).json()
        job, _ = wait_final(api_url, job["id"])
    assert job["status"] == JobStatus.SUCCEEDED, job
    finished = datetime.fromisoformat(job["finished_at"]).timestamp()
    series = api.get(
        f"{api_url}/v1/jobs/{job['id']}/metrics", params={"names": "train_epoch_seconds"}, timeout=30
    ).json()["series"]["train_epoch_seconds"]
    return {"wall_s": finished - start, "epoch_s": [p["value"] for p in series], "gpu": gpu.summary()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-per-class", type=int, default=300, help="3,000 images at the default")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cifar-stem", action="store_true", help="the default recipe's stem (15x the CPU work)")
    parser.add_argument("--output", default="service_overhead", help="bench/results/<output>.json")
    args = parser.parse_args()
    from app.synthetic_data import write_cifar10

    spec = job_spec(args.epochs, args.cifar_stem)
    start_load = loadavg()
    runs: dict[str, list[dict]] = {"direct": [], "service": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data_dir = root / "data"
        write_cifar10(data_dir, train_per_class=args.train_per_class, val_per_class=args.train_per_class // 5)
        with running_service(root / "service", data_dir) as api_url:
            for i in range(args.repeats):
                work = root / f"direct{i}"
                work.mkdir()
                runs["direct"].append(run_direct(spec, data_dir, work))
                runs["service"].append(run_service(api_url, spec))
                print(
                    f"repeat {i}: direct {runs['direct'][-1]['wall_s']:.1f} s "
                    f"(run() {runs['direct'][-1]['run_s']:.1f} s), service {runs['service'][-1]['wall_s']:.1f} s"
                )

    def best(kind: str, key: str) -> float:
        return min(r[key] for r in runs[kind])

    def best_epoch(kind: str) -> float:
        return min(sum(r["epoch_s"]) / len(r["epoch_s"]) for r in runs[kind])

    ratios = {
        "wall_service_over_direct_process": round(best("service", "wall_s") / best("direct", "wall_s"), 3),
        "wall_service_over_direct_run_only": round(best("service", "wall_s") / best("direct", "run_s"), 3),
        "epoch_service_over_direct": round(best_epoch("service") / best_epoch("direct"), 3),
    }
    images = args.train_per_class * 10
    train_images_per_s = {kind: round(images / best_epoch(kind), 1) for kind in runs}
    print(json.dumps({**ratios, "train_images_per_s": train_images_per_s}, indent=2))
    path = write_results(
        args.output,
        {
            "machine": machine(),
            "loadavg_start": start_load,
            "loadavg_end": loadavg(),
            "target_ratio": 1.05,
            "config": {**vars(args), "images": images, "spec": spec},
            "ratios": ratios,
            "train_images_per_s": train_images_per_s,
            "runs": runs,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
