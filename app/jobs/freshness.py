"""What an API process may answer from memory: which jobs changed since a given moment, from the job-changed notices
(app/jobs/changes.py). The answer cache (app/jobs/fresh_cache.py) of job views and metric curves uses it.
"""

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from contextlib import suppress

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.jobs import changes

log = logging.getLogger(__name__)

# The longest an answer about a running job is served from memory without asking SQL. Notices make the normal case
# immediate; this bounds the rare one (a writer that crashed between its commit and its notice). At 1 s, 1,000
# running jobs under constant polling cost at most 1,000 reads a second in all, not one per poll.
TRUST_S = 1.0
RESUBSCRIBE_AFTER_S = 1.0
WAIT_S = 0.5  # the longest one wait for a notice lasts before `stop` is checked again


class Freshness:
    """Notice stamps per job, and whether notices flow now. Thread-safe.

    Moments are stamps of a counter that every notice (and every (re)subscription) advances. A read takes a stamp
    before it asks SQL; its answer is known current while no notice for its job came after that stamp, and the
    subscription that would have brought one was already live when the stamp was taken.
    """

    def __init__(self, max_jobs: int = 65536) -> None:
        self._lock = threading.Lock()
        self._now = 0
        self._changed_at: OrderedDict[str, int] = OrderedDict()  # job id -> stamp of its latest notice, oldest first
        self._forgotten_up_to = 0  # jobs dropped from _changed_at (memory bound) count as changed at this stamp
        self._live_since: int | None = None  # None: not subscribed, notices may be missed, nothing is known
        self._max_jobs = max_jobs

    @property
    def subscribed_now(self) -> bool:
        return self._live_since is not None

    def stamp(self) -> tuple[int, float]:
        """Take before a read from SQL; the read then sees every change announced up to it."""
        return self._now, time.monotonic()

    def current(self, job_id: str, stamp: tuple[int, float]) -> bool:
        """Whether what was read after `stamp` is still what SQL holds: no notice for the job came since, the
        subscription was live all along, and it is younger than TRUST_S."""
        moment, taken_s = stamp
        if time.monotonic() - taken_s >= TRUST_S:
            return False
        with self._lock:
            if self._live_since is None or moment < self._live_since:
                return False
            return self._changed_at.get(job_id, self._forgotten_up_to) <= moment

    def changed(self, job_ids: Iterable[str]) -> None:
        with self._lock:
            self._now += 1
            for job_id in job_ids:
                self._changed_at[job_id] = self._now
                self._changed_at.move_to_end(job_id)
            while len(self._changed_at) > self._max_jobs:
                _, self._forgotten_up_to = self._changed_at.popitem(last=False)

    def subscribed(self) -> None:
        """Notices flow from now on (what came before is unknown: earlier stamps are no longer trusted)."""
        with self._lock:
            self._now += 1
            self._live_since = self._now

    def unsubscribed(self) -> None:
        with self._lock:
            self._live_since = None

    async def follow(self, client: aioredis.Redis, stop: asyncio.Event) -> None:
        """Subscribe to the job-changed notices until `stop` is set, resubscribing after Redis goes away; this
        process's own commits are noted directly.

        Stop by setting `stop` (and cancelling, to be quick): on Python 3.11 a cancellation that lands while redis-py
        connects and subscribes can be swallowed (the task goes on listening and the app's shutdown hangs), so the
        loop also checks `stop` at least every WAIT_S instead of relying on cancellation alone.
        """
        stop_listening = changes.listen_in_process(self.changed)
        try:
            while not stop.is_set():
                try:
                    async with client.pubsub() as pubsub:
                        await pubsub.subscribe(changes.CHANNEL)
                        while not stop.is_set():
                            message = await pubsub.get_message(timeout=WAIT_S)
                            if message is None:
                                continue
                            if message["type"] == "subscribe":  # also after redis-py reconnects by itself
                                self.subscribed()
                            elif message["type"] == "message":
                                self.changed(changes.parse(message["data"]))
                except (RedisError, OSError) as error:
                    log.warning("job-changed notices interrupted (%s); polls read SQL until resubscribed", error)
                finally:
                    self.unsubscribed()
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RESUBSCRIBE_AFTER_S)
        finally:
            stop_listening()


freshness = Freshness()
