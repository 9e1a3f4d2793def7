"""A real (tiny) train run and a finetune of its backbone, through recipe.run, on CPU."""

import json

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

from app.synthetic_data import CIFAR10_CLASSES, write_image_folder
from tests.training.recording_reporter import RecordingReporter
from worker.training.artifacts import load_backbone
from worker.training.checkpointing import read_checkpoint, recorded_history
from worker.training.cifar import read_cifar
from worker.training.errors import TrainingError
from worker.training.model import build_backbone, build_classifier
from worker.training.recipe import run

EPOCH_KEYS = {f"{split}_{metric}" for split in ("train", "val") for metric in ("accuracy", "f1", "auroc", "loss")} | {
    "train_lr",
    "train_epoch_seconds",
    "train_images_per_second",
}


@pytest.fixture(scope="module")
def parent(cifar10_dir, tmp_path_factory, make_spec):
    """A 3-epoch train job on learnable CIFAR-10 files (80 train images, 50 val) at 16 px (4x cheaper than
    CIFAR's native 32), reporting progress after every batch."""
    spec = make_spec(dataset={"name": "cifar10", "image_size": 16}, trainer={"max_epochs": 3})
    reporter = RecordingReporter()
    work_dir = tmp_path_factory.mktemp("parent-job")
    result = run(
        spec=spec,
        job_id="parent-job",
        work_dir=work_dir,
        data_dir=cifar10_dir,
        allow_downloads=False,
        parent_backbone=None,
        reporter=reporter,
        progress_every_s=0.0,
    )
    return result, reporter, spec


def test_train_reports_every_epoch_once_and_learns(parent):
    result, reporter, _ = parent

    assert result.status == "succeeded"
    assert reporter.epoch_numbers == [0, 1, 2]
    assert all(set(values) == EPOCH_KEYS for _, values in reporter.epochs)
    first, last = reporter.epochs[0][1], reporter.epochs[-1][1]
    assert last["val_accuracy"] >= 0.5, reporter.epochs  # chance is 0.1; seeds 0-2 reach 0.8-1.0
    assert last["train_loss"] < first["train_loss"]
    assert all(values["train_lr"] == pytest.approx(1e-3) for _, values in reporter.epochs)  # Adam: no schedule
    assert all(values["train_images_per_second"] > 0 for _, values in reporter.epochs)


def test_progress_reports_each_batch_when_the_interval_is_zero(parent):
    _, reporter, _ = parent
    # 80 images in batches of 16 (Flash drops a last partial batch) = 5 batches per epoch
    reported = [(p["epoch"], p["batch"]) for p in reporter.progress_calls]
    assert reported == [(epoch, batch) for epoch in range(3) for batch in range(1, 6)]
    assert all(p["num_batches"] == 5 and p["images_per_second"] > 0 for p in reporter.progress_calls)
    etas = [p["eta_seconds"] for p in reporter.progress_calls]
    assert etas[0] > etas[-1] >= 0  # at the last batch only the last validation is left


def test_artifacts_are_written_and_the_checkpoint_holds_the_history(parent):
    result, reporter, _ = parent

    assert set(result.artifacts) == {"backbone", "model", "checkpoint"}
    assert all(path.is_file() for path in result.artifacts.values())
    assert not list(result.artifacts["model"].parent.rglob("*.tmp"))
    assert [(e["epoch"], e["values"]) for e in recorded_history(result.artifacts["checkpoint"])] == reporter.epochs
    state_dict, meta = load_backbone(result.artifacts["backbone"])
    assert meta == {
        "architecture": "resnet18",
        "cifar_stem": False,
        "num_features": 512,
        "source_job": "parent-job",
        "num_classes": 10,
        "class_names": CIFAR10_CLASSES,
    }
    assert state_dict.keys() == build_backbone(parent[2].model)[0].state_dict().keys()


def test_model_pt_predicts_with_plain_torch_and_matches_the_reported_val_metrics(parent, cifar10_dir):
    result, reporter, _ = parent
    extra_files = {"class_names.json": "", "preprocess.json": ""}
    model = torch.jit.load(str(result.artifacts["model"]), _extra_files=extra_files)
    class_names = json.loads(extra_files["class_names.json"])
    preprocess = json.loads(extra_files["preprocess.json"])
    assert class_names == CIFAR10_CLASSES and preprocess["image_size"] == 16

    # Preprocess as preprocess.json says: bilinear resize, scale to [0, 1], normalise.
    val = read_cifar(cifar10_dir / "cifar-10-batches-py", "cifar10").val
    size = (preprocess["image_size"],) * 2
    resized = np.stack(
        [np.asarray(Image.fromarray(image.transpose(1, 2, 0)).resize(size, Image.BILINEAR)) for image in val.images]
    )
    mean, std = torch.tensor(preprocess["mean"]), torch.tensor(preprocess["std"])
    images = ((torch.from_numpy(resized).float() / 255 - mean) / std).permute(0, 3, 1, 2)
    with torch.no_grad():
        probabilities = model(images).softmax(dim=-1).numpy()

    predictions, y = probabilities.argmax(axis=1), val.labels
    last = reporter.epochs[-1][1]  # computed by EpochMetrics on the same weights, in the training process
    assert last["val_accuracy"] == pytest.approx(accuracy_score(y, predictions), abs=1e-6)
    assert last["val_f1"] == pytest.approx(f1_score(y, predictions, average="macro"), abs=1e-6)
    assert last["val_auroc"] == pytest.approx(roc_auc_score(y, probabilities, multi_class="ovr"), abs=1e-4)
    assert last["val_loss"] == pytest.approx(log_loss(y, probabilities), abs=1e-4)


def test_finetune_with_freeze_keeps_the_parent_backbone_and_trains_a_new_head(parent, tmp_path, make_spec):
    parent_result, _, _ = parent
    write_image_folder(tmp_path / "data" / "shapes", ["circle", "square", "star"], per_class=20, size=16)
    spec = make_spec(
        kind="finetune",
        dataset={"name": "folder", "train_folder": "shapes", "image_size": 16},
        finetune={"strategy": "freeze", "train_bn": False},  # train_bn=False: batch-norm frozen too
        trainer={"max_epochs": 2, "seed": 7},
    )
    reporter = RecordingReporter()
    result = run(
        spec=spec,
        job_id="child-job",
        work_dir=tmp_path / "work",
        data_dir=tmp_path / "data",
        allow_downloads=False,
        parent_backbone=parent_result.artifacts["backbone"],
        reporter=reporter,
    )

    assert result.status == "succeeded" and reporter.epoch_numbers == [0, 1]
    parent_weights, _ = load_backbone(parent_result.artifacts["backbone"])
    child_weights, child_meta = load_backbone(result.artifacts["backbone"])
    assert child_meta["source_job"] == "child-job" and child_meta["class_names"] == ["circle", "square", "star"]
    assert parent_weights.keys() == child_weights.keys()
    for key in parent_weights:  # weights and batch-norm statistics alike
        assert torch.equal(parent_weights[key], child_weights[key]), key

    # The head the run started from: the recipe seeds right before building the model.
    pl.seed_everything(7)
    initial = build_classifier(spec, num_classes=3, parent_backbone=parent_result.artifacts["backbone"])
    initial_head = initial.adapter.head
    trained_state = read_checkpoint(result.artifacts["checkpoint"])["state_dict"]
    assert not torch.equal(trained_state["adapter.head.weight"], initial_head.weight)
    assert trained_state["adapter.head.weight"].shape == (3, 512)


def test_finetune_refuses_a_parent_of_another_stem(parent, cifar10_dir, tmp_path, make_spec):
    spec = make_spec(kind="finetune", model={"cifar_stem": True})
    with pytest.raises(TrainingError) as error:
        run(
            spec=spec,
            job_id="child",
            work_dir=tmp_path,
            data_dir=cifar10_dir,
            allow_downloads=False,
            parent_backbone=parent[0].artifacts["backbone"],
            reporter=RecordingReporter(),
        )
    assert error.value.type == "bad_parent" and "cifar_stem" in error.value.message


def test_finetune_reports_missing_and_unexpected_backbone_keys(parent, cifar10_dir, tmp_path, make_spec):
    state_dict, meta = load_backbone(parent[0].artifacts["backbone"])
    state_dict["extra.weight"] = torch.zeros(1)
    del state_dict["layer4.1.bn2.bias"]
    damaged = tmp_path / "damaged.pt"
    torch.save({"state_dict": state_dict, "meta": meta}, damaged)
    with pytest.raises(TrainingError) as error:
        run(
            spec=make_spec(kind="finetune"),
            job_id="child",
            work_dir=tmp_path / "w",
            data_dir=cifar10_dir,
            allow_downloads=False,
            parent_backbone=damaged,
            reporter=RecordingReporter(),
        )
    assert error.value.type == "bad_parent"
    assert "layer4.1.bn2.bias" in error.value.message and "extra.weight" in error.value.message


def test_finetune_without_a_parent_artifact_is_bad_parent(cifar10_dir, tmp_path, make_spec):
    with pytest.raises(TrainingError) as error:
        run(
            spec=make_spec(kind="finetune"),
            job_id="child",
            work_dir=tmp_path,
            data_dir=cifar10_dir,
            allow_downloads=False,
            parent_backbone=tmp_path / "missing.pt",
            reporter=RecordingReporter(),
        )
    assert error.value.type == "bad_parent" and "missing.pt" in error.value.message
