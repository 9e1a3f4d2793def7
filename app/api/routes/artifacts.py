"""Artifacts a job produced: list with checksums, download by name."""

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse

from app.api.deps import JobDep, SettingsDep
from app.api.openapi import ARTIFACT_NOT_FOUND, FILE_DOWNLOAD, JOB_NOT_FOUND
from app.artifacts import service
from app.core.bounds import PRINTABLE
from app.core.db import read_in_thread
from app.core.errors import Gone, NotFound

router = APIRouter(prefix="/v1/jobs/{job_id}/artifacts", tags=["artifacts"])
ArtifactName = Annotated[str, Path(pattern=PRINTABLE)]  # Postgres text cannot hold NUL


@router.get("", responses=JOB_NOT_FOUND)
async def list_artifacts(job: JobDep) -> list[dict]:
    """Name, size, sha256 and download URL of each artifact."""
    return [
        {"name": a.name, "size": a.size, "sha256": a.sha256, "url": f"/v1/jobs/{job.id}/artifacts/{a.name}"}
        for a in await read_in_thread(service.list_for_job, job_id=job.id)
    ]


@router.get("/{name}", response_class=FileResponse, responses={**FILE_DOWNLOAD, **ARTIFACT_NOT_FOUND})
async def download_artifact(name: ArtifactName, job: JobDep, settings: SettingsDep) -> FileResponse:
    """The file itself; the name is looked up in SQL, never joined onto a path from the request."""
    artifact = await read_in_thread(service.get, job_id=job.id, name=name)
    if artifact is None:
        raise NotFound(f"job {job.id} has no artifact {name!r}")
    root = settings.effective_artifact_dir
    path = (root / artifact.path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise Gone(f"artifact {name!r} is recorded but its file is gone")
    # Named explicitly: guessed from the suffix, a .pt file would go out as application/vnd.snesdev-page-table.
    return FileResponse(
        path,
        filename=f"{job.id}-{path.name}",
        media_type="application/octet-stream",
        headers={"X-Checksum-Sha256": artifact.sha256},
    )
