"""POST /v1/jobs/{id}/evaluations over HTTP against real SQL: a job of kind evaluate, its 409s, 404s and 422s."""

import pytest
import redis

from tests.helpers import bearer, make_key

CLASSES = ["cats", "dogs"]


def test_an_evaluation_is_a_queued_job_of_the_evaluated_job(client, model_job, upload, redis_url):
    job_id, dataset_id = model_job(CLASSES), upload({"cats": 3, "dogs": 3})
    response = client.post(f"/v1/jobs/{job_id}/evaluations", json={"dataset_id": dataset_id, "top_k": 3})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "queued" and body["job_id"] == job_id and body["dataset_id"] == dataset_id
    assert body["class_map"] == {"cats": "cats", "dogs": "dogs"} and body["top_k"] == 2  # the model has 2 classes
    assert (
        body["result"] is None and body["predictions_url"] is None and body["progress"] == {"epoch": 0, "max_epochs": 1}
    )
    assert any(body["id"] in m.decode() for m in redis.Redis.from_url(redis_url).lrange("training", 0, -1))
    assert client.get(f"/v1/evaluations/{body['id']}").json() == body
    job = client.get(f"/v1/jobs/{body['id']}").json()
    assert job["kind"] == "evaluate" and job["parent_id"] == job_id and job["result"] is None
    listed = client.get("/v1/jobs", params={"kind": "evaluate"}).json()["jobs"]
    assert [j["id"] for j in listed] == [body["id"]]
    assert client.delete(f"/v1/datasets/{dataset_id}").status_code == 409  # the evaluation needs it


def test_a_job_without_a_model_to_run_is_409(client, model_job, upload):
    dataset_id = upload({"cats": 2, "dogs": 2})
    cases = {
        model_job(CLASSES, status=None): "is running: evaluations need a job that has succeeded",
        model_job(CLASSES, status="failed"): "is failed",
        model_job(CLASSES, with_model=False): "has no model artifact",
    }
    for job_id, says in cases.items():
        answer = client.post(f"/v1/jobs/{job_id}/evaluations", json={"dataset_id": dataset_id})
        assert answer.status_code == 409 and says in answer.json()["detail"], answer.text


def test_unknown_and_other_projects_jobs_and_datasets_are_404(client, model_job, upload):
    job_id, dataset_id = model_job(CLASSES), upload({"cats": 2, "dogs": 2})
    other = bearer(make_key("submit", project="other"))
    theirs = upload({"cats": 2, "dogs": 3}, headers=other)
    for path, dataset, headers in (
        ("/v1/jobs/0123/evaluations", dataset_id, {}),
        (f"/v1/jobs/{job_id}/evaluations", dataset_id, other),
        (f"/v1/jobs/{job_id}/evaluations", "0" * 32, {}),
        (f"/v1/jobs/{job_id}/evaluations", theirs, {}),
    ):
        answer = client.post(path, json={"dataset_id": dataset}, headers=headers)
        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"].startswith(("no job", "no dataset"))
    made = client.post(f"/v1/jobs/{job_id}/evaluations", json={"dataset_id": dataset_id}).json()["id"]
    assert client.get(f"/v1/evaluations/{made}", headers=other).status_code == 404
    assert client.get(f"/v1/evaluations/{job_id}").status_code == 404  # a train job is no evaluation


def test_classes_that_differ_are_422_listing_both(client, model_job, upload):
    job_id, dataset_id = model_job(["cat", "dog", "fox"]), upload({"cats": 2, "dogs": 2})
    answer = client.post(f"/v1/jobs/{job_id}/evaluations", json={"dataset_id": dataset_id})
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "dataset_id"]
    assert "['cats', 'dogs']" in error["msg"] and "['cat', 'dog', 'fox']" in error["msg"]


@pytest.mark.parametrize(
    ("class_map", "loc", "says"),
    [
        ({"cats": "cat"}, ["body", "class_map"], "does not map ['dogs']"),
        ({"cats": "cat", "dogs": "wolf"}, ["body", "class_map", "dogs"], "'wolf' is no class of the model"),
        ({"cats": "cat", "dogs": "dog", "owls": "fox"}, ["body", "class_map", "owls"], "'owls' is no class of the"),
    ],
)
def test_a_class_map_must_map_each_dataset_class_to_a_model_class(client, model_job, upload, class_map, loc, says):
    job_id, dataset_id = model_job(["cat", "dog", "fox"]), upload({"cats": 2, "dogs": 2})
    answer = client.post(f"/v1/jobs/{job_id}/evaluations", json={"dataset_id": dataset_id, "class_map": class_map})
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == loc and says in error["msg"] and "['cat', 'dog', 'fox']" in error["msg"], error


def test_a_class_map_is_accepted_and_stored(client, model_job, upload):
    job_id, dataset_id = model_job(["cat", "dog", "fox"]), upload({"cats": 2, "dogs": 2})
    class_map = {"dogs": "dog", "cats": "cat"}
    answer = client.post(f"/v1/jobs/{job_id}/evaluations", json={"dataset_id": dataset_id, "class_map": class_map})
    assert answer.status_code == 201, answer.text
    assert answer.json()["class_map"] == {"cats": "cat", "dogs": "dog"} and answer.json()["top_k"] == 3


@pytest.mark.parametrize(("top_k", "ok"), [(0, False), (1, True), (1000, True), (1001, False)])
def test_top_k_bounds(client, model_job, upload, top_k, ok):
    job_id, dataset_id = model_job(CLASSES), upload({"cats": 2, "dogs": 2})
    answer = client.post(f"/v1/jobs/{job_id}/evaluations", json={"dataset_id": dataset_id, "top_k": top_k})
    assert answer.status_code == (201 if ok else 422), answer.text
    if not ok:
        assert answer.json()["detail"][0]["loc"] == ["body", "top_k"]
