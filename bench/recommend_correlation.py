"""Does the recommendation's LogME score order backbones as actual `freeze` finetunes do? Rank correlation.

What it measures
    Six backbones are trained with the real recipe (resnet18, 16 px, adam) on synthetic folders whose relatedness
    to one target varies: the target's six patterns (6 epochs, and 1 epoch), three of them beside three others,
    four other patterns, six colours of one pattern; a random backbone of the same architecture is the seventh.
    The target is the six patterns in random colours (other pictures than any source's), with a validation
    folder of its own. For each backbone, in one run:
    score     worker/transfer/recommend.rank: LogME of a class-balanced sample of the target's training images
              through the backbone, exactly what POST /v1/recommendations computes on a worker
    accuracy  the best val_accuracy of a `freeze` finetune of that backbone on the target (the recipe a
              finetune job runs; only the head trains), and its last one
    Reports Spearman's rho and Kendall's tau between the scores and the best accuracies (scipy), with the
    permutation p-value of rho over every ordering of the seven. Synthetic data (this machine has no other
    offline): the figures say whether the score tracks finetune accuracy across these backbones, not what it does
    on real photographs.
How to run
    .venv/bin/python bench/recommend_correlation.py [--repeats 3]   # 3-4 min a run on 2 shared cores
Output
    bench/results/recommend_correlation.json; docs/transfer.md reports a run.
"""

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import loadavg, machine, write_results
from scipy.stats import kendalltau, spearmanr

from app.jobs.schemas import DatasetSpec, JobSpec, ModelSpec
from app.synthetic_data import write_pattern_folder
from tests.training.recording_reporter import RecordingReporter
from worker.training.recipe import run
from worker.transfer.recommend import Candidate, rank

SIZE = 16
MODEL = {"backbone": "resnet18", "cifar_stem": False}
TRAINER = {"batch_size": 32, "learning_rate": 1e-3, "optimizer": "adam", "num_workers": 0}
TARGET = [(0, p) for p in range(6)]  # six patterns, random colours
SOURCES = {  # name: (classes as (colour, pattern), colour_matches, epochs)
    "target_patterns": (TARGET, 0.0, 6),
    "target_patterns_1_epoch": (TARGET, 0.0, 1),
    "half_target_patterns": ([(0, p) for p in (0, 1, 2, 6, 7, 8)], 0.0, 6),
    "other_patterns": ([(0, p) for p in (6, 7, 8, 9)], 0.0, 6),
    "colours_one_pattern": ([(c, 9) for c in range(6)], 1.0, 6),
}
FINETUNE_EPOCHS = 6


def train(spec: dict, *, job_id: str, data: Path, work: Path, parent_backbone: Path | None):
    reporter = RecordingReporter()
    started = time.perf_counter()
    result = run(
        spec=JobSpec.model_validate(spec),
        job_id=job_id,
        work_dir=work / job_id,
        data_dir=data,
        allow_downloads=False,
        parent_backbone=parent_backbone,
        reporter=reporter,
    )
    assert result.status == "succeeded", result
    return result, [metrics for _, metrics in reporter.epochs], time.perf_counter() - started


def permutation_p(scores: list[float], accuracies: list[float]) -> float:
    """P(rho >= observed) over every ordering of the accuracies: exact for seven points (5,040 orderings)."""
    observed = spearmanr(scores, accuracies).statistic
    rhos = [spearmanr(scores, order).statistic for order in itertools.permutations(accuracies)]
    return float(np.mean([rho >= observed - 1e-12 for rho in rhos]))


def one_run(seed: int) -> dict:
    """Train the sources, rank them for the target and finetune each; the data and every seed follow `seed`."""
    with tempfile.TemporaryDirectory() as tmp:
        data, work = Path(tmp) / "data", Path(tmp) / "work"
        for offset, (name, (classes, colour_matches, _)) in enumerate(SOURCES.items(), start=10):
            write_pattern_folder(
                data / name, classes, size=SIZE, per_class=60, colour_matches=colour_matches, seed=100 * seed + offset
            )
        write_pattern_folder(
            data / "target" / "train", TARGET, size=SIZE, per_class=30, colour_matches=0.0, seed=100 * seed + 3
        )
        write_pattern_folder(
            data / "target" / "val", TARGET, size=SIZE, per_class=30, colour_matches=0.0, seed=100 * seed + 4
        )
        target = {"name": "folder", "train_folder": "target/train", "val_folder": "target/val", "image_size": SIZE}
        trainer = {**TRAINER, "seed": seed}

        candidates, sources = [], {}
        for name, (_, _, epochs) in SOURCES.items():
            spec = {
                "kind": "train",
                "dataset": {"name": "folder", "train_folder": name, "image_size": SIZE},
                "model": MODEL,
                "trainer": {**trainer, "max_epochs": epochs},
            }
            result, epochs_seen, seconds = train(spec, job_id=name, data=data, work=work, parent_backbone=None)
            backbone = result.artifacts["backbone"]
            candidates.append(Candidate(name, backbone, ModelSpec(**MODEL), {"name": name}, "train"))
            sources[name] = {"train_seconds": round(seconds, 1), "source_val_accuracy": epochs_seen[-1]["val_accuracy"]}

        ranking = rank(
            dataset=DatasetSpec.model_validate(target),
            candidates=candidates,
            sample_size=180,
            seed=seed,
            include_random=True,
            data_dir=data,
            artifact_dir=None,
        )
        rows = []
        for entry in ranking["ranking"]:
            name = entry["job_id"] or "random"
            backbone = next((c.backbone_path for c in candidates if c.job_id == entry["job_id"]), None)
            spec = {
                "kind": "finetune",
                "dataset": target,
                "model": MODEL,
                "init_from": {"job_id": name} if backbone else {"random": True},
                "finetune": {"strategy": "freeze"},
                "trainer": {**trainer, "learning_rate": 1e-2, "max_epochs": FINETUNE_EPOCHS},
            }
            _, epochs_seen, seconds = train(
                spec, job_id=f"finetune-{name}", data=data, work=work, parent_backbone=backbone
            )
            accuracies = [metrics["val_accuracy"] for metrics in epochs_seen]
            rows.append(
                {
                    "backbone": name,
                    "logme": round(entry["score"], 4),
                    "best_val_accuracy": round(max(accuracies), 4),
                    "last_val_accuracy": round(accuracies[-1], 4),
                    "finetune_seconds": round(seconds, 1),
                    **sources.get(name, {}),
                }
            )
    scores = [row["logme"] for row in rows]
    best = [row["best_val_accuracy"] for row in rows]
    return {
        "seed": seed,
        "backbones": rows,
        "spearman_rho_best": round(float(spearmanr(scores, best).statistic), 3),
        "kendall_tau_best": round(float(kendalltau(scores, best).statistic), 3),
        "spearman_rho_last": round(float(spearmanr(scores, [row["last_val_accuracy"] for row in rows]).statistic), 3),
        "permutation_p_rho_best": round(permutation_p(scores, best), 4),
        "top_by_score_is_top_by_accuracy": int(np.argmax(scores)) == int(np.argmax(best)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="independent runs (data, weights, sample), seeds 0..")
    args = parser.parse_args()
    runs = []
    for seed in range(args.repeats):
        runs.append(one_run(seed))
        print({k: v for k, v in runs[-1].items() if k != "backbones"}, flush=True)
        for row in runs[-1]["backbones"]:
            print("   ", row, flush=True)
    results = {
        "machine": machine(),
        "loadavg_after": loadavg(),
        "command": f"bench/recommend_correlation.py --repeats {args.repeats}",
        "data": "synthetic 16 px folders (app/synthetic_data.py patterns and colours); target 6 x 30 train, 6 x 30 val",
        "finetune": {"strategy": "freeze", "epochs": FINETUNE_EPOCHS, "learning_rate": 1e-2, "optimizer": "adam"},
        "spearman_rho_best_per_run": [run["spearman_rho_best"] for run in runs],
        "kendall_tau_best_per_run": [run["kendall_tau_best"] for run in runs],
        "runs": runs,
    }
    write_results("recommend_correlation", results)


if __name__ == "__main__":
    main()
