"""The ranking on real backbones trained by the recipe: one trained on related data (the same patterns, other
pictures) ranks above one trained on unrelated data (colours, one pattern) and above a random one."""

from pathlib import Path

import pytest

from app.jobs.schemas import DatasetSpec, JobSpec, ModelSpec
from app.synthetic_data import write_pattern_folder
from tests.training.recording_reporter import RecordingReporter
from worker.training.recipe import run
from worker.transfer.recommend import Candidate, rank

SIZE = 16
MODEL = {"backbone": "resnet18", "cifar_stem": False}
pytestmark = pytest.mark.slow  # trains two backbones: minutes on a shared CPU


PATTERNS = [(0, p) for p in range(6)]  # six patterns; their colours are random below
COLOURS = [(c, 9) for c in range(6)]  # six colours, one pattern (grid)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, list[Candidate]]:
    data = tmp_path_factory.mktemp("ranking-data")
    write_pattern_folder(data / "related", PATTERNS, size=SIZE, per_class=40, colour_matches=0.0, seed=1)
    write_pattern_folder(data / "unrelated", COLOURS, size=SIZE, per_class=40, colour_matches=1.0, seed=2)
    write_pattern_folder(data / "target", PATTERNS, size=SIZE, per_class=20, colour_matches=0.0, seed=3)
    candidates = []
    for name in ("related", "unrelated"):
        spec = JobSpec.model_validate(
            {
                "kind": "train",
                "dataset": {"name": "folder", "train_folder": name, "image_size": SIZE},
                "model": MODEL,
                "trainer": {
                    "max_epochs": 3,
                    "batch_size": 32,
                    "learning_rate": 1e-3,
                    "optimizer": "adam",
                    "num_workers": 0,
                },
            }
        )
        work = tmp_path_factory.mktemp(name)
        result = run(
            spec=spec,
            job_id=name,
            work_dir=work,
            data_dir=data,
            allow_downloads=False,
            parent_backbone=None,
            reporter=RecordingReporter(),
        )
        assert result.status == "succeeded"
        candidates.append(Candidate(name, result.artifacts["backbone"], ModelSpec(**MODEL), {"name": name}, "train"))
    return data, candidates


def test_related_ranks_above_unrelated_and_random(trained):
    data, candidates = trained
    answer = rank(
        dataset=DatasetSpec(name="folder", train_folder="target", image_size=SIZE),
        candidates=candidates,
        sample_size=120,
        seed=0,
        include_random=True,
        data_dir=data,
        artifact_dir=None,
    )
    order = [entry["job_id"] for entry in answer["ranking"]]
    scores = {entry["job_id"]: entry["score"] for entry in answer["ranking"]}
    # Measured: related -0.32, random -0.42, unrelated -0.47 (LogME per sample).
    assert order[0] == "related", scores
    assert set(order) == {"related", "unrelated", None}
    assert answer["sampled"] == 108 and answer["classes"] == 6  # 120 asked of 6 x 18 after the 10 % holdout
    assert answer["ranking"][0]["backbone"] == MODEL and answer["ranking"][0]["dataset"] == {"name": "related"}
