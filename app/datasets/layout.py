"""Which files of an unpacked archive are which class of which split: `<class>/<image>`, or `train/` plus
`val/` (or `valid/`, `validation/`, `test/`), with or without one enclosing top folder."""

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from app.core.errors import Invalid
from app.datasets.archive import LOC, Extracted

TRAIN_NAMES = ("train", "training")
VAL_NAMES = ("val", "valid", "validation", "test")


@dataclass
class Layout:
    """Candidate images per split, in the classes' sorted order; `unused` are files outside any class folder."""

    classes: list[str]
    train: list[tuple[PurePosixPath, int]]
    val: list[tuple[PurePosixPath, int]] | None  # None: a holdout of train is split off at training time
    split_dirs: dict[str, PurePosixPath]  # "train" (and "val"): their folders in the archive
    unused: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def _strip_enclosing_folder(extracted: Extracted) -> PurePosixPath:
    """The one folder that encloses everything (hymenoptera_data/), or the archive's root."""
    firsts = {path.parts[0] for path in extracted.files if len(path.parts) > 1}
    loose = [path for path in extracted.files if len(path.parts) == 1]
    if len(firsts) == 1 and not loose:
        (only,) = firsts
        if only.lower() not in (*TRAIN_NAMES, *VAL_NAMES) and any(len(p.parts) > 2 for p in extracted.files):
            return PurePosixPath(only)
    return PurePosixPath()


def find_layout(extracted: Extracted) -> Layout:
    """Classes and splits by folder names; refuses (422) a tree that cannot be a classification dataset."""
    root = _strip_enclosing_folder(extracted)
    top_folders = {p.relative_to(root).parts[0] for p in extracted.folders if p.is_relative_to(root) and p != root}
    by_lower = {name.lower(): name for name in top_folders}
    train_dir = next((by_lower[n] for n in TRAIN_NAMES if n in by_lower), None)
    unused: list[tuple[str, str]] = []
    if train_dir is None:
        splits = {"train": root}
        val_dir = None
    else:
        val_dir = next((by_lower[n] for n in VAL_NAMES if n in by_lower), None)
        splits = {"train": root / train_dir, **({"val": root / val_dir} if val_dir else {})}
    groups: dict[str, dict[str, list[PurePosixPath]]] = {"train": {}, "val": {}}
    outside = "not in a class folder of " + " or ".join(
        f"{folder}/" if folder.parts else "the archive's top level" for folder in splits.values()
    )
    for path in sorted(extracted.files):
        split, class_name = _place(path, splits)
        if split is None:
            unused.append((str(path), outside))
        else:
            groups[split].setdefault(class_name, []).append(path)
    _refuse_empty_class_folders(extracted, splits, groups)
    classes = sorted(groups["train"])
    if len(classes) < 2:
        where = f"{splits['train']}/" if splits["train"].parts else "the archive's top level"
        raise Invalid(
            LOC,
            f"found {len(classes)} class folder(s) with files in {where}: a classification dataset needs at least 2",
        )
    strays = sorted(set(groups["val"]) - set(classes))
    if strays:
        raise Invalid(LOC, f"{splits['val']}/ has classes that {splits['train']}/ lacks: {strays[:10]}")
    if val_dir is not None and not groups["val"]:
        raise Invalid(LOC, f"the validation folder {splits['val']}/ has no class folders with files")
    label = {name: index for index, name in enumerate(classes)}
    train = [(path, label[name]) for name in classes for path in groups["train"][name]]
    val = [(path, label[name]) for name in classes for path in groups["val"].get(name, [])] if val_dir else None
    return Layout(classes=classes, train=train, val=val, split_dirs=splits, unused=unused)


def _place(path: PurePosixPath, splits: dict[str, PurePosixPath]) -> tuple[str | None, str]:
    for split, folder in splits.items():
        if path.is_relative_to(folder):
            inside = path.relative_to(folder).parts
            if len(inside) >= 2 and not (split == "train" and len(splits) == 1 and _is_split_name(inside[0])):
                return split, inside[0]
    return None, ""


def _is_split_name(name: str) -> bool:
    # Without train/, a top folder named val/ or test/ is no class: those images are reported, not learned.
    return name.lower() in VAL_NAMES


def _refuse_empty_class_folders(
    extracted: Extracted, splits: dict[str, PurePosixPath], groups: dict[str, dict[str, list[PurePosixPath]]]
) -> None:
    """An empty class folder means the archive is not what its author thinks: refuse, naming it."""
    for folder in sorted(extracted.folders):
        for split, split_dir in splits.items():
            if folder.parent != split_dir or (len(splits) == 1 and _is_split_name(folder.name)):
                continue
            if folder.name not in groups[split]:
                raise Invalid(LOC, f"class folder {folder}/ has no files")
