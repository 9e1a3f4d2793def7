"""The lock of a state dir: an exclusive flock on state_dir/stack.lock while a stack runs, and its record.

The record (JSON in the lock file) says where the stack serves and which children it runs, each with its pid
and start time. A stack that stops empties it; one killed outright leaves it, so the next one can find and stop
what it left behind.
"""

import fcntl
import json
import os
from pathlib import Path

LOCK_FILE = "stack.lock"


class StackLock:
    """An exclusive flock on state_dir/stack.lock, held while a stack runs; its content describes that stack."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # os.open makes a non-inheritable descriptor: no child keeps the lock after this process is gone.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def left_behind(self) -> dict:
        """With the lock held: the record of a stack that was killed without stopping ({} if it stopped)."""
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def describe(self, info: dict) -> None:
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(info).encode(), 0)

    def release(self, *, clear: bool = True) -> None:
        """Give the lock up; clear=False keeps the record (a look at a free lock must not erase what it says)."""
        if self._fd is not None:
            if clear:
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def running_stack(state_dir: Path) -> dict | None:
    """What the stack running on state_dir says about itself ({} while it starts), or None if none runs."""
    lock = StackLock(state_dir)
    if not lock.path.exists():
        return None
    if lock.acquire():
        lock.release(clear=False)
        return None
    try:
        return json.loads(lock.path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
