"""Cancel and resume: checkpoints at epoch ends, each epoch reported exactly once with unchanged values."""

import math

import pytest
import torch

from tests.training.recording_reporter import RecordingReporter, SimulatedCrash
from worker.training.artifacts import load_backbone, save_backbone
from worker.training.checkpointing import last_checkpoint_path, read_checkpoint, recorded_history
from worker.training.model import build_backbone
from worker.training.recipe import run

BATCHES_PER_EPOCH = 2  # train_limit 40 in batches of 16; Flash drops the partial last batch


@pytest.fixture
def small_spec(make_spec):
    """3 epochs of 2 batches at 16 px: the smallest run with a middle epoch to crash in."""

    def spec(**overrides):
        return make_spec(
            dataset={"name": "cifar10", "image_size": 16, "train_limit": 40, "val_limit": 20},
            trainer={"max_epochs": 3, "optimizer": "sgd", "learning_rate": 0.01, **overrides.pop("trainer", {})},
            **overrides,
        )

    return spec


def _run(spec, work_dir, data_dir, reporter, parent_backbone=None, progress_every_s=2.0):
    return run(
        spec=spec,
        job_id="job",
        work_dir=work_dir,
        data_dir=data_dir,
        allow_downloads=False,
        parent_backbone=parent_backbone,
        reporter=reporter,
        progress_every_s=progress_every_s,
    )


def test_cancel_saves_a_checkpoint_and_returns_cancelled(cifar10_dir, tmp_path, small_spec):
    # The CIFAR stem here (the API's default), so that it is trained at least once in the tests.
    spec = small_spec(model={"cifar_stem": True})
    reporter = RecordingReporter(stop_after_batches=BATCHES_PER_EPOCH + 1)  # epoch 0 finishes, epoch 1 is cut

    result = _run(spec, tmp_path, cifar10_dir, reporter, progress_every_s=3600)

    checkpoint = last_checkpoint_path(tmp_path)
    assert result.status == "cancelled" and result.artifacts == {"checkpoint": checkpoint}
    assert reporter.epoch_numbers == [0]  # the cut epoch is not reported
    assert [(e["epoch"], e["values"]) for e in recorded_history(checkpoint)] == reporter.epochs
    saved = read_checkpoint(checkpoint)
    assert saved["global_step"] == BATCHES_PER_EPOCH + 1  # the weights of when the cancel came ...
    epochs = saved["loops"]["fit_loop"]["epoch_progress"]["current"]
    assert epochs == {"ready": 1, "started": 1, "processed": 1, "completed": 0}  # ... resuming at epoch 1's start
    assert not (tmp_path / "backbone.pt").exists() and not (tmp_path / "model.pt").exists()
    assert not list(tmp_path.rglob("*.tmp"))
    # The first batch of each started epoch reports at once; then at most one per progress_every_s (an hour).
    assert [(p["epoch"], p["batch"]) for p in reporter.progress_calls] == [(0, 1), (1, 1)]


@pytest.mark.parametrize(
    "crash",
    [
        pytest.param({"crash_after_batches": BATCHES_PER_EPOCH + 1}, id="mid-epoch"),
        pytest.param({"crash_at_epoch_end": 1}, id="after-checkpoint-before-report-returned"),
        pytest.param({"crash_at_epoch_end": 2}, id="after-the-last-epoch"),
    ],
)
def test_resume_reports_every_epoch_once_with_unchanged_values(cifar10_dir, tmp_path, small_spec, crash):
    spec = small_spec()
    crashed = RecordingReporter(**crash)
    with pytest.raises(SimulatedCrash):
        _run(spec, tmp_path, cifar10_dir, crashed)

    resumed = RecordingReporter()
    result = _run(spec, tmp_path, cifar10_dir, resumed)

    assert result.status == "succeeded" and (tmp_path / "model.pt").is_file()
    assert resumed.epoch_numbers == [0, 1, 2]
    # Everything the crashed run reported was checkpointed first, so it comes back identical.
    assert crashed.epochs and resumed.epochs[: len(crashed.epochs)] == crashed.epochs
    checkpoint = read_checkpoint(last_checkpoint_path(tmp_path))
    assert [(e["epoch"], e["values"]) for e in checkpoint["callbacks"]["EpochMetrics"]["history"]] == resumed.epochs
    # Trained exactly 3 epochs in total (no epoch repeated or skipped), on the uninterrupted cosine schedule.
    assert checkpoint["global_step"] == 3 * BATCHES_PER_EPOCH
    expected_lr = [0.01 * (1 + math.cos(math.pi * epoch / 3)) / 2 for epoch in range(3)]
    assert [values["train_lr"] for _, values in resumed.epochs] == pytest.approx(expected_lr)


def test_finetune_resumes_after_unfreezing_and_keeps_training_the_backbone(cifar10_dir, tmp_path, small_spec):
    """freeze_unfreeze grows the optimizer's parameter group at epoch 1; a resume in epoch 2 must restore that
    group and leave the backbone trainable (Flash 0.8.2 + Lightning 1.9 alone do neither)."""
    spec = small_spec(kind="finetune", finetune={"strategy": "freeze_unfreeze", "unfreeze_epoch": 1})
    parent = tmp_path / "parent-backbone.pt"
    save_backbone(parent, build_backbone(spec.model)[0], {"architecture": "resnet18", "cifar_stem": False})
    work_dir, weight = tmp_path / "work", "layer1.0.conv1.weight"

    with pytest.raises(SimulatedCrash):
        _run(spec, work_dir, cifar10_dir, RecordingReporter(crash_after_batches=2 * BATCHES_PER_EPOCH + 1), parent)
    after_epoch_1 = read_checkpoint(last_checkpoint_path(work_dir))["state_dict"]["adapter.backbone." + weight]
    assert not torch.equal(after_epoch_1, load_backbone(parent)[0][weight])  # unfrozen and trained in epoch 1
    resumed = RecordingReporter()
    result = _run(spec, work_dir, cifar10_dir, resumed, parent)

    assert result.status == "succeeded" and resumed.epoch_numbers == [0, 1, 2]
    assert read_checkpoint(last_checkpoint_path(work_dir))["global_step"] == 3 * BATCHES_PER_EPOCH
    assert not torch.equal(load_backbone(result.artifacts["backbone"])[0][weight], after_epoch_1)  # and in epoch 2


@pytest.mark.parametrize("stop_after_batches", [1, BATCHES_PER_EPOCH + 1], ids=["in-epoch-0", "in-epoch-1"])
def test_resume_after_a_cancel_trains_the_cut_epoch_once(cifar10_dir, tmp_path, small_spec, stop_after_batches):
    """The worker also cancels to yield (preemption); the next attempt resumes from the cancel's checkpoint,
    training the cut epoch anew from the weights it had reached, on the uninterrupted LR schedule."""
    spec = small_spec()
    cancelled = RecordingReporter(stop_after_batches=stop_after_batches)
    assert _run(spec, tmp_path, cifar10_dir, cancelled).status == "cancelled"

    resumed = RecordingReporter()
    result = _run(spec, tmp_path, cifar10_dir, resumed)

    assert result.status == "succeeded" and resumed.epoch_numbers == [0, 1, 2]
    assert resumed.epochs[: len(cancelled.epochs)] == cancelled.epochs
    expected_lr = [0.01 * (1 + math.cos(math.pi * epoch / 3)) / 2 for epoch in range(3)]
    assert [values["train_lr"] for _, values in resumed.epochs] == pytest.approx(expected_lr)
