"""Page cursors of the newest-first lists (jobs, datasets): the last row's (created_at, id), opaque to clients."""

import base64
from datetime import datetime

from app.core.bounds import CONTROL_CHARACTERS
from app.core.errors import Invalid


def encode_cursor(created_at: datetime, job_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{job_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        if CONTROL_CHARACTERS.search(job_id):  # Postgres text cannot hold NUL
            raise ValueError(job_id)
        return datetime.fromisoformat(created_at), job_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(["query", "cursor"], "not a cursor this API returned") from exc
