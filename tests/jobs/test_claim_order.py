"""What a free worker claims next, decided in SQL: priority, then age; each job once, even under racing workers."""

import threading

from tests.helpers import TRAIN


def _submit(client, priority: str = "normal") -> str:
    answer = client.post("/v1/jobs", json={**TRAIN, "priority": priority})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _claim_next(owner: str = "w") -> str | None:
    from app.core.db import session_scope
    from app.jobs.claim import claim_next

    with session_scope() as session:
        job = claim_next(session, owner=owner)
        return job.id if job else None


def test_highest_priority_first_then_oldest(client):
    low1, normal, high1, low2, high2 = (_submit(client, p) for p in ("low", "normal", "high", "low", "high"))

    assert [_claim_next() for _ in range(6)] == [high1, high2, normal, low1, low2, None]
    assert client.get(f"/v1/jobs/{high1}").json()["spec"]["priority"] == "high"


def test_a_job_requeued_after_its_worker_was_lost_keeps_its_place(client):
    from app.core.db import session_scope
    from app.jobs import service

    first = _submit(client)
    assert _claim_next("lost-worker") == first
    later = [_submit(client), _submit(client)]
    with session_scope() as session:
        assert service.release_lost_attempt(session, job_id=first, attempt=1, reason="lost", max_attempts=3)

    assert [_claim_next() for _ in range(3)] == [first, *later]


def test_waiting_jobs_are_not_claimed(client):
    chain = client.post("/v1/chains", json={"steps": [TRAIN, {**TRAIN, "init_from": {"step": 0}, "kind": "finetune"}]})
    assert chain.status_code == 201, chain.text
    parent, child = (job["id"] for job in chain.json()["jobs"])

    assert [_claim_next(), _claim_next()] == [parent, None]
    assert client.get(f"/v1/jobs/{child}").json()["status"] == "waiting"


def test_racing_workers_claim_each_job_exactly_once(client):
    submitted = {_submit(client, ("low", "normal", "high")[i % 3]) for i in range(24)}
    claimed: list[str] = []
    barrier = threading.Barrier(6)

    def worker(n: int) -> None:
        barrier.wait()
        while (job_id := _claim_next(f"w{n}")) is not None:
            claimed.append(job_id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(claimed) == sorted(submitted)  # every job once, none twice
    for job_id in submitted:
        assert client.get(f"/v1/jobs/{job_id}").json()["attempt"] == 1


def test_projects_of_equal_priority_share_the_workers(client):
    from tests.helpers import bearer, make_key

    other = bearer(make_key("submit", project="other"))
    crowd = [_submit(client) for _ in range(4)]  # the default project's, all older
    single = client.post("/v1/jobs", json=TRAIN, headers=other).json()["id"]

    # The first claim takes the oldest; then the project running nothing goes before the crowd's older jobs.
    assert [_claim_next() for _ in range(3)] == [crowd[0], single, crowd[1]]


def test_a_project_at_its_running_quota_is_passed_over_not_waited_for(client):
    from tests.helpers import bearer, make_key

    admin, other = bearer(make_key("admin")), bearer(make_key("submit", project="other"))
    assert client.patch("/v1/projects/default", json={"max_running": 1}, headers=admin).status_code == 200
    first, held = _submit(client, "high"), _submit(client, "high")
    later = client.post("/v1/jobs", json=TRAIN, headers=other).json()["id"]

    assert [_claim_next(), _claim_next(), _claim_next()] == [first, later, None]  # held waits for first to end
    assert client.get(f"/v1/jobs/{held}").json()["status"] == "queued"
