"""Who a request acts as: the key's project and scope, verified from a short-lived cache of keys seen recently.

A poll must not cost a SQL read per request for its key (bench/polling.py), so a verified key is kept for
FLASHJOBS_KEY_CACHE_S; a revoke in this process drops the cache at once, one in another process is seen within
that time. last_used_at is written at most once a minute per key.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cachetools import TTLCache
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from app.access import service
from app.access.keys import hash_secret, looks_like_key
from app.access.scopes import Scope
from app.core.config import get_settings
from app.core.db import read_in_thread, session_scope, utcnow

TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """The key a request carries: its id, project and scope."""

    key_id: str
    project_id: str
    scope: Scope

    def sees(self, project_id: str) -> bool:
        """Whether this key may see what belongs to `project_id` (admin keys see every project)."""
        return self.scope == Scope.ADMIN or project_id == self.project_id

    @property
    def project_filter(self) -> str | None:
        """The project lists are filtered to; None: every project."""
        return None if self.scope == Scope.ADMIN else self.project_id


@dataclass
class _Verified:
    principal: Principal
    last_used_at: datetime | None = field(default=None)


class VerifiedKeys:
    """Keys verified within the last FLASHJOBS_KEY_CACHE_S, by the hash of their secret; used on the event loop."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max_entries = max_entries
        self._cache: TTLCache[str, _Verified] | None = None  # made on first use: importing reads no settings

    def _entries(self) -> TTLCache[str, _Verified]:
        if self._cache is None:
            self._cache = TTLCache(self._max_entries, ttl=get_settings().key_cache_s)
        return self._cache

    async def verify(self, secret: str) -> Principal | None:
        """The principal of a live key; None for an unknown or revoked one."""
        if not looks_like_key(secret):
            return None
        key_hash = hash_secret(secret)
        entries = self._entries()
        verified = entries.get(key_hash)
        if verified is None:
            verified = await read_in_thread(_load, key_hash)
            if verified is None:
                return None
            entries[key_hash] = verified
        now = utcnow()
        if verified.last_used_at is None or now - verified.last_used_at >= TOUCH_EVERY:
            verified.last_used_at = now  # before the write: concurrent requests do not all write
            await run_in_threadpool(_note_use, verified.principal.key_id, now)
        return verified.principal

    def forget(self) -> None:
        """Drop every cached key (after a revoke: this process stops accepting it at once)."""
        if self._cache is not None:
            self._cache.clear()


def _load(session: Session, key_hash: str) -> _Verified | None:
    key = service.find_live_key(session, key_hash=key_hash)
    if key is None:
        return None
    return _Verified(Principal(key.id, key.project_id, Scope(key.scope)), key.last_used_at)


def _note_use(key_id: str, at: datetime) -> None:
    with session_scope() as session:
        service.note_use(session, key_id=key_id, at=at)


verified_keys = VerifiedKeys()
