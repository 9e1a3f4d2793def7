"""The poll path of GET /v1/jobs/{id}/metrics: an ETag from the curve's revision, and a cache of bodies.

A recorded value never changes (record_epoch inserts ON CONFLICT DO NOTHING), so a job's curve changes exactly
when its status or its number of metric rows does. That pair, one primary-key read of the job row (record_epoch
keeps `jobs.metric_rows` in the transaction that inserts the rows), is the curve's revision: a poll that must ask
SQL costs only that when the curve is unchanged, whatever its length, and many clients polling one job share one
serialised body instead of each re-reading and re-encoding the whole curve.

Curves are FreshCache answers (app/jobs/fresh_cache.py): polls of one curve share reads, so N clients polling one
job cost at most one read in flight and one thread hop per read, not per poll (bench/polling.py: the thread hop
and the revision read, not the HTTP work, are what /metrics pays over /healthz). A finished curve, or a running
one that no job-changed notice has touched since it was last read (for at most TRUST_S, app/jobs/freshness.py),
is answered from memory; while this process does not follow the notices (Redis away), every poll of a running
curve reads its revision (bench/polling.py: metrics_many_running).
"""

import json
from operator import itemgetter

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.jobs.fresh_cache import Entry, FreshCache, etag_of
from app.jobs.models import Job
from app.jobs.status import FINAL
from app.metrics.service import get_series

_REVISION = select(Job.status, Job.metric_rows).where(Job.id == bindparam("job_id"))

CurveKey = tuple[str, str | None, int | None]  # (job_id, names, since_epoch) as the poll gave them


def _load_curve(session: Session, key: CurveKey, cached: Entry | None) -> Entry | None:
    job_id, names, since_epoch = key
    row = session.execute(_REVISION, {"job_id": job_id}).first()
    if row is None:
        return None
    revision = tuple(row)
    if cached is not None and cached.revision == revision:
        return cached
    # On Postgres (AUTOCOMMIT reads) this may see rows newer than `revision`: the body is then ahead of its ETag,
    # and the next poll re-sends it under the newer one. Never behind, so nothing is missed.
    wanted = {name.strip() for name in names.split(",") if name.strip()} if names else None
    series = get_series(session, job_id=job_id, names=wanted, since_epoch=since_epoch)
    body = json.dumps({"job_id": job_id, "status": row.status, "series": series}, separators=(",", ":")).encode()
    # A final job takes no more metrics (record_epoch is fenced to running attempts) and never changes status.
    return Entry(etag_of(repr((key, revision)).encode()), body, final=row.status in FINAL, revision=revision)


curve_poller: FreshCache[CurveKey] = FreshCache(_load_curve, job_id_of=itemgetter(0), max_entries=1024)
