"""Process trees through /proc (Linux): find what runs below a process, stop it, and make children die with us."""

import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path


def process_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, start time) of every process, from /proc (empty elsewhere)."""
    table = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()  # the name may hold spaces and ")"
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(fields[1]), fields[0], fields[19])
    return table


def start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), which tells it from a later process given the same pid."""
    entry = process_table().get(pid)
    return entry[2] if entry else None


def is_running(pid: int, started: str) -> bool:
    """Whether the process seen with this start time still runs (a zombie has exited)."""
    entry = process_table().get(pid)
    return entry is not None and entry[2] == started and entry[1] != "Z"


def descendants(pid: int) -> dict[int, str]:
    """Every process below pid (children that left its process group included), with its start time."""
    table = process_table()
    children: dict[int, list[int]] = {}
    for child, (parent, _state, _started) in table.items():
        children.setdefault(parent, []).append(child)
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = table[child][2]
            todo.append(child)
    return found


def send(pid: int, sig: int, *, group: bool) -> None:
    """Signal a process (or its whole process group); one that is gone already is no error."""
    try:
        os.killpg(pid, sig) if group else os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_if_same(processes: dict[int, str]) -> None:
    """SIGKILL each process that still runs; the start time tells a reused pid from the process seen before."""
    table = process_table()
    for pid, started in processes.items():
        if pid in table and table[pid][2] == started:
            send(pid, signal.SIGKILL, group=False)


def stop_tree(pid: int, started: str, *, timeout_s: float, hurry: Callable[[], bool] = lambda: False) -> bool:
    """SIGTERM the process group led by pid, wait up to timeout_s, then SIGKILL it and all below; whether it
    stopped in time. The caller reaps it if it is its child."""
    below = descendants(pid)  # before it exits: orphans are re-parented and hard to find
    in_time = True
    if is_running(pid, started):
        send(pid, signal.SIGTERM, group=True)
        send(pid, signal.SIGCONT, group=True)  # a stopped process acts on SIGTERM only once it runs again
        deadline = time.monotonic() + timeout_s
        while is_running(pid, started) and time.monotonic() < deadline and not hurry():
            time.sleep(0.1)
        below |= descendants(pid)
        in_time = not is_running(pid, started)
    # Anything still alive below it (a training process in its own session, say) goes too.
    kill_if_same(below)
    if is_running(pid, started):
        send(pid, signal.SIGKILL, group=False)
    send(pid, signal.SIGKILL, group=True)  # stragglers left in its group
    return in_time


def die_with_parent() -> None:
    """In a child, before exec: get SIGTERM when the process that started it dies, so nothing outlives it."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
