"""Transfer gain on the demo's chain: the CPU demo's CIFAR-10 -> CIFAR-100 finetune against its two controls.

What it measures
    Through the real service (`flashjobs up` in the background: API, Celery worker, Redis, SQLite), on synthetic
    CIFAR-format files (2 000 CIFAR-10 training images, 2 000 of CIFAR-100: 0.4 of the CPU demo's, so that it ends
    on a shared 2-core machine), with the CPU demo's model and trainer: the demo's chain (train, then a `freeze`
    finetune), the finetune submitted twice, once with a `scratch` control and once with a `frozen_random` one.
    Reports GET /v1/jobs/{id}/transfer of each (per-epoch gain, epochs saved, compute) and the leakage warning
    the finetune got. The baseline is built in: each control ran in the same invocation.
    Synthetic data: the figures say how the service reports transfer, not what transfer does on real CIFAR.
How to run
    .venv/bin/python bench/transfer_gain.py      # ~15 min on 2 shared cores
Output
    bench/results/transfer_gain.json; docs/transfer.md reports a run.
"""

import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import loadavg, machine, write_results
from service import running_service, wait_final

from app.cli.demo import CPU_PLAN
from app.synthetic_data import write_cifar10, write_cifar100

TRAINER = {
    "batch_size": CPU_PLAN.batch_size,
    "learning_rate": CPU_PLAN.learning_rate,
    "optimizer": CPU_PLAN.optimizer,
    "num_workers": CPU_PLAN.num_workers,
}
MODEL = {"backbone": "resnet18", "cifar_stem": CPU_PLAN.cifar_stem}
TRAIN_PER_CLASS = {"cifar10": 200, "cifar100": 20}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_cifar10(root / "data", train_per_class=TRAIN_PER_CLASS["cifar10"], val_per_class=50)
        write_cifar100(root / "data", train_per_class=TRAIN_PER_CLASS["cifar100"], val_per_class=10)
        finetune = {
            "kind": "finetune",
            "dataset": {"name": "cifar100"},
            "init_from": {"step": 0},
            "finetune": {"strategy": "freeze"},
            "trainer": {**TRAINER, "max_epochs": CPU_PLAN.finetune_epochs},
        }
        chain = {
            "steps": [
                {
                    "kind": "train",
                    "dataset": {"name": "cifar10"},
                    "model": MODEL,
                    "trainer": {**TRAINER, "max_epochs": CPU_PLAN.train_epochs},
                },
                {**finetune, "control": {"kind": "scratch"}},
                {**finetune, "control": {"kind": "frozen_random"}},
            ]
        }
        with running_service(root / "service", root / "data") as api:
            jobs = httpx.post(f"{api}/v1/chains", json=chain, timeout=30).json()["jobs"]
            for job in jobs:
                final, _ = wait_final(api, job["id"])
                assert final["status"] == "succeeded", final
            reports = {}
            for job in jobs[1:3]:
                report = httpx.get(f"{api}/v1/jobs/{job['id']}/transfer", timeout=30).json()
                reports[report["control_kind"]] = report
            warnings = httpx.get(f"{api}/v1/jobs/{jobs[1]['id']}", timeout=30).json()["warnings"]
    payload = {
        "machine": machine(),
        "loadavg": loadavg(),
        "data": f"synthetic CIFAR-format files (app/synthetic_data.py), training images per class {TRAIN_PER_CLASS}",
        "transfer": reports,
        "leakage_warnings_of_the_finetune": warnings,
    }
    for kind, report in reports.items():
        print(kind, "final gain", report["final_gain"], "epochs saved", report["epochs_saved"])
    print(f"wrote {write_results('transfer_gain', payload)}")


if __name__ == "__main__":
    main()
