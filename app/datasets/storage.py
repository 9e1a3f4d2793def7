"""Where datasets lie in the shared artifact store, so that every worker host finds them at the same path."""

import shutil
import time
from pathlib import Path

MANIFEST = "manifest.json"
SAMPLES = "samples.png"


def datasets_root(artifact_dir: Path) -> Path:
    return artifact_dir / "datasets"


def dataset_dir(artifact_dir: Path, dataset_id: str) -> Path:
    """A stored dataset's files: its images in their archive layout, manifest.json and samples.png."""
    return datasets_root(artifact_dir) / dataset_id


def incoming_dir(artifact_dir: Path) -> Path:
    """Uploads and extractions in progress; on the same filesystem as the datasets, so keeping one is a rename."""
    path = datasets_root(artifact_dir) / ".incoming"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sweep_incoming(artifact_dir: Path, *, max_age_s: float) -> int:
    """Remove what uploads and imports left in .incoming when their process died; the number removed."""
    folder = datasets_root(artifact_dir) / ".incoming"
    if not folder.is_dir():
        return 0
    cutoff, removed = time.time() - max_age_s, 0
    for entry in folder.iterdir():
        try:
            if entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except FileNotFoundError:  # its own request finished with it meanwhile
            continue
    return removed
