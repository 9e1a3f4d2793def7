"""Done means: a hymenoptera-shaped archive uploaded over HTTP to the real stack (uvicorn, a Celery worker process,
Redis, SQL), summarised, trained on, and used to finetune a CIFAR-10 backbone with `freeze`."""

import io
from pathlib import Path

import pytest

from app.jobs.status import FINAL
from tests.datasets.archives import hymenoptera_tree, zip_bytes
from tests.e2e.service_stack import ServiceStack, wait_for

pytestmark = pytest.mark.slow

FAST_MODEL = {"backbone": "resnet18", "cifar_stem": False}  # the ImageNet stem: far cheaper on a CPU
TRAINER = {"max_epochs": 1, "batch_size": 16, "optimizer": "adam", "learning_rate": 0.001, "num_workers": 0}


@pytest.fixture
def stack(service_env: dict[str, str], start_stack) -> ServiceStack:
    from app.synthetic_data import write_cifar10

    write_cifar10(Path(service_env["FLASHJOBS_DATA_DIR"]), train_per_class=10, val_per_class=2)
    return start_stack(FLASHJOBS_HEARTBEAT_S="0.5")


def _final(stack: ServiceStack, job_id: str) -> dict:
    def done() -> dict | None:
        job = stack.http.get(f"/v1/jobs/{job_id}", timeout=10).json()
        return job if job["status"] in FINAL else None

    try:
        return wait_for(done, timeout=300, what=f"job {job_id} to finish")
    except TimeoutError:
        raise AssertionError(stack.all_logs()) from None


def _artifact(stack: ServiceStack, job_id: str, name: str) -> bytes:
    return stack.http.get(f"/v1/jobs/{job_id}/artifacts/{name}", timeout=60).content


def test_upload_train_and_finetune_a_cifar10_backbone_on_it(stack):
    import torch

    response = stack.http.post(
        "/v1/datasets",
        files={"file": ("hymenoptera_data.zip", zip_bytes(hymenoptera_tree()))},
        data={"name": "hymenoptera"},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["status"] == "ready" and dataset["classes"] == ["ants", "bees"]
    assert dataset["splits"] == {"train": {"ants": 12, "bees": 12}, "val": {"ants": 4, "bees": 4}}
    assert dataset["image_sizes"]["width"] == {"min": 24, "median": 32, "max": 40}
    assert [p["path"] for p in dataset["problems"]] == ["hymenoptera_data/train/bees/corrupt.jpg"]

    train = {"kind": "train", "dataset": {"id": dataset["id"]}, "model": FAST_MODEL, "trainer": TRAINER}
    chain = {
        "steps": [
            {"kind": "train", "dataset": {"name": "cifar10"}, "model": FAST_MODEL, "trainer": TRAINER},
            {
                "kind": "finetune",
                "dataset": {"id": dataset["id"], "image_size": 32},
                "init_from": {"step": 0},
                "finetune": {"strategy": "freeze"},
                "trainer": TRAINER,
            },
        ]
    }
    job = stack.http.post("/v1/jobs", json=train, timeout=10).json()
    assert job["spec"]["dataset"]["image_size"] == 20, job  # the median side, not a fixed 128
    cifar, finetune = (j["id"] for j in stack.http.post("/v1/chains", json=chain, timeout=10).json()["jobs"])
    assert stack.http.delete(f"/v1/datasets/{dataset['id']}", timeout=10).status_code == 409

    for job_id in (job["id"], cifar, finetune):
        done = _final(stack, job_id)
        assert done["status"] == "succeeded", (done, stack.all_logs())
    metrics = stack.http.get(f"/v1/jobs/{finetune}/metrics", timeout=10).json()["series"]
    assert [p["epoch"] for p in metrics["val_accuracy"]] == [0]

    model = torch.jit.load(io.BytesIO(_artifact(stack, finetune, "model")))
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 2)  # a head for ants and bees
    parent = torch.load(io.BytesIO(_artifact(stack, cifar, "backbone")), weights_only=False)
    child = torch.load(io.BytesIO(_artifact(stack, finetune, "backbone")), weights_only=False)
    assert child["meta"]["class_names"] == ["ants", "bees"] and parent["meta"]["num_classes"] == 10
    for key, tensor in parent["state_dict"].items():  # freeze: the CIFAR-10 backbone did not move
        assert torch.equal(child["state_dict"][key], tensor), key

    assert stack.http.delete(f"/v1/datasets/{dataset['id']}", timeout=10).status_code == 204


def test_flash_zeros_command_line_uploads_the_folders_trains_and_watches(stack, tmp_path):
    import subprocess
    import sys

    root = tmp_path / "unpacked"
    for name, data in hymenoptera_tree().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    folders = root / "hymenoptera_data"
    command = [
        sys.executable,
        "-c",
        "from app.cli import main; main()",
        "image_classification",
        "--trainer.max_epochs",
        "1",
        "--model.backbone",
        "resnet18",
        "--model.optimizer",
        "adam",
        "--model.learning_rate",
        "0.001",
        "from_folders",
        "--train_folder",
        str(folders / "train"),
        "--val_folder",
        str(folders / "val"),
        "--batch_size",
        "16",
        "--num_workers",
        "0",
    ]
    done = subprocess.run(
        command, env={**stack.env, "FLASHJOBS_API_URL": stack.url}, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, (done.stdout, done.stderr, stack.all_logs())
    assert "train/bees/corrupt.jpg" in done.stdout and "succeeded" in done.stdout, done.stdout
    (job,) = stack.http.get("/v1/jobs", timeout=10).json()["jobs"]
    assert job["status"] == "succeeded" and job["spec"]["trainer"]["max_epochs"] == 1
    (dataset,) = stack.http.get("/v1/datasets", timeout=10).json()["datasets"]
    assert job["spec"]["dataset"]["id"] == dataset["id"] and dataset["name"] == "hymenoptera_data"
