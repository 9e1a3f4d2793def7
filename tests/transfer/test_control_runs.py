"""Control runs over HTTP against real SQL: created with their finetune, linked both ways, compared per epoch."""

import pytest
import redis

from tests.helpers import TRAIN
from tests.jobs_by_hand import finish_job, record_by_hand


@pytest.fixture(autouse=True)
def _empty_queue(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).delete("training")


def _claim(job_id: str) -> None:
    from app.core.db import session_scope
    from app.jobs import service

    with session_scope() as session:
        assert service.claim(session, job_id=job_id, owner="test-worker") is not None


def _finetune(parent_id: str, control: dict, **finetune) -> dict:
    return {
        "kind": "finetune",
        "dataset": {"name": "cifar100", "train_limit": 200},
        "init_from": {"job_id": parent_id},
        "finetune": {"strategy": "freeze", **finetune},
        "trainer": {"max_epochs": 3, "seed": 7, "optimizer": "adam", "learning_rate": 0.01},
        "control": control,
    }


def test_a_scratch_control_is_a_train_job_with_the_finetunes_data_model_and_trainer(client):
    parent = client.post("/v1/jobs", json={**TRAIN, "model": {"backbone": "resnet34", "cifar_stem": False}}).json()
    response = client.post("/v1/jobs", json=_finetune(parent["id"], {"kind": "scratch"}))
    assert response.status_code == 201, response.text
    finetune = response.json()
    control = client.get(f"/v1/jobs/{finetune['control_id']}").json()
    assert control["control_of"] == finetune["id"] and finetune["control_of"] is None
    assert finetune["status"] == "waiting" and control["status"] == "queued"  # the control needs no parent
    assert control["kind"] == "train" and control["parent_id"] is None
    for section in ("dataset", "model", "trainer", "metrics"):
        assert control["spec"][section] == finetune["spec"][section], section
    assert control["spec"]["model"] == {"backbone": "resnet34", "cifar_stem": False}  # the parent's, inherited
    assert control["spec"]["init_from"] is None and control["spec"]["control"] is None


def test_a_frozen_random_control_freezes_a_random_backbone(client):
    parent = client.post("/v1/jobs", json=TRAIN).json()
    finetune = client.post("/v1/jobs", json=_finetune(parent["id"], {"kind": "frozen_random"}, train_bn=True)).json()
    control = client.get(f"/v1/jobs/{finetune['control_id']}").json()
    assert control["kind"] == "finetune" and control["parent_id"] is None
    assert control["spec"]["init_from"] == {"job_id": None, "step": None, "random": True}
    assert control["spec"]["finetune"] == finetune["spec"]["finetune"]


@pytest.mark.parametrize(
    ("body", "loc", "says"),
    [
        ({**TRAIN, "control": {"kind": "scratch"}}, ["body", "control"], "compares a finetune"),
        ("no_freeze", ["body", "control", "kind"], "frozen_random is the control of strategy 'freeze'"),
        ({**TRAIN, "control": {"kind": "pretrained"}}, ["body", "control", "kind"], "'scratch' or 'frozen_random'"),
    ],
)
def test_a_control_that_cannot_be_is_422_naming_the_field(client, body, loc, says):
    parent = client.post("/v1/jobs", json=TRAIN).json()
    if body == "no_freeze":
        body = {**_finetune(parent["id"], {"kind": "frozen_random"}), "finetune": {"strategy": "no_freeze"}}
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == loc and says in detail["msg"]


def test_in_a_chain_the_controls_come_after_the_steps(client):
    step = {**_finetune("x", {"kind": "scratch"}), "init_from": {"step": 0}}
    jobs = client.post("/v1/chains", json={"steps": [TRAIN, step]}).json()["jobs"]
    assert [j["kind"] for j in jobs] == ["train", "finetune", "train"]
    assert jobs[1]["parent_id"] == jobs[0]["id"] and jobs[1]["control_id"] == jobs[2]["id"]
    assert jobs[2]["control_of"] == jobs[1]["id"]


def _epoch(accuracy: float, loss: float, seconds: float = 2.0, images: int = 200) -> dict:
    return {
        "val_accuracy": accuracy,
        "val_loss": loss,
        "val_f1": accuracy / 2,
        "val_auroc": 0.5 + accuracy / 2,
        "train_epoch_seconds": seconds,
        "train_images_per_second": images / seconds,
    }


def test_transfer_compares_each_epoch_and_counts_epochs_saved_and_compute(client):
    parent = client.post("/v1/jobs", json=TRAIN).json()
    finetune = client.post("/v1/jobs", json=_finetune(parent["id"], {"kind": "scratch"})).json()
    control_id = finetune["control_id"]
    _claim(parent["id"])
    finish_job(parent["id"])
    _claim(finetune["id"])
    _claim(control_id)
    for epoch, accuracy in enumerate([0.5, 0.6, 0.7]):
        assert record_by_hand(finetune["id"], epoch, **_epoch(accuracy, 1.0 - accuracy, seconds=1.0))
    for epoch, accuracy in enumerate([0.2, 0.5, 0.55]):
        assert record_by_hand(control_id, epoch, **_epoch(accuracy, 2.0 - accuracy, seconds=4.0))

    report = client.get(f"/v1/jobs/{finetune['id']}/transfer")
    assert report.status_code == 200, report.text
    body = report.json()
    assert body == client.get(f"/v1/jobs/{control_id}/transfer").json()  # either id names the pair
    assert (body["job_id"], body["control_id"], body["control_kind"]) == (finetune["id"], control_id, "scratch")
    first = body["epochs"][0]
    assert first["finetune"]["val_accuracy"] == 0.5 and first["control"]["val_accuracy"] == 0.2
    assert first["gain"]["val_accuracy"] == pytest.approx(0.3) and first["gain"]["val_loss"] == pytest.approx(0.5 - 1.8)
    assert set(first["gain"]) == {"val_accuracy", "val_loss", "val_f1", "val_auroc"}
    # The control's best (0.55, epoch 2) was reached by the finetune at epoch 1: one epoch sooner.
    assert body["control_best_reached_at"] == {"finetune": 1, "control": 2} and body["epochs_saved"] == 1
    assert body["control"]["best_val_accuracy"] == 0.55 and body["finetune"]["best_epoch"] == 2
    assert body["finetune"]["compute"] == {"epochs": 3, "image_epochs": 600, "seconds": 3.0}
    assert body["control"]["compute"] == {"epochs": 3, "image_epochs": 600, "seconds": 12.0}
    assert body["final_gain"]["val_accuracy"] == pytest.approx(0.15)


def test_a_control_that_never_reaches_gives_no_epochs_saved_and_a_job_without_one_is_404(client):
    parent = client.post("/v1/jobs", json=TRAIN).json()
    finetune = client.post("/v1/jobs", json=_finetune(parent["id"], {"kind": "frozen_random"})).json()
    _claim(finetune["control_id"])
    assert record_by_hand(finetune["control_id"], 0, **_epoch(0.3, 1.5))
    body = client.get(f"/v1/jobs/{finetune['id']}/transfer").json()
    assert body["control_best_reached_at"] == {"finetune": None, "control": 0} and body["epochs_saved"] is None
    assert body["epochs"][0]["finetune"] == {} and body["epochs"][0]["gain"] == {}
    missing = client.get(f"/v1/jobs/{parent['id']}/transfer")
    assert missing.status_code == 404 and "no control run" in missing.json()["detail"]
    assert client.get("/v1/jobs/nope/transfer").status_code == 404


def test_a_finetune_may_start_from_a_random_backbone_and_is_queued_at_once(client):
    body = {"kind": "finetune", "dataset": {"name": "cifar100"}, "init_from": {"random": True}}
    job = client.post("/v1/jobs", json=body).json()
    assert job["status"] == "queued" and job["parent_id"] is None
    assert job["spec"]["init_from"]["random"] is True and job["spec"]["finetune"]["strategy"] == "freeze"
    refused = client.post("/v1/jobs", json={**body, "init_from": {"random": False}})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "init_from", "random"]
    both = client.post("/v1/jobs", json={**body, "init_from": {"random": True, "job_id": job["id"]}})
    assert both.status_code == 422 and "exactly one of job_id, step or random" in both.json()["detail"][0]["msg"]
