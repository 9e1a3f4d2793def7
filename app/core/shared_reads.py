"""Concurrent requests for the same thing share reads: N pollers of one key cost one read in flight, not N.

A request that arrives while a read of its key runs does not take that read's answer (it began before the request
came, so it may miss a change the requester already knows of); it shares the next read, which starts when the
running one ends. Each answer is therefore as fresh as a read of its own, and the waiting happens on the event
loop: a read that hops to a worker thread costs one hop per read, not per request.
"""

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class SharedReads(Generic[K, T]):
    """Awaits `read(key)`, shared between concurrent requests for one key as described above."""

    def __init__(self) -> None:
        # Per key (event-loop state, no lock): the read in progress, and the one that starts when it ends.
        self._running: dict[K, asyncio.Task[T]] = {}
        self._queued: dict[K, asyncio.Task[T]] = {}

    async def read(self, key: K, read: Callable[[K], Awaitable[T]]) -> T:
        task = self._queued.get(key)  # a read that has not started yet: share it
        if task is None:
            ahead = self._running.get(key)  # it may have started before this request came: queue behind it
            task = asyncio.create_task(self._read_after(ahead, key, read))
            task.add_done_callback(_retrieve_error)
            (self._queued if ahead is not None else self._running)[key] = task
        # shield: a request whose client goes away must not cancel the read that others wait for
        return await asyncio.shield(task)

    def in_flight(self) -> int:
        return len(self._running) + len(self._queued)

    def clear(self) -> None:
        self._running.clear()
        self._queued.clear()

    async def _read_after(self, ahead: asyncio.Task[T] | None, key: K, read: Callable[[K], Awaitable[T]]) -> T:
        me = asyncio.current_task()
        assert me is not None
        if ahead is not None:
            await asyncio.wait([ahead])
            del self._queued[key]  # starting: requests from now on queue behind this read
            self._running[key] = me
        try:
            return await read(key)
        finally:
            if self._running.get(key) is me:
                del self._running[key]


def _retrieve_error(task: asyncio.Task) -> None:
    """Mark a failed read's error as seen: every request that awaited it got it; none left is no leak."""
    if not task.cancelled():
        task.exception()
