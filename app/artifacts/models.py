"""SQL table of artifacts: what a job produced, where it lies, and its checksum."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime


class Artifact(Base):
    """One file a job produced (backbone, model, checkpoint); path is relative to the artifact dir."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), server_default="default")  # its job's

    __table_args__ = (UniqueConstraint("job_id", "name", name="uq_artifacts_job_name"),)
