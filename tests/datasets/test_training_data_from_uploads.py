"""The worker's side of uploaded datasets: read from the artifact store as validation left them; the default
image size of folders and uploads follows the images."""

import os
from pathlib import Path

import pytest

from app.core.config import Settings
from app.datasets.ingest import ingest
from app.datasets.storage import dataset_dir
from app.jobs.schemas import JobSpec
from app.synthetic_data import write_image_folder
from tests.datasets.archives import class_tree, hymenoptera_tree, zip_bytes
from worker.training.data import build_data
from worker.training.errors import TrainingError

SMALL = {
    "model": {"backbone": "resnet18", "cifar_stem": False},
    "trainer": {"max_epochs": 1, "batch_size": 4, "num_workers": 0},
}


def _store(tmp_path: Path, files: dict[str, bytes], dataset_id: str) -> Path:
    """Validate an archive as the API does and put it where the API puts it; returns the artifact dir."""
    artifact_dir = tmp_path / "artifacts"
    archive = tmp_path / f"{dataset_id}.zip"
    archive.write_bytes(zip_bytes(files))
    ingested = ingest(archive, staging=tmp_path / "staging" / dataset_id, settings=Settings())
    dataset_dir(artifact_dir, dataset_id).parent.mkdir(parents=True, exist_ok=True)
    os.rename(ingested.staging, dataset_dir(artifact_dir, dataset_id))
    return artifact_dir


def _spec(dataset: dict) -> JobSpec:
    return JobSpec.model_validate({"kind": "train", "dataset": dataset, **SMALL})


def test_an_uploaded_train_val_dataset_trains_on_what_validation_kept(tmp_path):
    artifact_dir = _store(tmp_path, hymenoptera_tree(), "hym")
    data = build_data(_spec({"id": "hym"}), data_dir=tmp_path, allow_downloads=False, artifact_dir=artifact_dir)
    assert data.class_names == ["ants", "bees"]
    assert (data.num_train, data.num_val) == (24, 8)  # the corrupt JPEG is left out
    assert data.preprocess.image_size == 20  # the images' median shorter side
    assert next(iter(data.datamodule.train_dataloader()))["input"].shape == (4, 3, 20, 20)


def test_an_uploaded_class_folder_dataset_holds_out_a_seeded_tenth(tmp_path):
    artifact_dir = _store(tmp_path, class_tree({"cats": 10, "dogs": 10}, size=(40, 40)), "pets")
    data = build_data(
        _spec({"id": "pets", "image_size": 16}), data_dir=tmp_path, allow_downloads=False, artifact_dir=artifact_dir
    )
    assert (data.num_train, data.num_val) == (18, 2) and data.preprocess.image_size == 16


def test_a_deleted_upload_fails_as_dataset_missing(tmp_path):
    with pytest.raises(TrainingError) as error:
        build_data(_spec({"id": "gone"}), data_dir=tmp_path, allow_downloads=False, artifact_dir=tmp_path)
    assert error.value.type == "dataset_missing" and "gone" in error.value.message


@pytest.mark.parametrize(("side", "expected"), [(24, 24), (40, 40), (300, 224), (10, 16)])
def test_folder_datasets_default_to_their_images_median_side_within_bounds(tmp_path, side, expected):
    write_image_folder(tmp_path / "pets", ["cat", "dog"], per_class=5, size=side)
    data = build_data(_spec({"name": "folder", "train_folder": "pets"}), data_dir=tmp_path, allow_downloads=False)
    assert data.preprocess.image_size == expected
