"""Per-project quotas, set by an admin: queued jobs (429 + Retry-After), dataset bytes (413), running jobs (a claim
at the limit leaves the job queued; the slot freeing offers it again)."""

from tests.datasets.archives import class_tree, zip_bytes
from tests.helpers import TRAIN, bearer, make_key


def _set(client, project: str, **quotas):
    answer = client.patch(f"/v1/projects/{project}", json=quotas, headers=bearer(make_key("admin")))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_past_max_queued_a_submission_is_429_naming_the_quota_until_it_is_raised(client):
    assert _set(client, "default", max_queued=2)["max_queued"] == 2
    assert [client.post("/v1/jobs", json=TRAIN).status_code for _ in range(2)] == [201, 201]
    refused = client.post("/v1/jobs", json=TRAIN)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "max_queued" in refused.json()["detail"] and "2" in refused.json()["detail"]
    chain = client.post("/v1/chains", json={"steps": [TRAIN]})
    assert chain.status_code == 429  # a chain counts all its steps
    other = bearer(make_key("submit", project="other"))
    assert client.post("/v1/jobs", json=TRAIN, headers=other).status_code == 201  # another project's room
    _set(client, "default", max_queued=None)
    assert client.post("/v1/jobs", json=TRAIN).status_code == 201


def test_past_max_dataset_bytes_an_upload_is_413_naming_the_quota(client):
    first = zip_bytes(class_tree({"cats": 2, "dogs": 2}, seed=1))
    second = zip_bytes(class_tree({"cats": 2, "dogs": 2}, seed=2))
    _set(client, "default", max_dataset_bytes=len(first) + len(second) - 1)
    zip_type = {"Content-Type": "application/zip"}
    assert client.post("/v1/datasets", content=first, headers=zip_type).status_code == 201
    assert client.post("/v1/datasets", content=first, headers=zip_type).status_code == 200  # the same: no new bytes
    refused = client.post("/v1/datasets", content=second, headers=zip_type)
    assert refused.status_code == 413 and "max_dataset_bytes" in refused.json()["detail"]
    _set(client, "default", max_dataset_bytes=None)
    assert client.post("/v1/datasets", content=second, headers=zip_type).status_code == 201


def test_a_claim_at_max_running_leaves_the_job_queued_and_a_finish_offers_it_again(client):
    from app.core.db import session_scope
    from app.jobs import service

    _set(client, "default", max_running=1)
    first, second = (client.post("/v1/jobs", json=TRAIN).json()["id"] for _ in range(2))
    other = client.post("/v1/jobs", json=TRAIN, headers=bearer(make_key("submit", project="other"))).json()["id"]
    with session_scope() as session:
        assert service.claim(session, job_id=first, owner="w1") is not None
    with session_scope() as session:
        assert service.claim(session, job_id=second, owner="w2") is None  # the project is at its limit
    with session_scope() as session:
        assert service.claim(session, job_id=other, owner="w3") is not None  # another project is not
    assert client.get(f"/v1/jobs/{second}").json()["status"] == "queued"
    with session_scope() as session:
        offered = service.finish(session, job_id=first, attempt=1, status="succeeded")
    assert second in offered
    with session_scope() as session:
        assert service.claim(session, job_id=second, owner="w2") is not None
