"""Artifacts a job produced: list with checksums, download by name."""

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from app.api.deps import JobDep, SettingsDep
from app.artifacts import service
from app.core.db import read_in_thread
from app.core.errors import NotFound

router = APIRouter(prefix="/v1/jobs/{job_id}/artifacts", tags=["artifacts"])


@router.get("")
async def list_artifacts(job: JobDep) -> list[dict]:
    """Name, size, sha256 and download URL of each artifact."""
    return [
        {"name": a.name, "size": a.size, "sha256": a.sha256, "url": f"/v1/jobs/{job.id}/artifacts/{a.name}"}
        for a in await read_in_thread(service.list_for_job, job_id=job.id)
    ]


@router.get("/{name}")
async def download_artifact(name: str, job: JobDep, settings: SettingsDep) -> FileResponse:
    """The file itself; the name is looked up in SQL, never joined onto a path from the request."""
    artifact = await read_in_thread(service.get, job_id=job.id, name=name)
    if artifact is None:
        raise NotFound(f"job {job.id} has no artifact {name!r}")
    root = settings.effective_artifact_dir
    path = (root / artifact.path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(status_code=410, detail=f"artifact {name!r} is recorded but its file is gone")
    return FileResponse(path, filename=f"{job.id}-{path.name}", headers={"X-Checksum-Sha256": artifact.sha256})
