"""Fetching a missing CIFAR archive, when the service allows it."""

import shutil
import tempfile
from pathlib import Path

from filelock import FileLock
from torchvision.datasets.utils import download_and_extract_archive

from worker.training.cifar import CIFAR_LAYOUTS, cifar_folder
from worker.training.errors import TrainingError


def ensure_cifar(data_dir: Path, name: str, *, allow_downloads: bool) -> Path:
    """The extracted CIFAR folder under `data_dir`, downloaded first if missing and allowed."""
    folder = cifar_folder(data_dir, name)
    if folder.is_dir():
        return folder
    if not allow_downloads:
        raise TrainingError(
            "dataset_missing",
            f"{name} not found at {folder} and downloads are off: place the extracted "
            f"{folder.name}/ folder in FLASHJOBS_DATA_DIR or set FLASHJOBS_ALLOW_DOWNLOADS=true",
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    # Several workers may start the same dataset at once: one downloads, the others wait and reuse it.
    with FileLock(str(data_dir / f".{name}.download.lock")):
        if not folder.is_dir():
            _download_and_extract(data_dir, name, folder)
    return folder


def _download_and_extract(data_dir: Path, name: str, folder: Path) -> None:
    archive = CIFAR_LAYOUTS[name].archive
    # Extract next to the target and rename, so a crash never leaves a half-extracted dataset behind.
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=f".{name}-download-") as tmp:
        try:
            download_and_extract_archive(archive.url, download_root=tmp, filename=archive.filename, md5=archive.tgz_md5)
        except Exception as e:  # network errors come in many types (URLError, OSError, RuntimeError for md5)
            raise TrainingError(
                "dataset_missing",
                f"{name} not found at {folder} and downloading {archive.url} failed ({e}); place the extracted "
                f"{folder.name}/ folder in FLASHJOBS_DATA_DIR",
            ) from e
        extracted = Path(tmp) / archive.base_folder
        if not extracted.is_dir():
            raise TrainingError("bad_dataset", f"{archive.url} did not contain {archive.base_folder}/")
        shutil.move(str(extracted), str(folder))
