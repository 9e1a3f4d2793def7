"""Cancelling is idempotent, and a cancelled job's record is the same whenever it was cancelled (SQLite and Postgres).

The running job goes through the worker's own outcome recording (worker.tasks._record_outcome), fed the outcome
file the training process writes when it stops for a cancel, or none when it was killed.
"""

import pytest

TRAIN = {"kind": "train", "dataset": {"name": "cifar10"}, "trainer": {"max_epochs": 2}}


def _claimed_job(client) -> str:
    from app.core.db import session_scope
    from app.jobs import service

    job_id = client.post("/v1/jobs", json=TRAIN).json()["id"]
    with session_scope() as session:
        assert service.claim(session, job_id=job_id, owner="test-worker").attempt == 1
    return job_id


def _cancel_three_times(client, job_id: str) -> dict:
    answers = [client.post(f"/v1/jobs/{job_id}/cancel") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [202, 202, 202], answers[-1].text
    assert answers[0].json() == answers[1].json() == answers[2].json()
    return answers[0].json()


def _attempt_ends(job_id: str, *, outcome: str | None, returncode: int = 0) -> None:
    """What the supervisor does when the training process exits: record its outcome file, or its loss."""
    from app.core.config import get_settings
    from app.jobs.status import JobStatus
    from worker.run_attempt import outcome_path, write_outcome
    from worker.tasks import _record_outcome

    settings = get_settings()
    work_dir = settings.effective_artifact_dir / job_id
    work_dir.mkdir(parents=True, exist_ok=True)
    if outcome is not None:
        write_outcome(outcome_path(work_dir, 1), JobStatus(outcome))
    _record_outcome(job_id=job_id, attempt=1, returncode=returncode, settings=settings)


def test_a_queued_job_cancelled_again_answers_the_same(client):
    job_id = client.post("/v1/jobs", json=TRAIN).json()["id"]
    job = _cancel_three_times(client, job_id)
    assert job["status"] == "cancelled" and job["finished_at"] is not None
    assert job["error"] == {"type": "cancelled", "message": "cancelled before it started"}
    assert client.get(f"/v1/jobs/{job_id}").json() == job


def test_a_running_job_cancelled_again_answers_the_same_before_and_after_it_stops(client):
    from tests.jobs_by_hand import record_by_hand

    job_id = _claimed_job(client)
    assert record_by_hand(job_id, 0)
    assert _cancel_three_times(client, job_id)["status"] == "cancelling"
    _attempt_ends(job_id, outcome="cancelled")  # the training process stopped within a batch
    job = _cancel_three_times(client, job_id)
    assert job["status"] == "cancelled" and job["finished_at"] is not None
    assert job["error"] == {"type": "cancelled", "message": "cancelled while running, after 1 of 2 epochs"}
    assert client.get(f"/v1/jobs/{job_id}").json() == job


def test_a_cancelled_record_has_one_shape_however_the_job_was_cancelled(client):
    before = client.post("/v1/jobs", json=TRAIN).json()["id"]
    client.post(f"/v1/jobs/{before}/cancel")
    stopped, killed = _claimed_job(client), _claimed_job(client)
    for job_id in (stopped, killed):
        assert client.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "cancelling"
    _attempt_ends(stopped, outcome="cancelled")
    _attempt_ends(killed, outcome=None, returncode=-9)  # killed while it was being cancelled: no outcome file
    jobs = [client.get(f"/v1/jobs/{job_id}").json() for job_id in (before, stopped, killed)]
    assert [job["status"] for job in jobs] == ["cancelled"] * 3
    assert [job["error"]["type"] for job in jobs] == ["cancelled"] * 3
    assert [job["error"]["message"].split(",")[0] for job in jobs] == [
        "cancelled before it started",
        "cancelled while running",
        "cancelled while running",
    ]
    assert "killed by SIGKILL" in jobs[2]["error"]["message"]
    assert all(job["finished_at"] is not None for job in jobs)


@pytest.mark.parametrize("final", ["succeeded", "failed"])
def test_a_job_that_succeeded_or_failed_cannot_be_cancelled(client, final):
    job_id = _claimed_job(client)
    _attempt_ends(job_id, outcome=final)
    for _ in range(2):
        refused = client.post(f"/v1/jobs/{job_id}/cancel")
        assert refused.status_code == 409 and refused.json() == {"detail": f"job {job_id} is already {final}"}
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == final
