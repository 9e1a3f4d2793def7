"""Where datasets lie in the shared artifact store, so that every worker host finds them at the same path."""

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
