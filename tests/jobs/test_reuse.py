"""`reuse: if_identical` over HTTP against real SQL: the fingerprint of what decides a job's weights, and an
identical succeeded job of the project answered (200, `reused: true`) instead of a new one."""

import copy

import pytest
import redis

from tests.datasets.archives import class_tree, zip_bytes
from tests.helpers import TRAIN, bearer, make_key
from tests.jobs_by_hand import finish_job

REUSE = {**TRAIN, "reuse": "if_identical"}


@pytest.fixture(autouse=True)
def _empty_queue(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).delete("training")


def fingerprint_of(job_id: str) -> str | None:
    from app.core.db import session_scope
    from app.jobs.models import Job

    with session_scope() as session:
        return session.get(Job, job_id).spec_fingerprint


def succeed(job_id: str, status: str = "succeeded") -> None:
    from app.core.db import session_scope
    from app.jobs import service

    with session_scope() as session:
        assert service.claim(session, job_id=job_id, owner="test-worker") is not None
    finish_job(job_id, status=status)


def submit(client, spec: dict, **headers) -> dict:
    answer = client.post("/v1/jobs", json=spec, headers=headers or None)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def changed(spec: dict, path: str, value) -> dict:
    out = copy.deepcopy(spec)
    *parents, last = path.split(".")
    node = out
    for name in parents:
        node = node.setdefault(name, {})
    node[last] = value
    return out


def test_the_fingerprint_ignores_what_cannot_change_the_weights(client):
    first = fingerprint_of(submit(client, TRAIN)["id"])
    assert first is not None and len(first) == 64
    for path, value in [
        ("trainer.num_workers", 7),
        ("priority", "high"),
        ("reuse", "if_identical"),
        ("metrics.f1_average", "weighted"),
        ("model.backbone", "resnet18"),  # the default, written out
        ("dataset.image_size", 32),  # CIFAR's default, written out
    ]:
        assert fingerprint_of(submit(client, changed(TRAIN, path, value))["id"]) == first, path


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("trainer.learning_rate", 0.05),
        ("trainer.max_epochs", 3),
        ("trainer.seed", 1),
        ("model.backbone", "resnet34"),
        ("dataset.train_limit", 101),
        ("dataset.name", "cifar100"),
        ("dataset.image_size", 40),
    ],
)
def test_the_fingerprint_differs_on_what_changes_the_weights(client, path, value):
    assert fingerprint_of(submit(client, TRAIN)["id"]) != fingerprint_of(
        submit(client, changed(TRAIN, path, value))["id"]
    )


def _upload(client, body: bytes, key: str | None = None) -> str:
    headers = {"Content-Type": "application/zip", **(bearer(key) if key else {})}
    answer = client.post("/v1/datasets", content=body, headers=headers)
    assert answer.status_code in (200, 201), answer.text
    assert answer.json()["status"] == "ready"
    return answer.json()["id"]


def test_uploads_of_the_same_bytes_share_a_fingerprint_and_other_bytes_do_not(client):
    body = zip_bytes(class_tree({"cats": 3, "dogs": 3}))
    other_project = make_key("submit", project="other")
    mine, theirs = _upload(client, body), _upload(client, body, other_project)
    assert mine != theirs  # two datasets (two projects) of the same content
    spec = {"kind": "train", "dataset": {"id": mine}, "trainer": {"max_epochs": 1}}
    ours = fingerprint_of(submit(client, spec)["id"])
    twice = _upload(client, body)  # the same bytes again: the same dataset
    assert twice == mine and fingerprint_of(submit(client, spec)["id"]) == ours
    theirs_spec = changed(spec, "dataset.id", theirs)
    assert fingerprint_of(submit(client, theirs_spec, **bearer(other_project))["id"]) == ours
    different = _upload(client, zip_bytes(class_tree({"cats": 3, "dogs": 3}, seed=5)))
    assert fingerprint_of(submit(client, changed(spec, "dataset.id", different))["id"]) not in (ours, None)


def test_a_server_side_folder_has_no_fingerprint_and_is_never_reused(client, service_env):
    from pathlib import Path

    from tests.datasets.archives import image_bytes

    for name in ("cats", "dogs"):
        folder = Path(service_env["FLASHJOBS_DATA_DIR"]) / "pets" / name
        folder.mkdir(parents=True)
        for n in range(3):
            (folder / f"{n}.jpg").write_bytes(image_bytes(n))
    spec = {"kind": "train", "dataset": {"name": "folder", "train_folder": "pets"}, "reuse": "if_identical"}
    first = submit(client, spec)
    assert fingerprint_of(first["id"]) is None
    succeed(first["id"])
    again = client.post("/v1/jobs", json=spec)
    assert again.status_code == 201 and again.json()["reused"] is False and again.json()["id"] != first["id"]


def test_an_identical_succeeded_job_is_answered_with_200_and_nothing_is_created(client, redis_url):
    done = submit(client, TRAIN)
    assert done["reused"] is False and done["reused_from"] is None
    succeed(done["id"])
    redis.Redis.from_url(redis_url).delete("training")
    total = len(client.get("/v1/jobs").json()["jobs"])

    answer = client.post("/v1/jobs", json={**REUSE, "trainer": {"max_epochs": 2, "num_workers": 0}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == done["id"] and body["reused"] is True and body["reused_from"] == done["id"]
    assert body["status"] == "succeeded" and answer.headers["location"] == f"/v1/jobs/{done['id']}"
    assert len(client.get("/v1/jobs").json()["jobs"]) == total  # no new row
    assert redis.Redis.from_url(redis_url).llen("training") == 0  # nothing dispatched
    assert client.get(f"/v1/jobs/{done['id']}").json()["reused"] is False  # the job itself is no reuse


def test_the_newest_identical_job_is_reused(client):
    older, newer = submit(client, TRAIN), submit(client, TRAIN)
    succeed(older["id"])
    succeed(newer["id"])
    assert submit(client, REUSE)["id"] == newer["id"]


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_failed_or_cancelled_jobs_are_never_reused(client, status):
    if status == "cancelled":
        job = submit(client, TRAIN)
        assert client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 202
    else:
        job = submit(client, TRAIN)
        succeed(job["id"], status="failed")
    assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == status
    answer = client.post("/v1/jobs", json=REUSE)
    assert answer.status_code == 201 and answer.json()["reused"] is False and answer.json()["id"] != job["id"]


def test_queued_or_running_identical_jobs_are_not_reused(client):
    queued = submit(client, TRAIN)
    answer = client.post("/v1/jobs", json=REUSE)
    assert answer.status_code == 201 and answer.json()["id"] != queued["id"]


def test_reuse_never_always_trains(client):
    done = submit(client, TRAIN)
    succeed(done["id"])
    for spec in (TRAIN, {**TRAIN, "reuse": "never"}):
        answer = client.post("/v1/jobs", json=spec)
        assert answer.status_code == 201 and answer.json()["id"] != done["id"] and answer.json()["reused"] is False


def test_another_projects_identical_job_is_never_reused(client):
    theirs = make_key("submit", project="other")
    done = submit(client, TRAIN, **bearer(theirs))
    succeed(done["id"])
    mine = client.post("/v1/jobs", json=REUSE)
    assert mine.status_code == 201 and mine.json()["id"] != done["id"] and mine.json()["reused"] is False
    again = client.post("/v1/jobs", json=REUSE, headers=bearer(theirs))
    assert again.status_code == 200 and again.json()["id"] == done["id"]  # its own project's key reuses it


FINETUNE = {
    "kind": "finetune",
    "dataset": {"name": "cifar100", "train_limit": 100},
    "init_from": {"step": 0},
    "finetune": {"strategy": "freeze"},
    "trainer": {"max_epochs": 1},
    "reuse": "if_identical",
}


def test_a_chain_reuses_its_parent_and_its_finetune_starts_from_it(client, redis_url):
    chain = client.post("/v1/chains", json={"steps": [REUSE, FINETUNE]})
    assert chain.status_code == 201, chain.text
    train, finetune = chain.json()["jobs"]
    assert train["reused"] is False and finetune["status"] == "waiting"
    succeed(train["id"])  # the finetune is queued now; it has not run yet
    redis.Redis.from_url(redis_url).delete("training")

    again = client.post("/v1/chains", json={"steps": [REUSE, FINETUNE]})
    assert again.status_code == 201, again.text  # the finetune of the first chain never succeeded: it trains
    reused, fresh = again.json()["jobs"]
    assert reused["id"] == train["id"] and reused["reused"] is True and reused["reused_from"] == train["id"]
    assert fresh["reused"] is False and fresh["id"] != finetune["id"]
    assert fresh["parent_id"] == train["id"] and fresh["status"] == "queued"  # its parent already succeeded
    assert fresh["spec"]["init_from"]["job_id"] == train["id"]
    assert fingerprint_of(fresh["id"]) == fingerprint_of(finetune["id"])  # same parent job, same spec
    assert redis.Redis.from_url(redis_url).llen("training") == 1

    succeed(fresh["id"])
    third = client.post("/v1/chains", json={"steps": [REUSE, FINETUNE]})
    assert third.status_code == 200, third.text  # every step reused: nothing created
    assert [job["id"] for job in third.json()["jobs"]] == [train["id"], fresh["id"]]
    assert all(job["reused"] for job in third.json()["jobs"])


def test_a_finetune_of_a_new_parent_is_never_identical(client):
    chain = client.post("/v1/chains", json={"steps": [TRAIN, FINETUNE]}).json()["jobs"]
    for job in chain:
        succeed(job["id"])
    # The same chain without reuse on the train step: a new parent, so its finetune cannot match.
    again = client.post("/v1/chains", json={"steps": [TRAIN, FINETUNE]})
    assert again.status_code == 201 and not any(job["reused"] for job in again.json()["jobs"])


def test_an_idempotent_retry_of_a_reuse_replays_its_200(client):
    done = submit(client, TRAIN)
    succeed(done["id"])
    headers = {"Idempotency-Key": "reuse-1"}
    first, second = (client.post("/v1/jobs", json=REUSE, headers=headers) for _ in range(2))
    assert first.status_code == second.status_code == 200 and first.json() == second.json()


def test_a_reuse_adds_no_work_so_a_full_queue_quota_still_answers_it(client):
    done = submit(client, TRAIN)
    succeed(done["id"])
    submit(client, {**TRAIN, "trainer": {"max_epochs": 3}})  # one queued job: the quota below is reached
    quota = client.patch("/v1/projects/default", json={"max_queued": 1}, headers=bearer(make_key("admin")))
    assert quota.status_code == 200, quota.text
    assert client.post("/v1/jobs", json=TRAIN).status_code == 429
    reused = client.post("/v1/jobs", json=REUSE)
    assert reused.status_code == 200 and reused.json()["id"] == done["id"]
