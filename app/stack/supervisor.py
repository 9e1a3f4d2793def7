"""`flashjobs up`: the bundled Redis, the API, one Celery worker and a prediction server as children, kept running.

Each child runs in a session of its own, so a Ctrl-C in the terminal reaches only this process, which then stops
them in the order that loses nothing: the worker first (its running job checkpoints and goes back to the queue),
then the API, then Redis. A child that dies is started again after a backoff that doubles with each quick death;
one that dies restart_limit times in a row, each within restart_window_s of its start, stops the stack with a
message saying so. Each child gets SIGTERM if this process is killed, and the lock's record lets the next
`up` stop whatever a killed one left behind.
"""

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from app.core.config import Settings
from app.stack.admin_key import access_env, ensure_admin_key
from app.stack.commands import NotReady, api_argv, local_url, predictor_argv, safe_url, wait_ready, worker_argv
from app.stack.lock import StackLock, running_stack
from app.stack.processes import die_with_parent, is_running, send, start_time, stop_tree

# How long each child may take to stop after SIGTERM before it gets SIGKILL. The worker's running job
# finishes its batch and writes a checkpoint first; on a CPU a batch can take seconds.
STOP_TIMEOUT_S = {"worker": 120.0, "predictor": 15.0, "api": 15.0, "redis": 15.0}
STOP_ORDER = ("worker", "predictor", "api", "redis")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.5, 30.0

Say = Callable[[str], None]


class StackError(Exception):
    """The stack cannot start (port taken, database unreachable), or a child keeps dying."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    started: str  # start time in /proc: tells this process from a later one with the same pid
    started_at: float = field(default_factory=time.monotonic)


@dataclass
class Stack:
    """The processes of one embedded stack: started, restarted when they die, and stopped in order."""

    settings: Settings
    host: str
    port: int
    say: Say
    lock: StackLock
    children: dict[str, Child] = field(default_factory=dict)
    restart_at: dict[str, float] = field(default_factory=dict)  # a dead child's name -> when to start it again
    quick_deaths: dict[str, int] = field(default_factory=dict)  # in a row, each within restart_window_s
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    found_killed_stack: bool = False  # the lock's record says the last stack here was killed, not stopped
    ready: bool = False
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

    def log_path(self, name: str) -> Path:
        return self.redis_dir / "redis.log" if name == "redis" else self.log_dir / f"{name}.log"

    def on_signal(self, signum: int, _frame: object) -> None:
        if self.stop_requested:
            self.hurry = True
            self.say("[yellow]Stopping without waiting (signal received twice).[/]")
        self.stop_requested = True

    def record(self) -> None:
        """Describe this stack in the lock file: where it serves (once ready) and every child it runs."""
        info = {
            "pid": os.getpid(),
            "state_dir": str(self.settings.state_dir.resolve()),
            "data_dir": str(self.settings.data_dir.resolve()),
            "started_at": self.started_at,
            "children": {c.name: {"pid": c.process.pid, "started": c.started} for c in self.children.values()},
        }
        self.lock.describe({**info, "api_url": self.url} if self.ready else info)

    # ---------------------------------------------------------------- starting

    def child_env(self) -> dict[str, str]:
        # Absolute paths: every child, and the training processes below the worker, agree on them.
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "FLASHJOBS_STATE_DIR": str(self.settings.state_dir.resolve()),
            "FLASHJOBS_DATA_DIR": str(self.settings.data_dir.resolve()),
            **access_env(self.host),
        }

    def spawn(self, name: str) -> subprocess.Popen[bytes]:
        if name == "redis":
            from app.core.embedded_redis import start_redis_server  # redis-py: only `up` needs it

            # In a session of its own: a terminal's Ctrl-C does not reach it, and this process stops it last.
            return start_redis_server(
                port=self.settings.embedded_redis_port, data_dir=self.redis_dir, preexec_fn=die_with_parent
            )
        argv = {"api": lambda: api_argv(self.host, self.port), "worker": worker_argv, "predictor": predictor_argv}[
            name
        ]()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                argv,
                env=self.child_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def launch(self, name: str) -> None:
        """Start one child; one that fails to start counts as a death at once."""
        try:
            process = self.spawn(name)
        except RuntimeError as exc:  # the bundled Redis exited or did not answer while starting
            self.say(f"[yellow]The {name} did not start: {exc}[/]")
            self.after_death(name, uptime_s=0.0, code=None)
            return
        self.children[name] = Child(name, process, start_time(process.pid) or "")
        self.record()

    def start(self) -> None:
        from app.core.embedded_redis import port_is_open

        self.stop_left_behind()
        if port_is_open(self.port, "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host):
            raise StackError(f"port {self.port} is already in use; choose another with --port")
        if self.settings.uses_embedded_redis:
            if port_is_open(self.settings.embedded_redis_port):
                raise StackError(
                    f"port {self.settings.embedded_redis_port} (the bundled Redis) is taken by another "
                    "program; stop it, or set FLASHJOBS_REDIS_URL to use a Redis of your own"
                )
            self.launch("redis")
            self.say(
                f"Redis: bundled redis-server on 127.0.0.1:{self.settings.embedded_redis_port} "
                f"(data in {self.redis_dir})"
            )
        else:
            parts = urlsplit(self.settings.effective_redis_url)
            self.say(f"Redis: {parts.hostname}:{parts.port or 6379} (FLASHJOBS_REDIS_URL)")
        from app.core.migrate import upgrade  # alembic: only `up` needs it

        upgrade(self.settings.effective_database_url)
        self.say(f"Database: {safe_url(self.settings.effective_database_url)} (migrated)")
        path, made = ensure_admin_key(self.settings)
        self.say(
            f"Admin key: {path}" + (" (new; the CLI uses it, `flashjobs keys create` makes others)" if made else "")
        )
        self.launch("api")
        self.launch("worker")
        self.launch("predictor")
        try:
            wait_ready(self.url, abort_if=self.supervise)
        except NotReady as exc:
            raise StackError(str(exc) if self.stop_requested else f"{exc}; see {self.log_dir}") from None
        self.ready = True
        self.record()

    def stop_left_behind(self) -> None:
        """Stop what a stack killed without stopping left running (its record survives in the lock file)."""
        record = self.lock.left_behind()
        self.found_killed_stack = bool(record)
        left = {
            name: child
            for name, child in record.get("children", {}).items()
            if is_running(child["pid"], child["started"])
        }
        for name, child in left.items():
            self.say(f"Stopping the {name} left running by a stack that was killed (pid {child['pid']}).")
            send(child["pid"], signal.SIGCONT, group=True)  # first let each run: a stopped one holds up the others
        for name in sorted(left, key=STOP_ORDER.index):
            stop_tree(left[name]["pid"], left[name]["started"], timeout_s=STOP_TIMEOUT_S[name])

    # ---------------------------------------------------------------- supervising

    def after_death(self, name: str, *, uptime_s: float, code: int | None) -> None:
        """Schedule a restart after a backoff, or give up on a child that keeps dying as soon as it starts."""
        quick = uptime_s < self.settings.restart_window_s
        deaths = self.quick_deaths[name] = self.quick_deaths.get(name, 0) + 1 if quick else 0
        how = f"exited with code {code}" if code is not None else "failed to start"
        if deaths >= self.settings.restart_limit:
            raise StackError(
                f"the {name} {how}, {deaths} times in a row within "
                f"{self.settings.restart_window_s:g} s of starting; not restarting it. "
                f"See {self.log_path(name)}{last_line(self.log_path(name))}"
            )
        delay = min(FIRST_BACKOFF_S * 2 ** max(deaths - 1, 0), MAX_BACKOFF_S) if quick else 0.0
        self.say(
            f"[yellow]The {name} {how} after {uptime_s:.0f} s; starting it again"
            f"{f' in {delay:g} s' if delay else ''}.[/] See {self.log_path(name)}"
        )
        self.restart_at[name] = time.monotonic() + delay

    def supervise(self) -> str | None:
        """One look at the children: restart the dead ones whose backoff is over; a reason to stop, or None."""
        if self.stop_requested:
            return "stopped before the stack was ready" if not self.ready else "stop requested"
        now = time.monotonic()
        for child in list(self.children.values()):
            if child.process.poll() is not None:
                del self.children[child.name]
                send(child.process.pid, signal.SIGKILL, group=True)  # stragglers left in its process group
                self.after_death(child.name, uptime_s=now - child.started_at, code=child.process.returncode)
        for name, due in list(self.restart_at.items()):
            if now >= due:
                del self.restart_at[name]
                self.launch(name)
        return None

    def run_until_stopped(self) -> None:
        """Supervise until a stop signal; raises StackError if a child keeps dying."""
        while self.supervise() is None:
            time.sleep(0.2)

    # ---------------------------------------------------------------- stopping

    def stop(self) -> None:
        """Worker first (its job checkpoints and is re-queued), then the API, then Redis; SIGKILL on timeout."""
        self.restart_at.clear()
        for name in STOP_ORDER:
            if (child := self.children.pop(name, None)) is None:
                continue
            if name == "worker" and child.process.poll() is None:
                self.say("Stopping the worker (a running job checkpoints and goes back to the queue)...")
            if not stop_tree(
                child.process.pid, child.started, timeout_s=STOP_TIMEOUT_S[name], hurry=lambda: self.hurry
            ):
                self.say(f"[yellow]The {name} did not stop in time; killed it.[/]")
            child.process.wait()


def last_line(log: Path) -> str:
    """': <the log's last line>', or nothing: the reason a child died is usually there."""
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return f"; it ends: {lines[-1].strip()[:300]}" if lines else ""


def run_stack(settings: Settings, *, host: str, port: int, say: Say) -> int:
    """`flashjobs up`: start everything, keep it running until Ctrl-C or SIGTERM, stop everything; the exit code."""
    lock = StackLock(settings.state_dir)
    if not lock.acquire():
        info = running_stack(settings.state_dir) or {}
        where = f" at {info['api_url']} (pid {info['pid']})" if info.get("api_url") else " (it is starting)"
        say(
            f"[red]A flashjobs stack is already running for {settings.state_dir.resolve()}{where}.[/] "
            "Stop it first (Ctrl-C in its terminal), or use another FLASHJOBS_STATE_DIR."
        )
        return 1
    stack = Stack(settings=settings, host=host, port=port, say=say, lock=lock)
    previous = {sig: signal.signal(sig, stack.on_signal) for sig in STOP_SIGNALS}
    try:
        stack.start()
        if stack.found_killed_stack:
            from app.jobs.dispatch import dispatch_queued  # SQL and Celery: only `up` needs them

            # The killed stack's Redis may have lost messages it was sent; a duplicate one is harmless.
            if resent := dispatch_queued():
                say(f"Sent the {resent} queued job(s) of the killed stack to the queue again.")
        say(f"[green]flashjobs is up:[/] {stack.url}  (API docs: {stack.url}/docs)")
        say(f"Data: {settings.data_dir.resolve()}   Artifacts: {settings.effective_artifact_dir}")
        say(f"Logs: {stack.log_dir.resolve()}/{{api,worker,predictor}}.log   Press Ctrl-C to stop.")
        stack.run_until_stopped()
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
