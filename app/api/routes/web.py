"""The dashboard: one HTML page at `/` and its static files under `/static` (plain ES modules, no build step)."""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[2] / "web" / "static"
router = APIRouter(include_in_schema=False)
static_files = StaticFiles(directory=STATIC_DIR)


@router.get("/")
async def dashboard() -> FileResponse:
    """The page; it reads everything else from /v1 with the key it asks for."""
    # no-cache: a new release's page is fetched at once, the ETag makes an unchanged one a 304.
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})
