"""Uploads from a received archive to a stored dataset: deduplicated, validated, renamed into place, recorded.

Files and rows move together: a dataset's folder is in place before its row commits, and removed again if the
commit loses (to a concurrent upload of the same bytes); a refused archive leaves nothing anywhere.
"""

import os
import shutil
from pathlib import Path
from typing import Any, NamedTuple

from fastapi.encoders import jsonable_encoder
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.access.quotas import check_dataset_quota
from app.core.config import Settings
from app.core.db import get_sessionmaker
from app.datasets import service
from app.datasets.ingest import ingest
from app.datasets.models import Dataset
from app.datasets.schemas import dataset_out
from app.datasets.status import DatasetStatus
from app.datasets.storage import dataset_dir, incoming_dir
from app.datasets.upload import ReceivedArchive
from app.jobs import idempotency

ROUTE = "datasets"


def keep_upload(
    *,
    project_id: str,
    received: ReceivedArchive,
    name: str | None,
    idempotency_key: str | None,
    settings: Settings,
) -> tuple[int, dict[str, Any]]:
    """Status code and body: 201 for a new dataset, 200 for the one these bytes made before in this project."""
    body_hash = idempotency.request_hash({"sha256": received.sha256, "name": name})
    seen = _Seen(project_id, idempotency.scoped(ROUTE, project_id=project_id), idempotency_key, body_hash)
    with get_sessionmaker()() as session:
        if idempotency_key and (
            stored := idempotency.replay(session, key=idempotency_key, route=seen.route, body_hash=body_hash)
        ):
            return stored.status_code, stored.response
        existing = service.find_upload(session, project_id=project_id, sha256=received.sha256)
        if existing is not None:
            try:
                return _answer(session, existing, 200, seen=seen)
            except _LostRace:
                return _first_answer(received, seen=seen)
        check_dataset_quota(session, project_id=project_id, adding=received.size)

    artifact_dir = settings.effective_artifact_dir
    dataset_id = service.new_dataset_id()
    ingested = ingest(received.path, staging=incoming_dir(artifact_dir) / dataset_id, settings=settings)
    final = dataset_dir(artifact_dir, dataset_id)
    if ingested.status == DatasetStatus.READY:
        os.rename(ingested.staging, final)
    try:
        with get_sessionmaker()() as session:
            dataset = service.add_upload(
                session,
                project_id=project_id,
                dataset_id=dataset_id,
                name=name,
                sha256=received.sha256,
                size=received.size,
                status=ingested.status,
                summary=ingested.summary,
            )
            return _answer(session, dataset, 201, seen=seen)
    except _LostRace:
        remove_files(artifact_dir, dataset_id)
        return _first_answer(received, seen=seen)
    except BaseException:
        remove_files(artifact_dir, dataset_id)
        raise


class _Seen(NamedTuple):
    """Who uploads, and the Idempotency-Key (if any) under which the answer is kept."""

    project_id: str
    route: str
    key: str | None
    body_hash: str


def _first_answer(received: ReceivedArchive, *, seen: _Seen) -> tuple[int, dict[str, Any]]:
    """After losing a race: the winner's stored answer for the key, or the dataset its upload made."""
    with get_sessionmaker()() as session:
        if seen.key and (
            stored := idempotency.replay(session, key=seen.key, route=seen.route, body_hash=seen.body_hash)
        ):
            return stored.status_code, stored.response
        winner = service.find_upload(session, project_id=seen.project_id, sha256=received.sha256)
        if winner is None:
            raise RuntimeError("an upload lost a commit race, but no winner is recorded")
        return 200, jsonable_encoder(dataset_out(winner))


class _LostRace(Exception):
    """A concurrent request with the same bytes or the same Idempotency-Key committed first."""


def _answer(session: Session, dataset: Dataset, status_code: int, *, seen: _Seen) -> tuple[int, dict[str, Any]]:
    content = jsonable_encoder(dataset_out(dataset))
    if seen.key:
        idempotency.remember(
            session, key=seen.key, route=seen.route, body_hash=seen.body_hash, status_code=status_code, response=content
        )
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise _LostRace() from exc
    return status_code, content


def remove_files(artifact_dir: Path, dataset_id: str) -> None:
    shutil.rmtree(dataset_dir(artifact_dir, dataset_id), ignore_errors=True)
