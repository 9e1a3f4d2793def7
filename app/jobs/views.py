"""GET /v1/jobs/{id} from memory: a job's view is read from SQL again only when it may have changed.

Every field of the view changes only in a commit that marks the job changed (app/jobs/changes.py), and none once
the job is final, so the view is a FreshCache answer (app/jobs/fresh_cache.py): a status poll of a job known
unchanged costs no SQL and no thread hop (bench/polling.py: job, job_many_running; reading the row on every poll
gives status polls 0.1 of /healthz).
"""

from sqlalchemy.orm import Session

from app.jobs.fresh_cache import Entry, FreshCache, etag_of
from app.jobs.models import Job
from app.jobs.schemas import job_out
from app.jobs.status import FINAL


def _load_view(session: Session, job_id: str, _cached: Entry | None) -> Entry | None:
    job = session.get(Job, job_id)
    if job is None:
        return None
    body = job_out(job).model_dump_json().encode()
    return Entry(etag_of(body), body, final=job.status in FINAL)


job_views: FreshCache[str] = FreshCache(_load_view, job_id_of=lambda job_id: job_id, max_entries=4096)
