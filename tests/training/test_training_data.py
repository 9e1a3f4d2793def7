"""Reading CIFAR pickles and image folders, limits, errors, and the Flash DataModule built from them."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from flash.core.data.io.input_transform import create_device_input_transform_processor
from flash.core.utilities.stages import RunningStage

from app.synthetic_data import CIFAR10_CLASSES, CIFAR100_CLASSES, write_cifar10, write_cifar100, write_image_folder
from worker.training import download
from worker.training.cifar import read_cifar
from worker.training.data import build_data, load_dataset
from worker.training.datasets import balanced_subset
from worker.training.errors import TrainingError
from worker.training.transforms import CIFAR_MEAN, CIFAR_STD, random_crop_flip


def test_reads_cifar10_python_pickles_row_major_chw(tmp_path):
    folder = write_cifar10(tmp_path, train_per_class=3, val_per_class=2)
    dataset = read_cifar(folder, "cifar10")

    assert dataset.class_names == CIFAR10_CLASSES
    assert dataset.train.images.shape == (30, 3, 32, 32) and dataset.train.images.dtype == np.uint8
    assert dataset.val.images.shape == (20, 3, 32, 32)
    assert np.bincount(dataset.train.labels).tolist() == [3] * 10
    with (folder / "data_batch_1").open("rb") as f:
        first_batch = pickle.load(f)
    row = first_batch["data"][0]  # 1024 red, then 1024 green, then 1024 blue values, each row-major
    assert np.array_equal(dataset.train.images[0, 1], row[1024:2048].reshape(32, 32))
    assert dataset.train.labels[0] == first_batch["labels"][0]


def test_reads_cifar100_fine_labels(tmp_path):
    folder = write_cifar100(tmp_path, train_per_class=2, val_per_class=1)
    dataset = read_cifar(folder, "cifar100")

    assert dataset.class_names == CIFAR100_CLASSES
    assert len(dataset.train) == 200 and len(dataset.val) == 100
    assert np.bincount(dataset.train.labels, minlength=100).tolist() == [2] * 100


def test_missing_cifar_names_the_path_and_the_settings(tmp_path):
    with pytest.raises(TrainingError) as error:
        load_dataset(_dataset_spec("cifar10"), data_dir=tmp_path, allow_downloads=False, seed=0)

    assert error.value.type == "dataset_missing"
    assert str(tmp_path / "cifar-10-batches-py") in error.value.message
    assert "FLASHJOBS_ALLOW_DOWNLOADS" in error.value.message and "FLASHJOBS_DATA_DIR" in error.value.message


def test_download_extracts_into_place_when_allowed(tmp_path, monkeypatch):
    """The real download path, with the network part replaced by writing the archive's content."""
    calls = []

    def fake_download_and_extract(url, download_root, filename, md5):
        calls.append((url, filename, md5))
        write_cifar10(Path(download_root), train_per_class=1, val_per_class=1)

    monkeypatch.setattr(download, "download_and_extract_archive", fake_download_and_extract)
    dataset = load_dataset(_dataset_spec("cifar10"), data_dir=tmp_path, allow_downloads=True, seed=0)

    assert len(dataset.train) == 10
    assert calls == [
        (
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            "cifar-10-python.tar.gz",
            "c58f30108f718f92721af3b95e74349a",
        )
    ]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["cifar-10-batches-py"]
    assert not [p for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith(".")]  # no temp dir left


def test_failed_download_is_dataset_missing(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(download, "download_and_extract_archive", offline)
    with pytest.raises(TrainingError) as error:
        load_dataset(_dataset_spec("cifar100"), data_dir=tmp_path, allow_downloads=True, seed=0)
    assert error.value.type == "dataset_missing" and "Network is unreachable" in error.value.message


def test_unreadable_or_malicious_pickle_is_bad_dataset(tmp_path):
    folder = write_cifar10(tmp_path, train_per_class=1, val_per_class=1)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(TrainingError) as error:
        read_cifar(folder, "cifar10")
    assert error.value.type == "bad_dataset" and "data_batch_3" in error.value.message

    (folder / "data_batch_3").write_bytes(pickle.dumps({"data": os.system}))  # would import os.system
    with pytest.raises(TrainingError, match="refusing to load"):
        read_cifar(folder, "cifar10")


def test_wrong_shape_is_bad_dataset(tmp_path):
    folder = write_cifar10(tmp_path, train_per_class=1, val_per_class=1)
    with (folder / "test_batch").open("wb") as f:
        pickle.dump({"data": np.zeros((4, 100), np.uint8), "labels": [0, 1, 2, 3]}, f)
    with pytest.raises(TrainingError, match="uint8 N x 3072") as error:
        read_cifar(folder, "cifar10")
    assert error.value.type == "bad_dataset"


def test_limits_give_a_balanced_deterministic_subset(tmp_path):
    write_cifar10(tmp_path, train_per_class=9, val_per_class=4)
    spec = _dataset_spec("cifar10", train_limit=25, val_limit=20)
    dataset = load_dataset(spec, data_dir=tmp_path, allow_downloads=False, seed=3)

    train_counts = np.bincount(dataset.train.labels, minlength=10)
    assert train_counts.sum() == 25 and train_counts.max() - train_counts.min() <= 1
    assert np.bincount(dataset.val.labels, minlength=10).tolist() == [2] * 10
    again = load_dataset(spec, data_dir=tmp_path, allow_downloads=False, seed=3)
    assert np.array_equal(dataset.train.images, again.train.images)
    other_seed = load_dataset(spec, data_dir=tmp_path, allow_downloads=False, seed=4)
    assert not np.array_equal(dataset.train.images, other_seed.train.images)


def test_balanced_subset_takes_what_small_classes_have():
    labels = np.array([0] * 10 + [1] * 2 + [2] * 10)
    chosen = labels[balanced_subset(labels, 12, seed=0)]
    assert np.bincount(chosen).tolist() == [5, 2, 5]


def test_too_small_train_limit_is_bad_dataset(tmp_path):
    write_cifar10(tmp_path, train_per_class=2, val_per_class=1)
    with pytest.raises(TrainingError, match="no training images for classes") as error:
        load_dataset(_dataset_spec("cifar10", train_limit=5), data_dir=tmp_path, allow_downloads=False, seed=0)
    assert error.value.type == "bad_dataset"


def test_folder_without_val_folder_holds_out_ten_percent_per_class(tmp_path):
    write_image_folder(tmp_path / "shapes" / "train", ["circle", "square", "star"], per_class=20, size=12)
    dataset = load_dataset(
        _dataset_spec("folder", train_folder="shapes/train"), data_dir=tmp_path, allow_downloads=False, seed=0
    )

    assert dataset.class_names == ["circle", "square", "star"]
    assert np.bincount(dataset.train.labels).tolist() == [18, 18, 18]
    assert np.bincount(dataset.val.labels).tolist() == [2, 2, 2]
    assert not set(dataset.train.images) & set(dataset.val.images)


def test_folder_with_val_folder(tmp_path):
    write_image_folder(tmp_path / "train", ["a", "b"], per_class=4, size=8)
    write_image_folder(tmp_path / "val", ["a", "b"], per_class=2, size=8)
    spec = _dataset_spec("folder", train_folder="train", val_folder="val")
    dataset = load_dataset(spec, data_dir=tmp_path, allow_downloads=False, seed=0)
    assert (len(dataset.train), len(dataset.val)) == (8, 4)
    assert all(path.parent.parent.name == "val" for path in dataset.val.images)


def test_folder_symlinked_outside_the_data_dir_is_refused(tmp_path):
    outside = write_image_folder(tmp_path / "outside", ["a"], per_class=2, size=8)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "escape").symlink_to(outside)
    with pytest.raises(TrainingError, match="outside the data directory"):
        load_dataset(_dataset_spec("folder", train_folder="escape"), data_dir=data_dir, allow_downloads=False, seed=0)


def test_empty_class_folder_is_bad_dataset(tmp_path):
    write_image_folder(tmp_path / "train", ["a", "b"], per_class=3, size=8)
    (tmp_path / "train" / "c").mkdir()
    with pytest.raises(TrainingError, match="has no images") as error:
        load_dataset(_dataset_spec("folder", train_folder="train"), data_dir=tmp_path, allow_downloads=False, seed=0)
    assert error.value.type == "bad_dataset"


def test_cifar_datamodule_yields_uint8_batches_that_the_device_transform_normalises(cifar10_dir, make_spec):
    data = build_data(make_spec(trainer={"batch_size": 8}), data_dir=cifar10_dir, allow_downloads=False)

    assert data.class_names == CIFAR10_CLASSES and (data.num_train, data.num_val) == (80, 50)
    assert data.preprocess.image_size == 32 and data.preprocess.mean == CIFAR_MEAN
    batch = next(iter(data.datamodule.val_dataloader()))
    raw = read_cifar(cifar10_dir / "cifar-10-batches-py", "cifar10").val.images[0]
    assert batch["input"].dtype == torch.uint8 and torch.equal(batch["input"][0], torch.from_numpy(raw))
    images, targets = _on_device(data, RunningStage.VALIDATING, batch)
    assert images.shape == (8, 3, 32, 32) and images.dtype == torch.float32
    expected = (torch.from_numpy(raw).float() / 255 - torch.tensor(CIFAR_MEAN)[:, None, None]) / torch.tensor(
        CIFAR_STD
    )[:, None, None]
    torch.testing.assert_close(images[0], expected)  # val: no augmentation, just to-tensor + normalise
    assert targets.dtype == torch.int64
    train_images, _ = _on_device(data, RunningStage.TRAINING, next(iter(data.datamodule.train_dataloader())))
    assert train_images.shape == (8, 3, 32, 32) and train_images.dtype == torch.float32


def test_random_crop_flip_gives_every_image_a_padded_crop_mirrored_half_the_time():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (256, 3, 8, 8), dtype=torch.uint8)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    out = random_crop_flip(images, padding=2)

    offsets, mirrored = set(), 0
    for i in range(len(images)):
        matches = [
            (dy, dx, flip)
            for dy in range(5)
            for dx in range(5)
            for flip in (False, True)
            if torch.equal(
                padded[i, :, dy : dy + 8, dx : dx + 8].flip(2) if flip else padded[i, :, dy : dy + 8, dx : dx + 8],
                out[i],
            )
        ]
        assert matches, f"image {i} is no crop of its padded self"
        dy, dx, flip = matches[0]
        offsets.add((dy, dx))
        mirrored += flip
    assert len(offsets) == 25  # every offset of the 5 x 5 range occurs in 256 draws
    assert 90 < mirrored < 166  # Binomial(256, 1/2): outside this about once in 10^4 runs


def test_folder_datamodule_resizes_to_the_spec_image_size(tmp_path, make_spec):
    write_image_folder(tmp_path / "pets", ["cat", "dog"], per_class=5, size=40)
    spec = make_spec(dataset={"name": "folder", "train_folder": "pets", "image_size": 24}, trainer={"batch_size": 4})
    data = build_data(spec, data_dir=tmp_path, allow_downloads=False)

    assert data.class_names == ["cat", "dog"] and data.preprocess.image_size == 24
    assert next(iter(data.datamodule.train_dataloader()))["input"].shape == (4, 3, 24, 24)
    assert next(iter(data.datamodule.val_dataloader()))["input"].shape == (2, 3, 24, 24)


def _on_device(data, stage, batch):
    """What Lightning's on_after_batch_transfer makes of a loader batch: Flash's device-side transform."""
    transformed = create_device_input_transform_processor(stage, data.datamodule.input_transform)(batch)
    return transformed["input"], transformed["target"]


def _dataset_spec(name: str, **fields):
    from app.jobs.schemas import DatasetSpec

    return DatasetSpec(name=name, **fields)
