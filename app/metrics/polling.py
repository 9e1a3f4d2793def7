"""The poll path of GET /v1/jobs/{id}/metrics: an ETag from the curve's revision, and a cache of bodies.

A recorded value never changes (record_epoch inserts ON CONFLICT DO NOTHING), so a job's curve changes exactly
when its status or its number of metric rows does. That pair, one statement by primary key with an index-only
count, is the curve's revision: an unchanged poll costs only that, and many clients polling one job share one
serialised body instead of each re-reading and re-encoding the whole curve.
"""

import hashlib
import json
import threading
from collections import OrderedDict

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from app.core.db import get_read_engine
from app.jobs.models import Job
from app.metrics.models import Metric
from app.metrics.service import get_series

_ROWS = select(func.count()).where(Metric.job_id == Job.id).correlate(Job).scalar_subquery()
_REVISION = select(Job.status, _ROWS).where(Job.id == bindparam("job_id"))


class CurvePoller:
    """Answers metric polls from a bounded cache that is checked against the curve's revision every time."""

    def __init__(self, max_entries: int = 1024) -> None:
        self._cache: OrderedDict[tuple, tuple[tuple, str, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def poll(self, *, job_id: str, names: str | None, since_epoch: int | None) -> tuple[str, bytes] | None:
        """(ETag, JSON body) of the curve as it is now; None if there is no such job."""
        key = (job_id, names, since_epoch)
        with get_read_engine().connect() as conn:
            row = conn.execute(_REVISION, {"job_id": job_id}).first()
            if row is None:
                return None
            revision = tuple(row)
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None and hit[0] == revision:
                    self._cache.move_to_end(key)
                    return hit[1], hit[2]
            wanted = {name.strip() for name in names.split(",") if name.strip()} if names else None
            series = get_series(Session(bind=conn), job_id=job_id, names=wanted, since_epoch=since_epoch)
        body = json.dumps({"job_id": job_id, "status": row.status, "series": series}, separators=(",", ":")).encode()
        etag = '"' + hashlib.sha256(repr((key, revision)).encode()).hexdigest()[:32] + '"'
        with self._lock:
            self._cache[key] = (revision, etag, body)
            self._cache.move_to_end(key)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        return etag, body

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


curve_poller = CurvePoller()
