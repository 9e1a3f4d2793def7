"""An evaluation as a user gets it: a job trained by the real stack (API, Celery worker, Redis, SQL) on an uploaded
dataset, evaluated on it through the CLI, its accuracy checked against model.pt applied directly in plain torch."""

import csv
import io
import json
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from tests.datasets.archives import class_tree, zip_bytes
from tests.e2e.service_stack import ServiceStack

pytestmark = pytest.mark.slow

TRAINER = {"max_epochs": 1, "batch_size": 16, "optimizer": "adam", "learning_rate": 0.001, "num_workers": 0}


@pytest.fixture
def stack(start_stack) -> ServiceStack:
    return start_stack(FLASHJOBS_HEARTBEAT_S="0.5")


def _direct_top1(model_bytes: bytes, images: list[bytes]) -> list[str]:
    """model.pt in plain torch, each image resized and normalised as its preprocess.json says."""
    import torch

    extra = {"preprocess.json": "", "class_names.json": ""}
    model = torch.jit.load(io.BytesIO(model_bytes), _extra_files=extra)
    preprocess, names = json.loads(extra["preprocess.json"]), json.loads(extra["class_names.json"])
    size = preprocess["image_size"]
    mean, std = (torch.tensor(preprocess[key]).view(1, 3, 1, 1) for key in ("mean", "std"))
    arrays = [
        np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((size, size), Image.BILINEAR)) for data in images
    ]
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        return [names[i] for i in model((x - mean) / std).argmax(dim=1).tolist()]


def test_an_evaluation_scores_every_image_as_the_model_applied_directly(stack):
    started = time.monotonic()
    tree = class_tree({"cats": 12, "dogs": 12, "owls": 12}, size=(24, 24))
    upload = stack.http.post("/v1/datasets", files={"file": ("pets.zip", zip_bytes(tree))}, timeout=60)
    assert upload.status_code == 201, upload.text
    dataset = upload.json()["id"]
    train = {"kind": "train", "dataset": {"id": dataset}, "model": {"backbone": "resnet18"}, "trainer": TRAINER}
    job = stack.http.post("/v1/jobs", json=train, timeout=10).json()
    assert stack.wait_final(job["id"])["status"] == "succeeded", stack.all_logs()

    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "evaluate",
            job["id"],
            dataset,
            "--top-k",
            "2",
            "--wait",
            "--api-url",
            stack.url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**stack.env, "COLUMNS": "200"},
    )
    assert shown.returncode == 0, f"{shown.stdout}\n{shown.stderr}\n{stack.all_logs()}"
    (listed,) = stack.http.get("/v1/jobs", params={"kind": "evaluate"}, timeout=10).json()["jobs"]
    evaluation = stack.http.get(f"/v1/evaluations/{listed['id']}", timeout=10).json()
    assert evaluation["status"] == "succeeded" and evaluation["job_id"] == job["id"], evaluation
    assert evaluation["progress"] == {"epoch": 1, "max_epochs": 1}  # its result is the whole of its work
    result = evaluation["result"]
    assert listed["result"] == result and result["images"] == 36 and result["splits"] == {"train": 33, "val": 3}
    matrix = result["confusion_matrix"]
    assert matrix["labels"] == ["cats", "dogs", "owls"] and sum(map(sum, matrix["matrix"])) == 36
    for name in ("accuracy", "f1", "auroc", "confusion matrix", evaluation["id"]):
        assert name in shown.stdout, shown.stdout

    csv_bytes = stack.http.get(evaluation["predictions_url"], timeout=30).content
    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode())))
    assert len(rows) == 36 and {row["path"] for row in rows} == set(tree)
    model = stack.http.get(f"/v1/jobs/{job['id']}/artifacts/model", timeout=30).content
    direct = _direct_top1(model, [tree[row["path"]] for row in rows])
    assert [row["label_1"] for row in rows] == direct
    agreement = sum(label == row["true_label"] for label, row in zip(direct, rows, strict=True)) / len(rows)
    assert result["metrics"]["accuracy"] == pytest.approx(agreement)
    print(f"train + evaluate through the stack: {time.monotonic() - started:.1f} s")
