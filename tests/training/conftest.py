"""Shared fixtures for the training tests: tiny datasets in the real formats and small job specs."""

import logging
from pathlib import Path

import pytest

from app.jobs.schemas import JobSpec
from app.synthetic_data import write_cifar10
from worker import training  # noqa: F401  (its Flash shims apply before the test modules here import flash)


def _make_spec(**overrides) -> JobSpec:
    """A small CPU-friendly spec, with `overrides` merged per section: ImageNet stem (15x cheaper than the
    CIFAR stem at 32 px), Adam (learns a tiny set in a few epochs), no loader worker processes."""
    spec = {
        "kind": "train",
        "dataset": {"name": "cifar10"},
        "model": {"backbone": "resnet18", "cifar_stem": False},
        "trainer": {"max_epochs": 2, "batch_size": 16, "learning_rate": 1e-3, "optimizer": "adam", "num_workers": 0},
    }
    for section, values in overrides.items():
        spec[section] = {**spec.get(section, {}), **values} if isinstance(values, dict) else values
    return JobSpec.model_validate(spec)


@pytest.fixture(scope="session")
def make_spec():
    """make_spec(trainer={"max_epochs": 3}, ...) -> JobSpec."""
    return _make_spec


@pytest.fixture(autouse=True)
def _quiet_lightning():
    """Lightning's info lines (GPU available: False, ...) only clutter test output."""
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    yield


@pytest.fixture(scope="session")
def cifar10_dir(tmp_path_factory) -> Path:
    """A data dir with a CIFAR-10 in the real format, each class in its own colour: 8 train, 5 val per class."""
    data_dir = tmp_path_factory.mktemp("cifar10-data")
    write_cifar10(data_dir, train_per_class=8, val_per_class=5, colour_matches=1.0)
    return data_dir
