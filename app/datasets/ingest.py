"""From an archive on disk to a staged dataset: unpack it safely, find its layout, decode every image, summarise."""

import json
import os
import shutil
import statistics
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from app.core.config import Settings
from app.datasets.archive import ArchiveLimits, extract
from app.datasets.images import IMAGE_EXTENSIONS, ImageInfo, contact_sheet, default_image_size, inspect_image
from app.datasets.layout import Layout, find_layout
from app.datasets.status import DatasetStatus
from app.datasets.storage import MANIFEST, SAMPLES

FILES = "files"  # the archive's tree, inside the dataset's folder
SAMPLES_PER_CLASS = 4


@dataclass(frozen=True)
class Ingested:
    """What validation decided; a ready dataset's files wait in `staging` to be renamed into place."""

    status: DatasetStatus
    summary: dict[str, Any]
    staging: Path


def archive_limits(settings: Settings) -> ArchiveLimits:
    return ArchiveLimits(
        max_entries=settings.dataset_max_entries,
        max_unpacked_bytes=settings.dataset_max_unpacked_bytes,
        max_compression_ratio=settings.dataset_max_compression_ratio,
    )


def ingest(archive: Path, *, staging: Path, settings: Settings) -> Ingested:
    """Validate `archive` into the new folder `staging`; a refused archive (422/413) leaves nothing there."""
    staging.mkdir(parents=True)
    try:
        files = staging / FILES
        layout = find_layout(extract(archive, files, archive_limits(settings)))
        for path, _reason in layout.unused:
            (files / path).unlink()
        problems: list[tuple[str, str]] = list(layout.unused)
        infos: list[ImageInfo] = []
        kept: dict[str, list[tuple[PurePosixPath, int]]] = {}
        for split, entries in (("train", layout.train), ("val", layout.val or [])):
            kept[split] = []
            for (path, label), result in zip(entries, _inspect_all(files, entries, settings), strict=True):
                if isinstance(result, str):
                    problems.append((str(path), result))
                    (files / path).unlink()
                else:
                    kept[split].append((path, label))
                    infos.append(result)
        blocking = _why_it_cannot_train(layout, kept)
        problems += blocking
        status = DatasetStatus.INVALID if blocking else DatasetStatus.READY
        summary = _summary(layout, kept, infos, problems, settings)
        if status is DatasetStatus.READY:
            manifest = {
                "classes": layout.classes,
                "image_size": summary["image_size"],
                "train": [[str(p), label] for p, label in kept["train"]],
                "val": [[str(p), label] for p, label in kept["val"]] if layout.val is not None else None,
            }
            (staging / MANIFEST).write_text(json.dumps(manifest))
            samples = {name: [] for name in layout.classes}
            for path, label in kept["train"]:
                if len(samples[layout.classes[label]]) < SAMPLES_PER_CLASS:
                    samples[layout.classes[label]].append(files / path)
            contact_sheet(samples, staging / SAMPLES)
        else:
            shutil.rmtree(staging)
        return Ingested(status=status, summary=summary, staging=staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _inspect_all(files: Path, entries: list[tuple[PurePosixPath, int]], settings: Settings) -> list[ImageInfo | str]:
    """Decode every image; Pillow's decoders release the GIL, so threads use every core."""

    def one(path: PurePosixPath) -> ImageInfo | str:
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            return f"not an image file name (training reads {', '.join(IMAGE_EXTENSIONS)})"
        return inspect_image(files / path, max_pixels=settings.dataset_max_image_pixels)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(one, [path for path, _ in entries]))


def _why_it_cannot_train(layout: Layout, kept: dict[str, list[tuple[PurePosixPath, int]]]) -> list[tuple[str, str]]:
    counts = Counter(label for _, label in kept["train"])
    train_dir, val_dir = layout.split_dirs["train"], layout.split_dirs.get("val")
    reasons = [
        (str(train_dir / name), "no valid training images left: the class cannot be learned")
        for label, name in enumerate(layout.classes)
        if counts[label] == 0
    ]
    if val_dir is not None and not kept["val"]:
        reasons.append((str(val_dir), "no valid validation images left"))
    if val_dir is None and not any(count >= 2 for count in counts.values()):
        reasons.append((str(train_dir), "no class has 2 valid images, so no validation holdout can be split off"))
    return reasons


def _summary(
    layout: Layout,
    kept: dict[str, list[tuple[PurePosixPath, int]]],
    infos: list[ImageInfo],
    problems: list[tuple[str, str]],
    settings: Settings,
) -> dict[str, Any]:
    splits = {split: {name: 0 for name in layout.classes} for split in kept if split == "train" or layout.val}
    for split, entries in kept.items():
        for _, label in entries:
            if split in splits:
                splits[split][layout.classes[label]] += 1

    def spread(values: list[int]) -> dict[str, int] | None:
        return {"min": min(values), "median": int(statistics.median(values)), "max": max(values)} if values else None

    return {
        "layout": "train_val" if layout.val is not None else "class_folders",
        "classes": layout.classes,
        "splits": splits,
        "images": len(infos),
        "image_sizes": {"width": spread([i.width for i in infos]), "height": spread([i.height for i in infos])},
        "formats": dict(Counter(info.format for info in infos).most_common()),
        "image_size": default_image_size(infos),
        "problem_count": len(problems),
        "problems": [{"path": path, "reason": reason} for path, reason in problems[: settings.dataset_max_problems]],
    }
