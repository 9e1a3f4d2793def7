"""SQL engine and sessions; SQLite gets WAL and a busy timeout so API, worker and trainer share it."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any, TypeVar

import anyio
from sqlalchemy import Connection, DateTime, Dialect, Engine, TypeDecorator, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from app.core.config import get_settings

T = TypeVar("T")


class Base(DeclarativeBase):
    """Declarative base for every table."""


def make_engine(url: str) -> Engine:
    """Create an engine; for SQLite, configure it for several processes writing at once."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # Writers take the lock up front (IMMEDIATE: no deadlock when two readers both upgrade); read-only
            # connections (get_read_engine) begin deferred: in WAL mode a reader never waits for a writer.
            read_only = conn.get_execution_options().get("flashjobs_read_only", False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    # A fixed pool: overflow connections would be opened and closed per request under polling load
    # (bench/polling.py); 20 stays well inside Postgres's default 100 connections with a few processes.
    engine = create_engine(url, pool_size=20, max_overflow=0)
    _ping_connections_that_sat_idle(engine)
    return engine


# A connection used within the last second is alive: HikariCP's rule. pool_pre_ping's round trip on every checkout
# would be a third of a metrics poll's SQL time (bench/polling.py).
IDLE_BEFORE_PING_S = 1.0


def _ping_connections_that_sat_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only if it sat idle; a dead one is replaced (survives DB restarts)."""

    @event.listens_for(engine, "checkin")
    def _note_checkin(_dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        checked_in_at = record.info.get("checked_in_at")  # None: a connection opened just now
        if checked_in_at is None or time.monotonic() - checked_in_at < IDLE_BEFORE_PING_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as error:  # any failure to ping means: not usable
            raise DisconnectionError(f"pooled connection failed its ping: {error}") from error
        if not alive:
            raise DisconnectionError("pooled connection failed its ping")  # the pool opens a new one


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().effective_database_url)


@lru_cache
def get_read_engine() -> Engine:
    """The engine for read-only work: it never waits for (or blocks) a writer and saves BEGIN/COMMIT round trips."""
    engine = get_engine()
    if engine.dialect.name == "sqlite":
        return engine.execution_options(flashjobs_read_only=True)
    return engine.execution_options(isolation_level="AUTOCOMMIT")


async def read_in_thread(
    fn: Callable[..., T], /, *args: Any, limiter: anyio.CapacityLimiter | None = None, **kwargs: Any
) -> T:
    """Run `fn(session, *args, **kwargs)` in a worker thread with a session on the read engine: one thread hop."""
    # The session closes in that thread: its connection is back in the pool when this returns, and what fn loaded
    # stays readable (nothing commits). `limiter` caps how many such reads run at once (default: anyio's 40).
    return await anyio.to_thread.run_sync(partial(_with_read_session, fn, args, kwargs), limiter=limiter)


def _with_read_session(fn: Callable[..., T], args: tuple, kwargs: dict[str, Any]) -> T:
    with Session(get_read_engine()) as session:
        return fn(session, *args, **kwargs)


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with get_sessionmaker()() as session, session.begin():
        yield session


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC on every backend and gives back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def utcnow() -> datetime:
    return datetime.now(UTC)
