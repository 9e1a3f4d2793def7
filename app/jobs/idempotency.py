"""Idempotency-Key: the same key and body replays the first response; another body is a conflict."""

import hashlib
import json
from typing import Any

from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.core.errors import Conflict
from app.jobs.models import IdempotencyKey


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def scoped(route: str, *, project_id: str) -> str:
    """The route under which a project's keys are stored: one project's key never replays another's answer."""
    return f"{project_id}:{route}"


def replay(session: Session, *, key: str, route: str, body_hash: str) -> IdempotencyKey | None:
    """The stored first response for this key, None if the key is new; 409 if it came with another body."""
    stored = session.get(IdempotencyKey, (key, route))
    if stored is not None and stored.request_hash != body_hash:
        raise Conflict(f"Idempotency-Key {key!r} was already used with a different request body")
    return stored


def remember(session: Session, *, key: str, route: str, body_hash: str, status_code: int, response: Any) -> None:
    session.add(
        IdempotencyKey(
            key=key,
            route=route,
            request_hash=body_hash,
            status_code=status_code,
            response=response,
            created_at=utcnow(),
        )
    )
