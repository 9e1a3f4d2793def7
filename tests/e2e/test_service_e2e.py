"""The whole service, as a user runs it: HTTP API process, Celery worker process, Redis, SQL, real Flash training.

Data: small files in the real CIFAR format, with learnable classes, written by the tests.
"""

import hashlib
import json
import os
import signal
import threading
from pathlib import Path

import pytest

from tests.e2e.service_stack import ServiceStack, training_pids, wait_for

pytestmark = pytest.mark.slow

# ImageNet stem: 15x less compute than the CIFAR stem on CPU (docs/dependencies.md); the service path is the same.
FAST_MODEL = {"backbone": "resnet18", "cifar_stem": False}
# Adam at 1e-3 on batches of 20: 60 steps in 3 epochs of 400 images take the parent to val_accuracy 0.7-0.8,
# far past the test's 0.5 on every CPU kernel tried. Batches of 50 (24 steps) stop it in its steepest rise,
# where the kernels alone move one seed from 0.58 (AVX-512) to 0.41 (ATEN_CPU_CAPABILITY=default).
TRAINER = {"batch_size": 20, "optimizer": "adam", "learning_rate": 0.001, "num_workers": 0}
CIFAR10_TRAIN = {
    "kind": "train",
    "dataset": {"name": "cifar10"},
    "model": FAST_MODEL,
    "trainer": {**TRAINER, "max_epochs": 3},
}
CIFAR100_FINETUNE = {
    "kind": "finetune",
    "dataset": {"name": "cifar100"},
    "init_from": {"step": 0},
    "finetune": {"strategy": "freeze"},
    "trainer": {**TRAINER, "max_epochs": 2},
}


@pytest.fixture
def stack(service_env: dict[str, str], start_stack) -> ServiceStack:
    from app.synthetic_data import write_cifar10, write_cifar100

    data_dir = Path(service_env["FLASHJOBS_DATA_DIR"])
    write_cifar10(data_dir, train_per_class=40, val_per_class=10)
    write_cifar100(data_dir, train_per_class=6, val_per_class=2)
    return start_stack(
        FLASHJOBS_HEARTBEAT_S="0.5",
        FLASHJOBS_HEARTBEAT_TIMEOUT_S="8",
        FLASHJOBS_RECONCILE_IN_API="true",
        FLASHJOBS_RECONCILE_EVERY_S="1",
        FLASHJOBS_PROGRESS_EVERY_S="0.5",
    )


def _series(stack: ServiceStack, job_id: str) -> dict:
    return stack.http.get(f"/v1/jobs/{job_id}/metrics", timeout=10).json()["series"]


def _sse_epochs(stack: ServiceStack, job_id: str, out: list) -> None:
    """Collect (event, data) from the job's SSE stream until its end event."""
    with stack.http.stream("GET", f"/v1/jobs/{job_id}/metrics/stream", timeout=600) as response:
        event = None
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:") and event:
                out.append((event, json.loads(line.partition(":")[2])))
                if event == "end":
                    return


def _download(stack: ServiceStack, url: str) -> bytes:
    return stack.http.get(f"{url}", timeout=60).content


def test_cifar10_to_cifar100_chain_over_http(stack):
    import io

    import torch

    response = stack.http.post("/v1/chains", json={"steps": [CIFAR10_TRAIN, CIFAR100_FINETUNE]}, timeout=10)
    assert response.status_code == 201, response.text
    parent, child = (job["id"] for job in response.json()["jobs"])
    streams = {job_id: [] for job_id in (parent, child)}
    readers = [
        threading.Thread(target=_sse_epochs, args=(stack, job_id, events), daemon=True)
        for job_id, events in streams.items()
    ]
    for reader in readers:
        reader.start()

    # Metrics are readable while the parent runs.
    wait_for(
        lambda: stack.job(parent)["status"] == "running" and _series(stack, parent).get("val_accuracy"),
        timeout=240,
        what="the parent's first epoch while it runs",
    )
    assert stack.job(child)["status"] == "waiting"

    parent_job = stack.wait_final(parent)
    child_job = stack.wait_final(child)
    assert parent_job["status"] == "succeeded", (parent_job, stack.all_logs())
    assert child_job["status"] == "succeeded", (child_job, stack.all_logs())
    for reader in readers:
        reader.join(timeout=60)

    # Every epoch recorded once, for every series; accuracy well above chance on learnable data.
    for job_id, epochs in ((parent, 3), (child, 2)):
        series = _series(stack, job_id)
        for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_f1", "val_auroc"):
            assert [p["epoch"] for p in series[name]] == list(range(epochs)), (name, series[name])
        sse_epochs = [data["epoch"] for event, data in streams[job_id] if event == "epoch"]
        assert sse_epochs == list(range(epochs))  # SSE delivered each epoch exactly once
        assert streams[job_id][-1] == ("end", {"status": "succeeded", "error": None})
    accuracy = _series(stack, parent)["val_accuracy"][-1]["value"]
    assert accuracy > 0.5, accuracy  # chance is 0.1

    # Artifacts download with the sha256 the API reports.
    listed = {}
    for job_id in (parent, child):
        artifacts = stack.http.get(f"/v1/jobs/{job_id}/artifacts", timeout=10).json()
        assert {"backbone", "model", "checkpoint"} <= {a["name"] for a in artifacts}
        for artifact in artifacts:
            body = _download(stack, artifact["url"])
            assert hashlib.sha256(body).hexdigest() == artifact["sha256"] and len(body) == artifact["size"]
        listed[job_id] = {a["name"]: a for a in artifacts}

    # The finetune started from the parent's backbone, and the frozen backbone did not move.
    parent_backbone = torch.load(io.BytesIO(_download(stack, listed[parent]["backbone"]["url"])), weights_only=False)
    child_backbone = torch.load(io.BytesIO(_download(stack, listed[child]["backbone"]["url"])), weights_only=False)
    assert child_backbone["state_dict"].keys() == parent_backbone["state_dict"].keys()
    for key, tensor in parent_backbone["state_dict"].items():
        assert torch.equal(child_backbone["state_dict"][key], tensor), key
    assert child_backbone["meta"]["num_classes"] == 100 and parent_backbone["meta"]["num_classes"] == 10


def test_training_killed_mid_run_resumes_with_a_complete_curve(stack):
    spec = {**CIFAR10_TRAIN, "trainer": {**TRAINER, "max_epochs": 4}}
    job_id = stack.http.post("/v1/jobs", json=spec, timeout=10).json()["id"]
    wait_for(lambda: len(_series(stack, job_id).get("val_accuracy", [])) >= 2, timeout=240, what="two recorded epochs")
    before = _series(stack, job_id)
    for pid in training_pids(job_id):
        os.kill(pid, signal.SIGKILL)

    job = stack.wait_final(job_id)
    assert job["status"] == "succeeded" and job["attempt"] == 2, (job, stack.all_logs())
    after = _series(stack, job_id)
    for name, points in after.items():
        assert [p["epoch"] for p in points] == list(range(4)), (name, points)
    for name, points in before.items():  # resuming changed no recorded value
        assert after[name][: len(points)] == points, name


def test_worker_lost_is_requeued_and_another_worker_finishes(stack):
    spec = {**CIFAR10_TRAIN, "trainer": {**TRAINER, "max_epochs": 3}}
    job_id = stack.http.post("/v1/jobs", json=spec, timeout=10).json()["id"]
    wait_for(lambda: _series(stack, job_id).get("val_accuracy"), timeout=240, what="a recorded epoch")
    for pid in training_pids(job_id):  # the whole worker host dies: supervisor and training
        os.kill(pid, signal.SIGKILL)
    os.killpg(stack.workers[0].pid, signal.SIGKILL)
    stack.workers[0].wait()
    stack.start_worker()  # the reconciler notices the silent heartbeat and re-queues it
    job = stack.wait_final(job_id)
    assert job["status"] == "succeeded" and job["attempt"] == 2, (job, stack.all_logs())
    assert [p["epoch"] for p in _series(stack, job_id)["val_accuracy"]] == [0, 1, 2]


def test_cancel_running_job_stops_it_within_a_batch(stack):
    spec = {**CIFAR10_TRAIN, "trainer": {**TRAINER, "max_epochs": 50}}
    job_id = stack.http.post("/v1/jobs", json=spec, timeout=10).json()["id"]
    wait_for(
        lambda: stack.job(job_id)["status"] == "running" and training_pids(job_id), timeout=60, what="the job to run"
    )
    assert stack.http.post(f"/v1/jobs/{job_id}/cancel", timeout=10).status_code == 202
    job = stack.wait_final(job_id, timeout=120)
    assert job["status"] == "cancelled", job
    assert job["error"]["type"] == "cancelled" and job["error"]["message"].startswith("cancelled while running"), job
    again = stack.http.post(f"/v1/jobs/{job_id}/cancel", timeout=10)
    assert again.status_code == 202 and again.json()["error"] == job["error"]  # cancelling again changes nothing


def test_failures_say_why(stack):
    missing = {"kind": "train", "dataset": {"name": "folder", "train_folder": "no/such/folder"}, "model": FAST_MODEL}
    job_id = stack.http.post("/v1/jobs", json=missing, timeout=10).json()["id"]
    job = stack.wait_final(job_id)
    assert job["status"] == "failed" and job["error"]["type"] == "dataset_missing", job
    assert "no/such/folder" in job["error"]["message"]
    assert job["attempt"] == 1  # a deterministic failure is not retried
