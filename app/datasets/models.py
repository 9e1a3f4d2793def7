"""SQL table of the datasets domain: one row per uploaded or imported image dataset."""

import re
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime

DATASET_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex


def is_dataset_id(value: str) -> bool:
    """Could this be a dataset's id? Others (control characters included) are looked up nowhere."""
    return DATASET_ID.fullmatch(value) is not None


class Dataset(Base):
    """An image-folder dataset in the artifact store (datasets/<id>/); its summary is what validation found."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    # For uploads, the sha256 of project and bytes, unique: two uploads of the same bytes to one project, even at
    # once, make one dataset.
    # NULL for URL imports, whose id is handed out before their bytes are known.
    dedupe_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    source_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Refreshed while an import runs; the reconciler ends imports whose process went away.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), server_default="default")

    __table_args__ = (
        Index("ix_datasets_created", "created_at", "id"),
        Index("ix_datasets_project_created", "project_id", "created_at", "id"),
    )
