"""The poll path of GET /v1/jobs/{id}/metrics: an ETag from the curve's revision, and a cache of bodies.

A recorded value never changes (record_epoch inserts ON CONFLICT DO NOTHING), so a job's curve changes exactly
when its status or its number of metric rows does. That pair, one primary-key read of the job row (record_epoch
keeps `jobs.metric_rows` in the transaction that inserts the rows), is the curve's revision: an unchanged poll
costs only that, whatever the curve's length, and many clients polling one job share one serialised body
instead of each re-reading and re-encoding the whole curve.

Polls of the same curve that arrive while its read is running share the next read, which starts after they all
arrived: each answer is as fresh as if the poll had read alone, and N clients polling one job cost at most one
read in flight and one thread hop per read, not per poll (app/core/shared_reads.py; bench/polling.py: the thread
hop and the revision read, not the HTTP work, were what /metrics paid over /healthz).

Polls of many different running jobs share nothing, so each would pay that read (bench/polling.py:
metrics_many_running). While this process follows the job-changed notices (app/jobs/freshness.py), a running
curve that no notice has touched since it was last read is answered from memory, for at most TRUST_S: the age
limit bounds what a lost notice can cost. Not following (Redis away), every poll of a running curve reads its
revision, as before.
"""

import hashlib
import json
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.core.db import get_read_engine
from app.core.lru import LRU
from app.core.shared_reads import SharedReads
from app.jobs.freshness import freshness
from app.jobs.models import Job
from app.jobs.schemas import FINAL_STATUSES
from app.metrics.service import get_series

_REVISION = select(Job.status, Job.metric_rows).where(Job.id == bindparam("job_id"))

Answer = tuple[str, bytes] | None  # (ETag, JSON body), or None: no such job


class Cached(NamedTuple):
    revision: tuple  # (status, metric_rows) when read
    etag: str
    body: bytes
    read_at: tuple[int, float]  # freshness.stamp() before the read that last confirmed it


class CurvePoller:
    """Answers metric polls from a bounded cache, checked against the curve's revision unless known current.

    `poll` runs on the event loop; only the SQL read goes to a worker thread, shared (app/core/shared_reads.py).
    """

    def __init__(self, max_entries: int = 1024) -> None:
        self._cache: LRU[tuple, Cached] = LRU(max_entries)
        self.reads: SharedReads[tuple, Answer] = SharedReads()

    async def poll(self, *, job_id: str, names: str | None, since_epoch: int | None) -> Answer:
        """(ETag, JSON body) of the curve as it is now; None if there is no such job."""
        key = (job_id, names, since_epoch)
        hit = self._cache.get(key)
        # A job in a final status takes no more metrics (record_epoch is fenced to running attempts) and never
        # changes status again: its cached answer cannot go stale, and needs no SQL. Any other is current while no
        # notice says otherwise, up to TRUST_S.
        if hit is not None and (hit.revision[0] in FINAL_STATUSES or freshness.current(job_id, hit.read_at)):
            return hit.etag, hit.body
        return await self.reads.read(key, self._read)

    def _read(self, key: tuple) -> Answer:
        job_id, names, since_epoch = key
        read_at = freshness.stamp()  # before SQL: what the read sees is at least this new
        with get_read_engine().connect() as conn:
            row = conn.execute(_REVISION, {"job_id": job_id}).first()
            if row is None:
                return None
            revision = tuple(row)
            hit = self._cache.get(key)
            if hit is not None and hit.revision == revision:
                self._cache.put(key, hit._replace(read_at=read_at))
                return hit.etag, hit.body
            # On Postgres (AUTOCOMMIT reads) this may see rows newer than `revision`: the body is then ahead of its
            # ETag, and the next poll re-sends it under the newer one. Never behind, so nothing is missed.
            wanted = {name.strip() for name in names.split(",") if name.strip()} if names else None
            series = get_series(Session(bind=conn), job_id=job_id, names=wanted, since_epoch=since_epoch)
        body = json.dumps({"job_id": job_id, "status": row.status, "series": series}, separators=(",", ":")).encode()
        etag = '"' + hashlib.sha256(repr((key, revision)).encode()).hexdigest()[:32] + '"'
        self._cache.put(key, Cached(revision, etag, body, read_at))
        return etag, body

    def clear(self) -> None:
        self._cache.clear()
        self.reads.clear()


curve_poller = CurvePoller()
