"""Answers about a job kept in memory and read from SQL again only when they may have changed.

Job views (app/jobs/views.py) and metric curves (app/metrics/polling.py) are such answers: an ETag and a JSON body,
built by a loader from one read session. A cached answer is current while its job is final (nothing changes a
final job) or while `freshness` knows of no change to its job since the read that made or confirmed it (every
change to what the answers show is announced, app/jobs/changes.py); such a poll costs no SQL and no thread hop.
Otherwise the answer is read again in one thread hop, and concurrent requests for one key share that read
(app/core/shared_reads.py).
"""

import hashlib
from collections.abc import Callable, Hashable
from typing import Generic, NamedTuple, TypeVar

import anyio
from sqlalchemy.orm import Session

from app.core.db import read_in_thread
from app.core.lru import LRU
from app.core.shared_reads import SharedReads
from app.jobs.freshness import freshness

K = TypeVar("K", bound=Hashable)

Answer = tuple[str, bytes] | None  # (ETag, JSON body), or None: no such job


class Entry(NamedTuple):
    """What a loader builds: the answer, and what decides whether it can go stale."""

    etag: str
    body: bytes
    final: bool  # the job was in a final status when read: this answer never changes
    revision: Hashable = None  # lets a loader confirm a cached entry without rebuilding it


class _Cached(NamedTuple):
    entry: Entry
    read_at: tuple[int, float]  # freshness.stamp() before the read that made or last confirmed the entry


# (session, key, the cached entry or None) -> the entry as SQL holds it now (the cached one if unchanged), or None.
Loader = Callable[[Session, K, Entry | None], Entry | None]


def etag_of(data: bytes) -> str:
    """A strong ETag naming `data` (a body, or what identifies one)."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


class FreshCache(Generic[K]):
    """A bounded cache of answers keyed by K, each about the job `job_id_of(key)`, re-read when not known current."""

    def __init__(
        self, load: Loader[K], *, job_id_of: Callable[[K], str], max_entries: int, max_threads: int = 8
    ) -> None:
        self._load = load
        self._job_id_of = job_id_of
        self._cache: LRU[K, _Cached] = LRU(max_entries)
        # `get` runs on the event loop; only reads take worker threads, at most max_threads at once: 8 keeps polls
        # of many different keys from taking the threadpool's 40 threads (and the 20 pooled connections) from the
        # other routes, and metric-poll throughput is the same at 2, 4, 8 and 40 (bench/polling.py).
        self._threads = anyio.CapacityLimiter(max_threads)
        self.reads: SharedReads[K, Answer] = SharedReads()

    async def get(self, key: K) -> Answer:
        """(ETag, JSON body) as SQL holds it now; None if there is no such job."""
        hit = self._cache.get(key)
        if hit is not None and (hit.entry.final or freshness.current(self._job_id_of(key), hit.read_at)):
            return hit.entry.etag, hit.entry.body
        return await self.reads.read(key, self._read_in_thread)

    async def _read_in_thread(self, key: K) -> Answer:
        return await read_in_thread(self._read, key, limiter=self._threads)

    def _read(self, session: Session, key: K) -> Answer:
        read_at = freshness.stamp()  # before SQL: what the read sees is at least this new
        hit = self._cache.get(key)
        entry = self._load(session, key, hit.entry if hit is not None else None)
        if entry is None:
            return None
        self._cache.put(key, _Cached(entry, read_at))
        return entry.etag, entry.body

    def clear(self) -> None:
        self._cache.clear()
        self.reads.clear()
