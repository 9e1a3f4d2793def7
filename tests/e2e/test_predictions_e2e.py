"""Predictions as a user gets them: a job trained by the real stack, its model served by a real prediction server
process, compared image by image with the model applied directly in plain torch."""

import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from tests.e2e.service_stack import ServiceStack

pytestmark = pytest.mark.slow

CLASSES = ["circle", "square", "star"]
# 40 px files trained at 32 px: the resize is part of the preprocessing compared.
SPEC = {
    "kind": "train",
    "dataset": {"name": "folder", "train_folder": "shapes/train", "val_folder": "shapes/val", "image_size": 32},
    "model": {"backbone": "resnet18", "cifar_stem": False},
    "trainer": {"max_epochs": 2, "batch_size": 20, "optimizer": "adam", "learning_rate": 0.001, "num_workers": 0},
}


@pytest.fixture
def stack(service_env: dict[str, str], start_stack) -> ServiceStack:
    from app.synthetic_data import write_image_folder

    data_dir = Path(service_env["FLASHJOBS_DATA_DIR"])
    write_image_folder(data_dir / "shapes" / "train", CLASSES, per_class=30, size=40, seed=0)
    write_image_folder(data_dir / "shapes" / "val", CLASSES, per_class=12, size=40, seed=1)
    stack = start_stack()
    stack.start_predictor()
    return stack


def _predict(stack: ServiceStack, job_id: str, paths: list[Path], top_k: int = 1) -> httpx.Response:
    files = [("file", (p.name, p.read_bytes(), "image/png")) for p in paths]
    return stack.http.post(f"/v1/jobs/{job_id}/predictions", params={"top_k": top_k}, files=files, timeout=120)


def _direct_top1(model_file: Path, paths: list[Path]) -> list[int]:
    """The downloaded model.pt in plain torch, each image preprocessed as its preprocess.json says."""
    extra = {"preprocess.json": "", "class_names.json": ""}
    model = torch.jit.load(str(model_file), _extra_files=extra)
    preprocess = json.loads(extra["preprocess.json"])
    assert json.loads(extra["class_names.json"]) == CLASSES
    size = preprocess["image_size"]
    mean, std = (torch.tensor(preprocess[key]).view(1, 3, 1, 1) for key in ("mean", "std"))
    arrays = []
    for path in paths:
        image = Image.open(path).convert("RGB")
        if image.size != (size, size):
            image = image.resize((size, size), Image.BILINEAR)
        arrays.append(np.asarray(image))
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        return model((x - mean) / std).argmax(dim=1).tolist()


def test_every_validation_image_gets_the_top1_of_the_model_in_plain_torch_and_the_recorded_accuracy(stack, tmp_path):
    data_dir = Path(stack.env["FLASHJOBS_DATA_DIR"])
    job = stack.http.post("/v1/jobs", json=SPEC, timeout=10).json()
    early = _predict(stack, job["id"], [next((data_dir / "shapes" / "val" / "star").iterdir())])
    assert early.status_code == 409 and "predictions need a job that has succeeded" in early.json()["detail"]

    done = stack.wait_final(job["id"])
    assert done["status"] == "succeeded", done

    val = [
        (path, label)
        for label, name in enumerate(CLASSES)
        for path in sorted((data_dir / "shapes/val" / name).iterdir())
    ]
    paths = [path for path, _ in val]
    served = []
    for start in range(0, len(paths), 16):  # several requests, as clients send them
        response = _predict(stack, job["id"], paths[start : start + 16])
        assert response.status_code == 200, f"{response.text}\n{stack.all_logs()}"
        served += [classes[0]["label"] for classes in response.json()["predictions"]]

    model_file = tmp_path / "model.pt"
    model_file.write_bytes(stack.http.get(f"/v1/jobs/{job['id']}/artifacts/model", timeout=30).content)
    direct = [CLASSES[i] for i in _direct_top1(model_file, paths)]
    assert served == direct

    series = stack.http.get(f"/v1/jobs/{job['id']}/metrics", params={"names": "val_accuracy"}, timeout=10)
    recorded = series.json()["series"]["val_accuracy"][-1]["value"]
    correct = sum(label == CLASSES[truth] for label, (_, truth) in zip(served, val, strict=True))
    assert correct == round(recorded * len(val)), (correct, recorded, len(val))

    # The command line, as a user runs it: a table of the top classes of each image.
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "predict",
            job["id"],
            str(paths[0]),
            str(paths[-1]),
            "-k",
            "2",
            "--api-url",
            stack.url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**stack.env, "COLUMNS": "250"},  # a long path on one line
    )
    assert shown.returncode == 0, shown.stderr
    assert paths[0].name in shown.stdout and served[0] in shown.stdout and served[-1] in shown.stdout
    assert shown.stdout.count("0.") >= 4  # two probabilities per image
