"""URL imports: created `importing`, fetched and validated in a thread of the API process, then finished.

A thread, not a Celery task: a worker runs one training job at a time for hours, and an import queued behind it
would wait as long; fetching is I/O and validation a few cores' worth of decoding, which the API host has.
A heartbeat marks the import alive; if the process dies, the reconciler ends it as invalid, and the jobs
waiting for it fail with `dataset_invalid`.
"""

import logging
import os
import threading
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy.exc import IntegrityError

from app.access.quotas import check_dataset_quota
from app.core.addresses import allowed_networks
from app.core.config import Settings
from app.core.db import get_sessionmaker, session_scope
from app.core.errors import ServiceError
from app.datasets import service
from app.datasets.fetch import checked_address, fetch
from app.datasets.ingest import ingest
from app.datasets.schemas import DatasetUrlIn, dataset_out
from app.datasets.status import DatasetStatus
from app.datasets.storage import dataset_dir, incoming_dir
from app.datasets.store import remove_files
from app.jobs import idempotency
from app.jobs.dispatch import dispatch

log = logging.getLogger(__name__)
ROUTE = "datasets-url"


def start_import(
    *, project_id: str, body: DatasetUrlIn, idempotency_key: str | None, settings: Settings
) -> tuple[int, dict[str, Any]]:
    """202 and the `importing` dataset (its fetch runs on in a thread); an unacceptable URL is a 422 at once."""
    url = str(body.url)
    body_hash = idempotency.request_hash(body.model_dump(mode="json"))
    route = idempotency.scoped(ROUTE, project_id=project_id)
    with get_sessionmaker()() as session:
        if idempotency_key and (
            stored := idempotency.replay(session, key=idempotency_key, route=route, body_hash=body_hash)
        ):
            return stored.status_code, stored.response
        checked_address(url, allow=allowed_networks(settings.dataset_fetch_allow_networks))
        check_dataset_quota(session, project_id=project_id, adding=0)  # a project at its quota imports nothing
        dataset = service.add_import(session, project_id=project_id, name=body.name, url=url)
        content = jsonable_encoder(dataset_out(dataset))
        if idempotency_key:
            idempotency.remember(
                session, key=idempotency_key, route=route, body_hash=body_hash, status_code=202, response=content
            )
        try:
            session.commit()
        except IntegrityError:  # the same key, at the same time: the other request's import is the one
            session.rollback()
            stored = idempotency.replay(session, key=idempotency_key or "", route=route, body_hash=body_hash)
            if stored is None:
                raise
            return stored.status_code, stored.response
    threading.Thread(
        target=run_import,
        kwargs={"project_id": project_id, "dataset_id": dataset.id, "url": url, "settings": settings},
        name=f"import-{dataset.id}",
        daemon=True,
    ).start()
    return 202, content


class _Heartbeat:
    """Beats every heartbeat_s in its own thread while the import runs, saying where the import is."""

    def __init__(self, dataset_id: str, settings: Settings) -> None:
        self.dataset_id = dataset_id
        self.every_s = settings.heartbeat_s
        self.status = DatasetStatus.IMPORTING
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"import-heartbeat-{dataset_id}", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.every_s):
            try:
                with session_scope() as session:
                    service.import_heartbeat(session, dataset_id=self.dataset_id, status=self.status)
            except Exception:
                log.warning("import %s: heartbeat failed", self.dataset_id, exc_info=True)

    def __enter__(self) -> "_Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()


def run_import(*, project_id: str, dataset_id: str, url: str, settings: Settings) -> None:
    """Fetch, validate and finish one import; every failure ends it as invalid, saying why."""
    artifact_dir = settings.effective_artifact_dir
    archive = incoming_dir(artifact_dir) / f"{dataset_id}.fetch"
    sha256 = size = None
    try:
        with _Heartbeat(dataset_id, settings) as heartbeat:
            sha256, size = fetch(
                url,
                dest=archive,
                max_bytes=settings.max_upload_bytes,
                timeout_s=settings.dataset_fetch_timeout_s,
                max_redirects=settings.dataset_fetch_max_redirects,
                allow=allowed_networks(settings.dataset_fetch_allow_networks),
            )
            with session_scope() as session:  # the bytes are known only now
                check_dataset_quota(session, project_id=project_id, adding=size)
            heartbeat.status = DatasetStatus.VALIDATING
            ingested = ingest(archive, staging=incoming_dir(artifact_dir) / dataset_id, settings=settings)
        status, summary = ingested.status, ingested.summary
        if status == DatasetStatus.READY:
            os.rename(ingested.staging, dataset_dir(artifact_dir, dataset_id))
    except ServiceError as exc:
        status, summary = DatasetStatus.INVALID, _one_problem(url, exc.message)
    except Exception as exc:
        log.exception("import %s of %s failed", dataset_id, url)
        status, summary = DatasetStatus.INVALID, _one_problem(url, f"the import failed: {type(exc).__name__}: {exc}")
    finally:
        archive.unlink(missing_ok=True)
    with session_scope() as session:
        runnable = service.finish_import(
            session, dataset_id=dataset_id, status=status, summary=summary, sha256=sha256, size=size
        )
    if runnable is None:  # ended meanwhile (the reconciler gave up on it): what it made is not wanted
        remove_files(artifact_dir, dataset_id)
        return
    dispatch(runnable)


def _one_problem(url: str, reason: str) -> dict[str, Any]:
    return {"problem_count": 1, "problems": [{"path": url, "reason": reason}]}
