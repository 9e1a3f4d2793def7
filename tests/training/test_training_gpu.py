"""The GPU path of a training run: mixed precision, the device-side transforms, artifacts loadable on a CPU.

Skipped where torch sees no CUDA device (CI, and every machine the project has been built on so far): these
are for a session that is lent a GPU (docs/benchmarks.md, "On a GPU").
"""

import math

import pytest
import torch

from tests.training.recording_reporter import RecordingReporter
from worker.training.artifacts import load_backbone
from worker.training.recipe import run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("precision", ["32", "16", "bf16"])
def test_trains_on_the_gpu_at_each_precision(precision, cifar10_dir, tmp_path, make_spec):
    spec = make_spec(trainer={"max_epochs": 2, "precision": precision, "num_workers": 2})
    reporter = RecordingReporter()
    result = run(
        spec=spec,
        job_id=f"gpu-{precision}",
        work_dir=tmp_path,
        data_dir=cifar10_dir,
        allow_downloads=False,
        parent_backbone=None,
        reporter=reporter,
        progress_every_s=0.0,
    )

    assert result.status == "succeeded"
    assert reporter.epoch_numbers == [0, 1]
    assert all(math.isfinite(v) for _, values in reporter.epochs for v in values.values()), reporter.epochs
    state, _ = load_backbone(result.artifacts["backbone"])  # written on the GPU, read on a CPU
    assert all(t.device.type == "cpu" and t.dtype in (torch.float32, torch.int64) for t in state.values())
    model = torch.jit.load(str(result.artifacts["model"]), map_location="cpu")
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_device_transform_runs_on_the_gpu_batch(cifar10_dir, make_spec):
    from flash.core.data.io.input_transform import create_device_input_transform_processor
    from flash.core.utilities.stages import RunningStage

    from worker.training.data import build_data

    data = build_data(make_spec(), data_dir=cifar10_dir, allow_downloads=False)
    batch = next(iter(data.datamodule.train_dataloader()))
    batch = {"input": batch["input"].cuda(), "target": batch["target"].cuda()}
    out = create_device_input_transform_processor(RunningStage.TRAINING, data.datamodule.input_transform)(batch)
    assert out["input"].device.type == "cuda" and out["input"].dtype == torch.float32


def test_more_devices_than_the_worker_has_is_a_job_error_naming_the_setting(cifar10_dir, tmp_path, make_spec):
    from worker.training.errors import TrainingError

    spec = make_spec(trainer={"devices": torch.cuda.device_count() + 1})
    with pytest.raises(TrainingError, match="FLASHJOBS_MAX_DEVICES") as error:
        run(
            spec=spec,
            job_id="too-many",
            work_dir=tmp_path,
            data_dir=cifar10_dir,
            allow_downloads=False,
            parent_backbone=None,
            reporter=RecordingReporter(),
            progress_every_s=0.0,
        )
    assert error.value.type == "too_many_devices"
