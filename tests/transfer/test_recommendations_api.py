"""POST /v1/recommendations over HTTP against real SQL: a job of kind recommend, its candidates, its 422s and 404s."""

import pytest
import redis

from tests.datasets.archives import class_tree, zip_bytes
from tests.helpers import TRAIN
from tests.jobs_by_hand import finish_job


@pytest.fixture(autouse=True)
def _empty_queue(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).delete("training")


@pytest.fixture
def dataset_id(client) -> str:
    body = zip_bytes(class_tree({"cats": 4, "dogs": 4}))
    answer = client.post("/v1/datasets", content=body, headers={"Content-Type": "application/zip"})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _succeeded_job(client) -> str:
    from app.core.db import session_scope
    from app.jobs import service

    job_id = client.post("/v1/jobs", json=TRAIN).json()["id"]
    with session_scope() as session:
        service.claim(session, job_id=job_id, owner="test-worker")
    finish_job(job_id)
    return job_id


def test_a_recommendation_is_a_queued_job_that_ranks_the_newest_succeeded_backbones(client, dataset_id, redis_url):
    older, newer = _succeeded_job(client), _succeeded_job(client)
    client.post("/v1/jobs", json=TRAIN)  # queued: no backbone yet, not a candidate
    response = client.post("/v1/recommendations", json={"dataset_id": dataset_id, "sample_size": 50})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "queued" and body["ranking"] is None and body["error"] is None
    assert body["job_ids"] == [newer, older] and body["dataset_id"] == dataset_id and body["sample_size"] == 50
    assert any(body["id"] in m.decode() for m in redis.Redis.from_url(redis_url).lrange("training", 0, -1))
    assert client.get(f"/v1/recommendations/{body['id']}").json() == body
    job = client.get(f"/v1/jobs/{body['id']}").json()
    assert job["kind"] == "recommend" and job["spec"]["dataset"] == {
        "id": dataset_id,
        "image_size": 20,
    }  # the shorter side
    listed = client.get("/v1/jobs", params={"kind": "recommend"}).json()["jobs"]
    assert [j["id"] for j in listed] == [body["id"]]


def test_named_candidates_must_be_succeeded_train_or_finetune_jobs(client, dataset_id):
    done = _succeeded_job(client)
    queued = client.post("/v1/jobs", json=TRAIN).json()["id"]
    ok = client.post("/v1/recommendations", json={"dataset_id": dataset_id, "job_ids": [done, done]})
    assert ok.status_code == 201 and ok.json()["job_ids"] == [done]
    for job_ids, says in (([done, queued], "has no backbone yet"), ([done, "nope"], "no train or finetune job")):
        answer = client.post("/v1/recommendations", json={"dataset_id": dataset_id, "job_ids": job_ids})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", "job_ids", 1] and says in answer.json()["detail"][0]["msg"]
    recommendation = ok.json()["id"]
    as_parent = {**TRAIN, "kind": "finetune", "init_from": {"job_id": recommendation}}
    refused = client.post("/v1/jobs", json=as_parent)
    assert refused.status_code == 422 and "trains no backbone" in refused.json()["detail"][0]["msg"]
    again = client.post("/v1/recommendations", json={"dataset_id": dataset_id, "job_ids": [recommendation]})
    assert again.status_code == 422 and "no train or finetune job" in again.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("body", "loc", "says"),
    [
        ({"dataset_id": "0" * 32}, ["body", "dataset_id"], "no dataset"),
        ({"dataset_id": "x", "sample_size": 10**6}, ["body", "sample_size"], "FLASHJOBS_RECOMMEND_MAX_SAMPLE"),
        ({"dataset_id": "x", "sample_size": 1}, ["body", "sample_size"], "greater than or equal to 2"),
        ({"dataset_id": "x", "job_ids": [], "include_random": False}, ["body", "job_ids"], "no succeeded job"),
        ({}, ["body", "dataset_id"], "Field required"),
    ],
)
def test_bad_recommendations_are_422_naming_the_field(client, dataset_id, body, loc, says):
    body = {**body, "dataset_id": dataset_id} if body.get("dataset_id") == "x" else body
    answer = client.post("/v1/recommendations", json=body)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"][0]
    assert detail["loc"] == loc and says in detail["msg"], detail


def test_an_unknown_recommendation_or_a_training_job_id_is_404(client):
    assert client.get("/v1/recommendations/nope").status_code == 404
    train = client.post("/v1/jobs", json=TRAIN).json()["id"]
    assert client.get(f"/v1/recommendations/{train}").status_code == 404
