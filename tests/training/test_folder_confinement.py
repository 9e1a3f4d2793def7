"""Folder datasets never leave the data directory, and job errors speak in the user's terms."""

from pathlib import Path

import pytest

from app.jobs.schemas import DatasetSpec
from app.synthetic_data import write_image_folder
from worker.training.data import load_dataset
from worker.training.errors import TrainingError, as_training_errors, in_user_terms


def _load(data_dir: Path, train_folder: str):
    spec = DatasetSpec(name="folder", train_folder=train_folder)
    return load_dataset(spec, data_dir=data_dir, allow_downloads=False, seed=0)


def test_a_class_folder_linked_outside_the_data_dir_is_refused(tmp_path):
    outside = write_image_folder(tmp_path / "outside", ["dogs"], per_class=3, size=8)
    data_dir = tmp_path / "data"
    write_image_folder(data_dir / "pets", ["cats"], per_class=3, size=8)
    (data_dir / "pets" / "dogs").symlink_to(outside / "dogs")
    with pytest.raises(TrainingError) as error:
        _load(data_dir, "pets")
    assert error.value.type == "bad_dataset"
    assert error.value.message.startswith("pets/dogs is a link that leads outside the data directory")
    assert str(tmp_path) not in error.value.message


def test_an_image_linked_to_a_file_outside_is_refused_and_never_opened(tmp_path):
    data_dir = tmp_path / "data"
    write_image_folder(data_dir / "pets", ["cats", "dogs"], per_class=3, size=8)
    (data_dir / "pets" / "cats" / "passwd.png").symlink_to("/etc/passwd")
    with pytest.raises(TrainingError, match="^pets/cats/passwd.png is a link that leads outside") as error:
        _load(data_dir, "pets")
    assert str(tmp_path) not in error.value.message


def test_links_that_stay_inside_the_data_dir_are_followed(tmp_path):
    data_dir = tmp_path / "data"
    write_image_folder(data_dir / "shared", ["dogs"], per_class=10, size=8)
    write_image_folder(data_dir / "pets", ["cats"], per_class=10, size=8)
    (data_dir / "pets" / "dogs").symlink_to(data_dir / "shared" / "dogs")
    dataset = _load(data_dir, "pets")
    assert dataset.class_names == ["cats", "dogs"] and len(dataset.train) + len(dataset.val) == 20
    assert all(path.is_relative_to(data_dir.resolve()) for path in dataset.train.images)


def test_a_missing_folder_is_named_relative_to_the_data_dir(tmp_path):
    with pytest.raises(TrainingError) as error:
        _load(tmp_path, "nope")
    assert error.value.type == "dataset_missing" and error.value.message.startswith("nope not found")
    assert "FLASHJOBS_DATA_DIR" in error.value.message and str(tmp_path) not in error.value.message


def test_an_undecodable_image_is_named_by_its_path_not_by_a_file_object(tmp_path):
    from flash.core.data.utilities.loading import load_image

    bad = tmp_path / "data" / "pets" / "cats" / "broken.png"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a png")
    with pytest.raises(TrainingError) as error, as_training_errors():
        load_image(str(bad))
    message = in_user_terms(error.value.message, data_dir=tmp_path / "data", artifact_dir=tmp_path / "artifacts")
    assert message == "pets/cats/broken.png is not an image that can be decoded"


def test_job_errors_lose_server_paths_object_reprs_and_worker_tracebacks(tmp_path):
    data_dir, artifact_dir = tmp_path / "data", tmp_path / "state" / "artifacts"
    wrapped = (
        "Caught UnidentifiedImageError in DataLoader worker process 0.\nOriginal Traceback (most recent "
        f'call last):\n  File "{tmp_path}/site-packages/PIL/Image.py", line 3729, in open\n'
        "PIL.UnidentifiedImageError: cannot identify image file "
        "<fsspec.implementations.local.LocalFileOpener object at 0x7ff1c0a3b2e0>"
    )
    assert in_user_terms(wrapped, data_dir=data_dir, artifact_dir=artifact_dir) == (
        "PIL.UnidentifiedImageError: cannot identify image file a LocalFileOpener"
    )
    parent = f"parent backbone {artifact_dir}/abc/backbone.pt does not fit resnet50"
    assert in_user_terms(parent, data_dir=data_dir, artifact_dir=artifact_dir) == (
        "parent backbone artifacts/abc/backbone.pt does not fit resnet50"
    )
