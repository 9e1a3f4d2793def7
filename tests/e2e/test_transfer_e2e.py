"""Done means, through the real stack (uvicorn, a Celery worker process, Redis, SQL, Flash training): a chain whose
finetune's validation set holds copies of the parent's training images gets the leakage warning; its scratch control
trains beside it and GET /v1/jobs/{id}/transfer (and `flashjobs transfer`) compares them; a recommendation on an
uploaded dataset ranks the three backbones and a random one."""

import math
import shutil
import subprocess
from pathlib import Path

import pytest

from app.jobs.status import FINAL
from app.synthetic_data import write_image_folder
from tests.datasets.archives import class_tree, zip_bytes
from tests.e2e.service_stack import ServiceStack, wait_for
from tests.stack.running_up import FLASHJOBS

pytestmark = pytest.mark.slow

FAST_MODEL = {"backbone": "resnet18", "cifar_stem": False}
TRAINER = {"max_epochs": 2, "batch_size": 16, "optimizer": "adam", "learning_rate": 0.001, "num_workers": 0}


@pytest.fixture
def stack(service_env: dict[str, str], start_stack) -> ServiceStack:
    data = Path(service_env["FLASHJOBS_DATA_DIR"])
    # A val folder of its own: without one, a held-out tenth of parent/train would not be training images.
    write_image_folder(data / "parent" / "train", ["p0", "p1", "p2"], per_class=12, size=16, seed=1)
    write_image_folder(data / "parent" / "val", ["p0", "p1", "p2"], per_class=2, size=16, seed=4)
    write_image_folder(data / "child" / "train", ["c0", "c1"], per_class=10, size=16, seed=2)
    write_image_folder(data / "child" / "val", ["c0", "c1"], per_class=3, size=16, seed=3)
    for name in ("p0_0.png", "p0_1.png", "p0_2.png"):  # three of the parent's training images, copied
        shutil.copy(data / "parent" / "train" / "p0" / name, data / "child" / "val" / "c0" / f"copied_{name}")
    return start_stack(FLASHJOBS_HEARTBEAT_S="0.5")


def _final(stack: ServiceStack, path: str) -> dict:
    def done() -> dict | None:
        body = stack.http.get(f"{path}", timeout=10).json()
        return body if body["status"] in FINAL else None

    try:
        return wait_for(done, timeout=600, what=f"{path} to finish")
    except TimeoutError:
        raise AssertionError(stack.all_logs()) from None


def test_leakage_control_run_transfer_and_recommendation(stack):
    chain = {
        "steps": [
            {
                "kind": "train",
                "dataset": {"name": "folder", "train_folder": "parent/train", "val_folder": "parent/val"},
                "model": FAST_MODEL,
                "trainer": TRAINER,
            },
            {
                "kind": "finetune",
                "dataset": {"name": "folder", "train_folder": "child/train", "val_folder": "child/val"},
                "init_from": {"step": 0},
                "finetune": {"strategy": "freeze"},
                "control": {"kind": "scratch"},
                "trainer": TRAINER,
            },
        ]
    }
    response = stack.http.post("/v1/chains", json=chain, timeout=30)
    assert response.status_code == 201, response.text
    parent, finetune, control = response.json()["jobs"]
    assert finetune["control_id"] == control["id"] and control["control_of"] == finetune["id"]
    finetune = _final(stack, f"/v1/jobs/{finetune['id']}")
    control = _final(stack, f"/v1/jobs/{control['id']}")
    assert (finetune["status"], control["status"]) == ("succeeded", "succeeded"), stack.all_logs()

    (warning,) = finetune["warnings"]
    assert warning["type"] == "val_in_parent_train" and warning["exact"] == 3 and warning["of"] == 9
    assert warning["count"] >= 3  # the copies, and any other picture the parent's drawing matches closely
    exact = {(e["val"], e["parent_train"]) for e in warning["examples"] if e["match"] == "exact"}
    assert exact == {(f"c0/copied_p0_{i}.png", f"p0/p0_{i}.png") for i in range(3)}
    assert control["warnings"] is None  # no parent: nothing to check

    report = stack.http.get(f"/v1/jobs/{finetune['id']}/transfer", timeout=10).json()
    assert [e["epoch"] for e in report["epochs"]] == [0, 1]
    assert all(set(e["gain"]) == {"val_accuracy", "val_loss", "val_f1", "val_auroc"} for e in report["epochs"])
    for side in ("finetune", "control"):
        # 20 training images in batches of 16: Flash's training loader drops the last, partial batch.
        assert report[side]["compute"]["epochs"] == 2 and report[side]["compute"]["image_epochs"] == 2 * 16
    assert report["epochs"][1]["gain"]["val_accuracy"] == pytest.approx(
        report["epochs"][1]["finetune"]["val_accuracy"] - report["epochs"][1]["control"]["val_accuracy"]
    )

    env = {**stack.env, "FLASHJOBS_API_URL": stack.url}
    printed = subprocess.run([*FLASHJOBS, "transfer", finetune["id"]], env=env, capture_output=True, text=True)
    assert printed.returncode == 0, printed.stderr
    assert "scratch control" in printed.stdout and "image-epochs" in printed.stdout
    shown = subprocess.run([*FLASHJOBS, "show", finetune["id"]], env=env, capture_output=True, text=True)
    assert "validation images are in the parent's training set" in shown.stdout, shown.stdout

    upload = stack.http.post(
        "/v1/datasets",
        content=zip_bytes(class_tree({"red": 6, "green": 6}, size=(16, 16))),
        headers={"Content-Type": "application/zip"},
        timeout=60,
    )
    assert upload.status_code == 201, upload.text
    asked = stack.http.post("/v1/recommendations", json={"dataset_id": upload.json()["id"]}, timeout=30)
    assert asked.status_code == 201, asked.text
    recommendation = _final(stack, f"/v1/recommendations/{asked.json()['id']}")
    assert recommendation["status"] == "succeeded", recommendation
    ranking = recommendation["ranking"]
    assert {e["job_id"] for e in ranking} == {parent["id"], finetune["id"], control["id"], None}
    assert [e["score"] for e in ranking] == sorted((e["score"] for e in ranking), reverse=True)
    assert all(math.isfinite(e["score"]) for e in ranking) and recommendation["sampled"] > 0
