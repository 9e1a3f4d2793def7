"""A frozen_random control run trains only its head: its backbone leaves the run as the seeded random init."""

import pytorch_lightning as pl
import torch

from app.jobs.schemas import JobSpec
from app.jobs.specs import control_spec
from tests.training.recording_reporter import RecordingReporter
from worker.training.artifacts import load_backbone
from worker.training.model import build_classifier
from worker.training.recipe import run


def test_frozen_random_control_keeps_its_random_backbone_and_trains_its_head(cifar10_dir, tmp_path, make_spec):
    finetune = make_spec(
        kind="finetune",
        dataset={"name": "cifar10", "image_size": 16},
        init_from={"job_id": "parent"},
        finetune={"strategy": "freeze"},
        control={"kind": "frozen_random"},
    )
    spec = JobSpec.model_validate(control_spec(finetune.model_dump(mode="json")))
    assert spec.kind == "finetune" and spec.init_from.random
    reporter = RecordingReporter()
    result = run(
        spec=spec,
        job_id="control",
        work_dir=tmp_path,
        data_dir=cifar10_dir,
        allow_downloads=False,
        parent_backbone=None,
        reporter=reporter,
    )
    assert result.status == "succeeded" and reporter.epoch_numbers == [0, 1]
    trained, meta = load_backbone(result.artifacts["backbone"])
    pl.seed_everything(spec.trainer.seed, workers=True)  # what the recipe does right before building the model
    initial = build_classifier(spec, num_classes=10, parent_backbone=None).adapter.backbone.state_dict()
    assert trained.keys() == initial.keys()
    assert all(torch.equal(trained[k], initial[k]) for k in initial)  # frozen, BatchNorm statistics included
    assert meta["architecture"] == "resnet18"
    # The head did train: the control learns what a random feature map allows.
    assert reporter.epochs[-1][1]["train_loss"] != reporter.epochs[0][1]["train_loss"]
