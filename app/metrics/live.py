"""The live channel: one Redis stream per job carrying epoch, progress and end events.

SQL holds the durable record; the stream wakes readers up and carries within-epoch progress,
so Redis losing or trimming entries costs latency, never an epoch.
"""

import json
from typing import Any

import redis

STREAM_MAXLEN = 1000  # progress events arrive every few seconds; readers fall back to SQL for epochs
STREAM_TTL_S = 7 * 24 * 3600  # a finished job's stream is only a convenience; SQL keeps the record


def stream_key(job_id: str) -> str:
    return f"flashjobs:job:{job_id}:events"


def publish(client: redis.Redis, *, job_id: str, event: str, payload: dict[str, Any]) -> None:
    """Append one event (epoch, progress or end) to the job's stream."""
    key = stream_key(job_id)
    pipe = client.pipeline(transaction=False)
    pipe.xadd(key, {"event": event, "data": json.dumps(payload)}, maxlen=STREAM_MAXLEN, approximate=True)
    pipe.expire(key, STREAM_TTL_S)
    pipe.execute()
