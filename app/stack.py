"""`flashjobs up`: the bundled Redis, the API and one Celery worker as child processes, stopped in order.

Children other than Redis run in sessions of their own, so a Ctrl-C in the terminal reaches only this process,
which then stops them in the order that loses nothing: the worker first (its running job checkpoints and goes
back to the queue), then the API, then Redis. A flock on state_dir/stack.lock keeps a second stack off the
same state directory; the lock file says where the running one serves.
"""

import ctypes
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from app.core.config import Settings

CELERY_APP = "worker.celery_app:celery_app"
LOCK_FILE = "stack.lock"
READY_TIMEOUT_S = 120.0
# How long each child may take to stop after SIGTERM before it gets SIGKILL. The worker's running job
# finishes its batch and writes a checkpoint first; on a CPU a batch can take seconds.
STOP_TIMEOUT_S = {"worker": 120.0, "api": 15.0, "redis": 15.0}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

Say = Callable[[str], None]


def api_argv(host: str, port: int) -> list[str]:
    """The API server's command line."""
    # A short graceful timeout: open SSE streams would otherwise hold a shutdown until clients leave.
    return [sys.executable, "-m", "uvicorn", "app.main:app", "--host", host, "--port", str(port),
            "--timeout-graceful-shutdown", "5"]


def worker_argv(hostname: str = "flashjobs@%h", loglevel: str = "info") -> list[str]:
    """A Celery worker for one GPU: one job at a time, run by the task's own supervised child process."""
    from worker.celery_app import TRAINING_QUEUE  # here: importing it builds the Celery app

    # solo pool: the task supervises a training process itself, so the pool needs no processes of its own.
    # No gossip or mingle: workers coordinate through SQL, and mingle only delays start-up.
    return [sys.executable, "-m", "celery", "-A", CELERY_APP, "worker", "-Q", TRAINING_QUEUE, "--pool", "solo",
            "--concurrency", "1", "-n", hostname, "--loglevel", loglevel, "--without-gossip", "--without-mingle"]


def local_url(host: str, port: int) -> str:
    """The URL a local client uses for a server bound to host:port."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


def host_and_port(api_url: str) -> tuple[str, int]:
    """Where to listen so that clients using api_url find the server."""
    parts = urlsplit(api_url)
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)


def is_local(api_url: str) -> bool:
    return (urlsplit(api_url).hostname or "") in ("127.0.0.1", "localhost", "::1")


def answers(url: str, path: str = "/healthz", timeout_s: float = 1.0) -> bool:
    """Whether a server answers 200 at url + path."""
    try:
        return httpx.get(url.rstrip("/") + path, timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


# ------------------------------------------------------------------ the lock


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

    def describe(self, info: dict) -> None:
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(info).encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def running_stack(state_dir: Path) -> dict | None:
    """What the stack running on state_dir says about itself ({} while it starts), or None if none runs."""
    lock = StackLock(state_dir)
    if not lock.path.exists():
        return None
    if lock.acquire():
        lock.release()
        return None
    try:
        return json.loads(lock.path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


# ------------------------------------------------------------------ processes


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, start time) of every process, from /proc (Linux; empty elsewhere)."""
    table = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()  # the name may hold spaces and ")"
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(fields[1]), fields[19])
    return table


def _descendants(pid: int) -> dict[int, str]:
    """Every process below pid (children that left its process group included), with its start time."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for child, (parent, _started) in table.items():
        children.setdefault(parent, []).append(child)
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = table[child][1]
            todo.append(child)
    return found


def _kill_if_same(processes: dict[int, str]) -> None:
    """SIGKILL each process that still runs; the start time tells a reused pid from the process seen before."""
    table = _processes()
    for pid, started in processes.items():
        if pid in table and table[pid][1] == started:
            _kill(pid, signal.SIGKILL, group=False)


def _kill(pid: int, sig: int, *, group: bool) -> None:
    try:
        os.killpg(pid, sig) if group else os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _die_with_parent() -> None:
    """In a child, before exec: get SIGTERM if `up` itself is killed, so no worker outlives its stack."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _redis_left_from(data_dir: Path) -> list[int]:
    """redis-server processes serving data_dir: left over from a stack that was killed without stopping."""
    wanted = str(data_dir.resolve()).encode()
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"redis-server") and wanted in argv:
            pids.append(int(entry.name))
    return pids


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    own_group: bool  # started in its own session: signal its whole process group


@dataclass
class Stack:
    """The processes of one embedded stack, started and stopped in order."""

    settings: Settings
    host: str
    port: int
    say: Say
    children: list[Child] = field(default_factory=list)
    stop_requested: bool = False
    hurry: bool = False  # a second Ctrl-C: stop without waiting

    @property
    def url(self) -> str:
        return local_url(self.host, self.port)

    @property
    def log_dir(self) -> Path:
        return self.settings.state_dir / "logs"

    @property
    def redis_dir(self) -> Path:
        return self.settings.state_dir / "redis"

    def on_signal(self, signum: int, _frame: object) -> None:
        if self.stop_requested:
            self.hurry = True
            self.say("[yellow]Stopping without waiting (signal received twice).[/]")
        self.stop_requested = True

    def child_env(self) -> dict[str, str]:
        # Absolute paths: every child, and the training processes below the worker, agree on them.
        return {**os.environ, "PYTHONUNBUFFERED": "1",
                "FLASHJOBS_STATE_DIR": str(self.settings.state_dir.resolve()),
                "FLASHJOBS_DATA_DIR": str(self.settings.data_dir.resolve())}

    def spawn(self, name: str, argv: list[str]) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(argv, env=self.child_env(), stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True,
                                       preexec_fn=_die_with_parent)
        child = Child(name, process, own_group=True)
        self.children.append(child)
        return child

    def start_redis(self) -> None:
        from app.core.embedded_redis import port_is_open, start_redis_server  # redis-py: only `up` needs it

        port_taken = port_is_open(self.settings.embedded_redis_port)
        if port_taken and (leftovers := _redis_left_from(self.redis_dir)):
            self.say(f"Stopping the redis-server left by an earlier stack (pid {', '.join(map(str, leftovers))}).")
            for pid in leftovers:
                _kill(pid, signal.SIGTERM, group=False)
            deadline = time.monotonic() + 10
            while port_is_open(self.settings.embedded_redis_port) and time.monotonic() < deadline:
                time.sleep(0.1)
            port_taken = port_is_open(self.settings.embedded_redis_port)
        if port_taken:
            raise StackError(f"port {self.settings.embedded_redis_port} (the bundled Redis) is taken by another program; "
                             "stop it, or set FLASHJOBS_REDIS_URL to use a Redis of your own")
        # start_redis_server gives Redis a session of its own: a terminal's Ctrl-C does not reach it, and
        # this process stops it with SIGTERM, last, once the worker has checkpointed.
        process = start_redis_server(port=self.settings.embedded_redis_port, data_dir=self.redis_dir)
        self.children.append(Child("redis", process, own_group=True))

    def start(self) -> None:
        from app.core.embedded_redis import port_is_open

        if port_is_open(self.port, "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host):
            raise StackError(f"port {self.port} is already in use; choose another with --port")
        if self.settings.uses_embedded_redis:
            self.start_redis()
            self.say(f"Redis: bundled redis-server on 127.0.0.1:{self.settings.embedded_redis_port} (data in {self.redis_dir})")
        else:
            parts = urlsplit(self.settings.effective_redis_url)
            self.say(f"Redis: {parts.hostname}:{parts.port or 6379} (FLASHJOBS_REDIS_URL)")
        from app.core.migrate import upgrade  # alembic: only `up` needs it

        upgrade(self.settings.effective_database_url)
        self.say(f"Database: {safe_url(self.settings.effective_database_url)} (migrated)")
        self.spawn("api", api_argv(self.host, self.port))
        self.spawn("worker", worker_argv())
        self.wait_until_ready()

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            if self.stop_requested:
                raise StackError("stopped before the stack was ready")
            if exited := self.exited_child():
                raise StackError(f"the {exited.name} exited with code {exited.process.returncode} while starting; "
                                 f"see {self.log_path(exited)}")
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=2)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise StackError(f"the API was not ready within {READY_TIMEOUT_S:.0f} s ({last}); see {self.log_dir}")

    def log_path(self, child: Child) -> Path:
        return self.redis_dir / "redis.log" if child.name == "redis" else self.log_dir / f"{child.name}.log"

    def exited_child(self) -> Child | None:
        return next((c for c in self.children if c.process.poll() is not None), None)

    def run_until_stopped(self) -> Child | None:
        """Wait for a stop signal or for a child to die; returns the child that died."""
        while not self.stop_requested:
            if exited := self.exited_child():
                return exited
            time.sleep(0.2)
        return None

    def stop(self) -> None:
        """Worker first (its job checkpoints and is re-queued), then the API, then Redis; SIGKILL on timeout."""
        for child in sorted(self.children, key=lambda c: ["worker", "api", "redis"].index(c.name)):
            self.stop_child(child)
        self.children.clear()

    def stop_child(self, child: Child) -> None:
        process = child.process
        below = _descendants(process.pid)  # before it exits: orphans are re-parented and hard to find
        if process.poll() is None:
            if child.name == "worker":
                self.say("Stopping the worker (a running job checkpoints and goes back to the queue)...")
            _kill(process.pid, signal.SIGTERM, group=child.own_group)
            deadline = time.monotonic() + STOP_TIMEOUT_S[child.name]
            while process.poll() is None and time.monotonic() < deadline and not self.hurry:
                time.sleep(0.1)
            below |= _descendants(process.pid)
            if process.poll() is None:
                self.say(f"[yellow]The {child.name} did not stop in time; killing it.[/]")
        # Anything still alive below it (a training process in its own session, say) goes too.
        _kill_if_same(below)
        if process.poll() is None:
            _kill(process.pid, signal.SIGKILL, group=child.own_group)
        process.wait()
        if child.own_group:
            _kill(process.pid, signal.SIGKILL, group=True)  # stragglers left in its group


class StackError(Exception):
    """The stack cannot start (port taken, database unreachable, a child died while starting)."""


def safe_url(url: str) -> str:
    """A database URL fit to print: the password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def run_stack(settings: Settings, *, host: str, port: int, say: Say) -> int:
    """`flashjobs up`: start everything, serve until Ctrl-C or SIGTERM, stop everything; the exit code."""
    lock = StackLock(settings.state_dir)
    if not lock.acquire():
        info = running_stack(settings.state_dir) or {}
        where = f" at {info['api_url']} (pid {info['pid']})" if info.get("api_url") else " (it is starting)"
        say(f"[red]A flashjobs stack is already running for {settings.state_dir.resolve()}{where}.[/] "
            "Stop it first (Ctrl-C in its terminal), or use another FLASHJOBS_STATE_DIR.")
        return 1
    stack = Stack(settings=settings, host=host, port=port, say=say)
    previous = {sig: signal.signal(sig, stack.on_signal) for sig in STOP_SIGNALS}
    try:
        stack.start()
        lock.describe({
            "pid": os.getpid(), "api_url": stack.url, "state_dir": str(settings.state_dir.resolve()),
            "data_dir": str(settings.data_dir.resolve()), "started_at": datetime.now(UTC).isoformat(),
            "children": {c.name: c.process.pid for c in stack.children},
        })
        say(f"[green]flashjobs is up:[/] {stack.url}  (API docs: {stack.url}/docs)")
        say(f"Data: {settings.data_dir.resolve()}   Artifacts: {settings.effective_artifact_dir}")
        say(f"Logs: {stack.log_dir.resolve()}/{{api,worker}}.log   Press Ctrl-C to stop.")
        exited = stack.run_until_stopped()
        if exited is not None:
            say(f"[red]The {exited.name} exited with code {exited.process.returncode}; stopping the stack.[/] "
                f"See {stack.log_path(exited)}")
            return 1
        return 0
    except StackError as exc:
        say(f"[red]{exc}[/]")
        return 1
    finally:
        stack.stop()
        lock.release()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        say("Stopped.")


# ------------------------------------------------------------------ a stack in the background (the demo's)


def start_in_background(*, api_url: str, env: dict[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    """Run `flashjobs up` detached (its own session, so Ctrl-C on the caller does not reach it)."""
    host, port = host_and_port(api_url)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "app.cli", "up", "--host", host, "--port", str(port)],
                                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def wait_until_ready(process: subprocess.Popen[bytes], api_url: str, *, timeout_s: float = READY_TIMEOUT_S) -> bool:
    """Wait for a background stack to answer /readyz; False if it exited or timed out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if answers(api_url, "/readyz"):
            return True
        time.sleep(0.3)
    return False


def stop_background(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM makes `up` stop its children in order; SIGKILL only if that takes far too long."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=sum(STOP_TIMEOUT_S.values()) + 30)
    except subprocess.TimeoutExpired:
        _kill(process.pid, signal.SIGKILL, group=True)
        process.wait()
