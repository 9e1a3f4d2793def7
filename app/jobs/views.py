"""GET /v1/jobs/{id} from memory: a job's view is read from SQL again only when it may have changed.

Every field of the view changes only in a commit that marks the job changed (app/jobs/changes.py), and none once
the job is final. A cached view is therefore current while the job is final or `freshness` knows of no change, and
a status poll then costs no SQL and no thread hop (bench/polling.py: job, job_many_running; reading the row each
time, status polls got 0.1 of /healthz).
"""

import hashlib
from typing import NamedTuple

from sqlalchemy.orm import Session

from app.core.db import get_read_engine
from app.core.lru import LRU
from app.core.shared_reads import SharedReads
from app.jobs.freshness import freshness
from app.jobs.models import Job
from app.jobs.schemas import FINAL_STATUSES, job_out


class View(NamedTuple):
    etag: str
    body: bytes  # the JobOut as JSON
    final: bool
    read_at: tuple[int, float]  # freshness.stamp() before the read


class JobViews:
    """A bounded cache of job views (ETag, JSON body), re-read when not known current."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._cache: LRU[str, View] = LRU(max_entries)
        self._reads: SharedReads[str, tuple[str, bytes] | None] = SharedReads()  # polls of one job share a read

    async def get(self, job_id: str) -> tuple[str, bytes] | None:
        """(ETag, JSON body) of the job as it is now; None if there is no such job."""
        hit = self._cache.get(job_id)
        if hit is not None and (hit.final or freshness.current(job_id, hit.read_at)):
            return hit.etag, hit.body
        return await self._reads.read(job_id, self._read)

    def _read(self, job_id: str) -> tuple[str, bytes] | None:
        read_at = freshness.stamp()  # before SQL: what the read sees is at least this new
        with Session(get_read_engine()) as session:
            job = session.get(Job, job_id)
            if job is None:
                return None
            body = job_out(job).model_dump_json().encode()
            final = job.status in FINAL_STATUSES
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        self._cache.put(job_id, View(etag, body, final, read_at))
        return etag, body

    def clear(self) -> None:
        self._cache.clear()
        self._reads.clear()


job_views = JobViews()
