"""Keyset pages, newest first on (created_at, id), with opaque cursors: the one paging of every list route."""

import base64
from datetime import datetime
from typing import Any

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import Session

from app.core.bounds import CONTROL_CHARACTERS
from app.core.errors import Invalid


def encode_cursor(created_at: datetime, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        if CONTROL_CHARACTERS.search(row_id):  # Postgres text cannot hold NUL
            raise ValueError(row_id)
        return datetime.fromisoformat(created_at), row_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(["query", "cursor"], "not a cursor this API returned") from exc


def newest_first(
    session: Session, query: Select, model: Any, *, limit: int, cursor: str | None
) -> tuple[list, str | None]:
    """One page of `query`'s rows of `model`, newest first, and the cursor of the next page (None at the end)."""
    query = query.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)
    if cursor:
        created_at, row_id = decode_cursor(cursor)
        # A row value is an index range on both backends; the equivalent OR form walks the index from the top.
        query = query.where(tuple_(model.created_at, model.id) < tuple_(created_at, row_id))
    rows = list(session.scalars(query))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last.created_at, last.id)
