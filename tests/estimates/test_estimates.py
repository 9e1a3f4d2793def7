"""POST /v1/estimates over HTTP against real SQL: the images per second of past succeeded runs pooled into an
expected duration, and the estimate a job starts with in its view."""

from datetime import timedelta

import pytest
import redis

from tests.helpers import TRAIN, bearer, make_key
from tests.jobs_by_hand import finish_job, record_by_hand

# What the tests ask about: 1000 training images per epoch (train_limit), 5 epochs; the past runs are TRAIN's.
SPEC = {"kind": "train", "dataset": {"name": "cifar10", "train_limit": 1000}, "trainer": {"max_epochs": 5}}


@pytest.fixture(autouse=True)
def _empty_queue(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).delete("training")


def past_run(
    client, spec: dict, *, images_per_second: float | None, epoch_seconds: float, wall_s: float, key: str | None = None
) -> str:
    """A succeeded run of `spec` whose every epoch trained at this speed, `wall_s` from its start to its end."""
    from sqlalchemy import update

    from app.core.db import session_scope
    from app.jobs import service
    from app.jobs.models import Job

    answer = client.post("/v1/jobs", json=spec, headers=bearer(key) if key else None)
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["id"]
    with session_scope() as session:
        assert service.claim(session, job_id=job_id, owner="test-worker") is not None
    for epoch in range(spec["trainer"]["max_epochs"]):
        speed = (
            {"train_images_per_second": images_per_second, "train_epoch_seconds": epoch_seconds}
            if images_per_second is not None
            else {"val_accuracy": 0.5}  # a run that recorded no speed: its wall time counts
        )
        assert record_by_hand(job_id, epoch, **speed)
    finish_job(job_id)
    with session_scope() as session:
        started = session.get(Job, job_id).started_at
        session.execute(update(Job).where(Job.id == job_id).values(finished_at=started + timedelta(seconds=wall_s)))
    return job_id


def estimate(client, spec: dict = SPEC, key: str | None = None) -> dict:
    answer = client.post("/v1/estimates", json=spec, headers=bearer(key) if key else None)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_without_past_runs_there_is_no_basis_and_a_reason(client):
    body = estimate(client)
    assert body["basis_runs"] == 0 and body["seconds"] is None and body["per_epoch_seconds"] is None
    assert "no succeeded run" in body["reason"] and "resnet18" in body["reason"] and "image size 32" in body["reason"]
    assert body["train_images"] == 1000


def test_past_runs_pool_their_images_per_second(client):
    # TRAIN: 100 images, 2 epochs. Run a: 50 img/s for 2 s an epoch, 10 s in all; run b: 100 img/s for 1 s, 8 s.
    past_run(client, TRAIN, images_per_second=50.0, epoch_seconds=2.0, wall_s=10.0)
    past_run(client, TRAIN, images_per_second=100.0, epoch_seconds=1.0, wall_s=8.0)
    body = estimate(client)
    # 400 images in 6 training seconds; outside training 6 s a run.
    assert body["basis_runs"] == 2 and body["reason"] is None
    assert body["images_per_second"] == pytest.approx(400 / 6, abs=0.1)
    assert body["per_epoch_seconds"] == pytest.approx(15.0)
    assert body["seconds"] == pytest.approx(5 * 15.0 + 6.0)


def test_a_run_that_recorded_no_speed_counts_its_images_over_its_wall_time(client):
    past_run(client, TRAIN, images_per_second=None, epoch_seconds=0, wall_s=4.0)  # 200 images in 4 s
    body = estimate(client)
    assert body["basis_runs"] == 1 and body["images_per_second"] == pytest.approx(50.0)
    assert body["seconds"] == pytest.approx(5 * 1000 / 50.0)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("model", "backbone"), "resnet34"),
        (("dataset", "image_size"), 40),
        (("trainer", "devices"), 2),
        (("trainer", "precision"), "16"),
    ],
)
def test_runs_of_another_backbone_image_size_devices_or_precision_do_not_count(client, path, value):
    other = {**TRAIN, path[0]: {**TRAIN.get(path[0], {}), path[1]: value}}
    past_run(client, other, images_per_second=50.0, epoch_seconds=2.0, wall_s=10.0)
    assert estimate(client)["basis_runs"] == 0
    asked = {**SPEC, path[0]: {**SPEC.get(path[0], {}), path[1]: value}}
    assert estimate(client, asked)["basis_runs"] == 1  # it is the basis of a spec like it


def test_finetunes_and_trains_are_separate_bases(client):
    parent = past_run(client, TRAIN, images_per_second=50.0, epoch_seconds=2.0, wall_s=10.0)
    finetune = {
        "kind": "finetune",
        "dataset": {"name": "cifar100", "train_limit": 100},
        "init_from": {"job_id": parent},
    }
    finetune["trainer"] = {"max_epochs": 2}
    past_run(client, finetune, images_per_second=400.0, epoch_seconds=0.25, wall_s=3.0)
    assert estimate(client)["images_per_second"] == pytest.approx(50.0)
    asked = {**finetune, "trainer": {"max_epochs": 4}}
    body = estimate(client, asked)
    assert body["basis_runs"] == 1 and body["images_per_second"] == pytest.approx(400.0)


def test_only_the_keys_projects_runs_count_and_a_read_key_may_ask(client):
    theirs = make_key("submit", project="other")
    past_run(client, TRAIN, images_per_second=50.0, epoch_seconds=2.0, wall_s=10.0, key=theirs)
    assert estimate(client)["basis_runs"] == 0
    assert estimate(client, key=make_key("read", project="other"))["basis_runs"] == 1


def test_unfinished_failed_and_cancelled_runs_do_not_count(client):
    from app.core.db import session_scope
    from app.jobs import service

    running = client.post("/v1/jobs", json=TRAIN).json()["id"]
    with session_scope() as session:
        service.claim(session, job_id=running, owner="test-worker")
    record_by_hand(running, 0, train_images_per_second=50.0, train_epoch_seconds=2.0)
    failed = client.post("/v1/jobs", json=TRAIN).json()["id"]
    with session_scope() as session:
        service.claim(session, job_id=failed, owner="test-worker")
    record_by_hand(failed, 0, train_images_per_second=50.0, train_epoch_seconds=2.0)
    finish_job(failed, status="failed")
    cancelled = client.post("/v1/jobs", json=TRAIN).json()["id"]
    client.post(f"/v1/jobs/{cancelled}/cancel")
    assert estimate(client)["basis_runs"] == 0


@pytest.mark.parametrize(
    "spec",
    [
        {**TRAIN, "model": {"backbone": "vgg11"}},
        {**TRAIN, "trainer": {"batch_size": 10**6}},
        {"kind": "train", "dataset": {"name": "folder"}},
        {"kind": "finetune", "dataset": {"name": "cifar100"}, "init_from": {"job_id": "missing"}},
        {"kind": "train", "dataset": {"id": "0" * 32}},
        {**TRAIN, "unknown": 1},
    ],
)
def test_a_bad_spec_is_422_as_post_jobs_answers_it(client, spec):
    asked, submitted = client.post("/v1/estimates", json=spec), client.post("/v1/jobs", json=spec)
    assert asked.status_code == submitted.status_code == 422
    assert asked.json() == submitted.json()


def test_a_server_side_folder_has_no_estimate(client, service_env):
    from pathlib import Path

    (Path(service_env["FLASHJOBS_DATA_DIR"]) / "pets" / "cats").mkdir(parents=True)
    body = estimate(client, {"kind": "train", "dataset": {"name": "folder", "train_folder": "pets", "image_size": 32}})
    assert body["basis_runs"] == 0 and body["seconds"] is None and "folder" in body["reason"]


def test_an_upload_is_counted_from_its_summary(client):
    from tests.datasets.archives import class_tree, zip_bytes

    upload = client.post(
        "/v1/datasets",
        content=zip_bytes(class_tree({"cats": 10, "dogs": 10})),
        headers={"Content-Type": "application/zip"},
    ).json()
    spec = {"kind": "train", "dataset": {"id": upload["id"]}, "trainer": {"max_epochs": 1}}
    body = estimate(client, spec)
    assert body["train_images"] == 18  # 10 % of 20 held out for validation
    past_run(client, spec, images_per_second=9.0, epoch_seconds=2.0, wall_s=3.0)
    body = estimate(client, {**spec, "trainer": {"max_epochs": 2}})
    assert body["basis_runs"] == 1 and body["seconds"] == pytest.approx(2 * 2.0 + 1.0)


def test_a_job_shows_the_estimate_it_started_with_and_an_eta(client):
    past_run(client, TRAIN, images_per_second=50.0, epoch_seconds=2.0, wall_s=10.0)
    job = client.post("/v1/jobs", json=SPEC).json()
    assert job["estimate"] == estimate(client) and job["estimate"]["basis_runs"] == 1
    assert job["eta_seconds"] == pytest.approx(5 * 20.0)  # 1000 images at 50 img/s, 5 epochs left

    from app.core.db import session_scope
    from app.jobs import service

    with session_scope() as session:
        service.claim(session, job_id=job["id"], owner="test-worker")
    record_by_hand(job["id"], 0, train_images_per_second=100.0, train_epoch_seconds=10.0)
    seen = client.get(f"/v1/jobs/{job['id']}").json()
    assert seen["eta_seconds"] == pytest.approx(4 * 10.0)  # the epoch it measured, 4 epochs left
    assert seen["estimate"] == job["estimate"]  # what it started with stays
    finish_job(job["id"])
    assert client.get(f"/v1/jobs/{job['id']}").json()["eta_seconds"] is None


def test_a_job_without_a_basis_says_so_in_its_estimate(client):
    job = client.post("/v1/jobs", json=TRAIN).json()
    assert job["estimate"]["basis_runs"] == 0 and job["estimate"]["reason"] and job["eta_seconds"] is None
