"""Datasets: upload an archive (or have the server fetch one), read, list, look at samples, delete."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.api.auth import PrincipalDep
from app.api.deps import DatasetDep, SessionDep, SettingsDep
from app.api.openapi import DATASET_CONFLICT, DATASET_NOT_FOUND, UPLOAD_REFUSED
from app.api.routes.jobs import IdempotencyKeyHeader
from app.core.db import read_in_thread
from app.core.errors import NotFound, TooLarge
from app.datasets import service
from app.datasets.imports import start_import
from app.datasets.schemas import DatasetOut, DatasetPage, DatasetUrlIn, dataset_out
from app.datasets.storage import SAMPLES, dataset_dir, incoming_dir
from app.datasets.store import keep_upload, remove_files
from app.datasets.upload import RAW_TYPES, receive_archive

router = APIRouter(prefix="/v1", tags=["datasets"])
MAX_JSON_BYTES = 64 * 1024
NameQuery = Annotated[str | None, Query(max_length=200, description="A name for people; not unique")]


ARCHIVE = {"schema": {"type": "string", "format": "binary"}}
# The body is read as a stream, not by FastAPI, so its shapes are declared here for the API's docs; they are also
# the content types the route accepts (app/api/content_types.py).
UPLOAD_BODY = {
    "required": True,
    "content": {
        **{content_type: ARCHIVE for content_type in RAW_TYPES},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "name": {"type": "string", "maxLength": 200},
                },
            }
        },
        "application/json": {"schema": DatasetUrlIn.model_json_schema()},
    },
}


@router.post(
    "/datasets",
    status_code=201,
    response_model=DatasetOut,
    openapi_extra={"requestBody": UPLOAD_BODY},
    responses={200: {"model": DatasetOut}, 202: {"model": DatasetOut}, **UPLOAD_REFUSED, **DATASET_CONFLICT},
)
async def create_dataset(
    request: Request,
    settings: SettingsDep,
    principal: PrincipalDep,
    name: NameQuery = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Upload a zip or tar (gzip or not) of image folders, as the raw body or a multipart `file` field; the same
    bytes again answer 200 with the dataset they made. Or JSON `{"url": ...}`: the server fetches the archive,
    answering 202 with the dataset `importing`."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = _url_body(await _small_body(request))
        status_code, content = await run_in_threadpool(
            start_import,
            project_id=principal.project_id,
            body=body,
            idempotency_key=idempotency_key,
            settings=settings,
        )
        return JSONResponse(content, status_code=status_code, headers={"Location": f"/v1/datasets/{content['id']}"})
    # Any other content type was refused with 415 (app/api/content_types.py: the types UPLOAD_BODY declares).
    path = incoming_dir(settings.effective_artifact_dir) / f"{uuid.uuid4().hex}.upload"
    received = await receive_archive(request, path=path)  # its size is bounded by app/api/body_limit.py
    try:
        status_code, content = await run_in_threadpool(
            keep_upload,
            project_id=principal.project_id,
            received=received,
            name=name or received.name,
            idempotency_key=idempotency_key,
            settings=settings,
        )
    finally:
        path.unlink(missing_ok=True)
    return JSONResponse(content, status_code=status_code, headers={"Location": f"/v1/datasets/{content['id']}"})


async def _small_body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise TooLarge(f"a JSON body is at most {MAX_JSON_BYTES} bytes; send archives as zip or tar")
    return bytes(body)


def _url_body(raw: bytes) -> DatasetUrlIn:
    try:
        return DatasetUrlIn.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from exc


@router.get("/datasets", response_model=DatasetPage)
async def list_datasets(
    principal: PrincipalDep, limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: str | None = None
) -> Response:
    """Datasets, newest first; pass next_cursor back as cursor for the next page."""
    page = await read_in_thread(_dataset_page, project=principal.project_filter, limit=limit, cursor=cursor)
    return Response(page, media_type="application/json")


def _dataset_page(session: Session, *, project: str | None, limit: int, cursor: str | None) -> bytes:
    datasets, next_cursor = service.list_datasets(session, project=project, limit=limit, cursor=cursor)
    page = DatasetPage(datasets=[dataset_out(dataset) for dataset in datasets], next_cursor=next_cursor)
    return page.model_dump_json().encode()


@router.get("/datasets/{dataset_id}", response_model=DatasetOut, responses=DATASET_NOT_FOUND)
def get_dataset(dataset: DatasetDep) -> DatasetOut:
    """Status, classes, images per class and split, image sizes, formats, and the files left out with why."""
    return dataset_out(dataset)


@router.get(
    "/datasets/{dataset_id}/samples",
    response_class=FileResponse,
    responses={
        200: {
            "description": "A PNG contact sheet",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        },
        **DATASET_NOT_FOUND,
    },
)
def dataset_samples(dataset: DatasetDep, settings: SettingsDep) -> FileResponse:
    """A contact sheet (PNG): a row of thumbnails per class, to see that the labels are what you think."""
    path = dataset_dir(settings.effective_artifact_dir, dataset.id) / SAMPLES
    if not path.is_file():
        raise NotFound(f"dataset {dataset.id} is {dataset.status}: it has no samples")
    return FileResponse(path, media_type="image/png")


@router.delete("/datasets/{dataset_id}", status_code=204, responses={**DATASET_NOT_FOUND, **DATASET_CONFLICT})
def delete_dataset(dataset: DatasetDep, session: SessionDep, settings: SettingsDep) -> Response:
    """Delete the dataset and its files; 409 while a waiting, queued or running job uses it."""
    service.delete(session, dataset_id=dataset.id)
    session.commit()
    remove_files(settings.effective_artifact_dir, dataset.id)
    return Response(status_code=204)
