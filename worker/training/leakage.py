"""Leakage along a chain: which of a finetune's validation images its parent trained on.

Two matches count: the same content (a hash of the pixels of an array image, of the bytes of an image file) and
the same picture re-encoded or resized (a 64-bit DCT perceptual hash within PHASH_MAX_DISTANCE bits). The
perceptual pairs are found without comparing all pairs: the hash is cut into four 16-bit quarters, and two hashes
at most 7 bits apart agree on some quarter up to one bit (pigeonhole), so each child quarter is looked up, with
its 16 one-bit neighbours, in the parent's sorted quarters, and only those candidates are compared in full.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from app.jobs.schemas import JobSpec
from worker.training.data import load_dataset
from worker.training.datasets import Split

PHASH_MAX_DISTANCE = 7  # the most the quarter probes find; JPEG copies of 32 px images land within 0-6 bits
_PROBES = (0, *(1 << b for b in range(16)))  # a quarter and its one-bit neighbours: distances up to 7 are found
_SIZE = 32  # pHash's working size: the image is reduced to 32 x 32 grey levels, of which 8 x 8 DCT terms are kept
_BATCH = 4096  # images reduced at a time (bounds the float32 buffer to ~50 MB)
MAX_EXAMPLES = 10


@dataclass(frozen=True)
class Fingerprints:
    """Per image: a content hash (16 bytes, as an |S16 array) and a 64-bit perceptual hash."""

    exact: np.ndarray
    phash: np.ndarray


def _dct_matrix(n: int, keep: int) -> np.ndarray:
    """The first `keep` rows of the orthonormal DCT-II matrix of size n."""
    k = np.arange(keep)[:, None]
    i = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    matrix[0] /= np.sqrt(2)
    return matrix.astype(np.float32)


_DCT8 = _dct_matrix(_SIZE, 8)
_BIT_WEIGHTS = (np.uint64(1) << np.arange(64, dtype=np.uint64)).astype(np.uint64)


def phash_of_grey(grey: np.ndarray) -> np.ndarray:
    """64-bit pHashes (uint64) of N x 32 x 32 grey images: the 8 x 8 lowest DCT frequencies against their median."""
    low = _DCT8 @ grey.astype(np.float32) @ _DCT8.T  # N x 8 x 8
    flat = low.reshape(len(grey), 64)
    # The median of the 63 AC terms: the DC term (mean brightness) would dominate it.
    bits = flat > np.median(flat[:, 1:], axis=1, keepdims=True)
    return (bits.astype(np.uint64) * _BIT_WEIGHTS).sum(axis=1, dtype=np.uint64)


def _grey_32(images: np.ndarray) -> np.ndarray:
    """uint8 N x 3 x H x W -> float32 N x 32 x 32 luma (area-averaged when H and W are multiples of 32)."""
    grey = images[:, 0] * np.float32(0.299) + images[:, 1] * np.float32(0.587) + images[:, 2] * np.float32(0.114)
    n, h, w = grey.shape
    if (h, w) == (_SIZE, _SIZE):
        return grey
    if h % _SIZE == 0 and w % _SIZE == 0:
        return grey.reshape(n, _SIZE, h // _SIZE, _SIZE, w // _SIZE).mean(axis=(2, 4))
    return np.stack([_resize_grey(g) for g in grey])


def _resize_grey(grey: np.ndarray) -> np.ndarray:
    image = Image.fromarray(grey.astype(np.float32), mode="F")
    return np.asarray(image.resize((_SIZE, _SIZE), Image.BILINEAR), dtype=np.float32)


def fingerprints(split: Split) -> Fingerprints:
    """Fingerprints of every image of a split: an array of images, or image files."""
    if isinstance(split.images, np.ndarray):
        return _array_fingerprints(split.images)
    return _file_fingerprints(split.images)


def _array_fingerprints(images: np.ndarray) -> Fingerprints:
    exact = np.array([hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in images], dtype="S16")
    phash = np.empty(len(images), dtype=np.uint64)
    for start in range(0, len(images), _BATCH):
        phash[start : start + _BATCH] = phash_of_grey(_grey_32(images[start : start + _BATCH]))
    return Fingerprints(exact, phash)


def _file_fingerprints(paths: list[Path]) -> Fingerprints:
    exact = np.array([hashlib.blake2b(Path(p).read_bytes(), digest_size=16).digest() for p in paths], dtype="S16")
    grey = np.empty((len(paths), _SIZE, _SIZE), dtype=np.float32)
    for index, path in enumerate(paths):
        with Image.open(path) as image:
            image.draft("L", (_SIZE * 2, _SIZE * 2))  # JPEGs decode at a fraction of their size: far cheaper
            grey[index] = np.asarray(image.convert("L").resize((_SIZE, _SIZE), Image.BILINEAR), dtype=np.float32)
    return Fingerprints(exact, phash_of_grey(grey))


def popcount64(values: np.ndarray) -> np.ndarray:
    """Bits set in each uint64 (SWAR; numpy 1.x has no bit_count)."""
    v = values.astype(np.uint64)
    v = v - ((v >> np.uint64(1)) & np.uint64(0x5555555555555555))
    v = (v & np.uint64(0x3333333333333333)) + ((v >> np.uint64(2)) & np.uint64(0x3333333333333333))
    v = (v + (v >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    with np.errstate(over="ignore"):  # the multiply sums the bytes into the top byte; what overflows is unused
        return ((v * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.int64)


def near_pairs(child: np.ndarray, parent: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(child index, parent index, distance) of every pair of pHashes at most max_distance (<= 7) bits apart."""
    assert max_distance <= 7, "the quarter probes find distances up to 7"
    keys, distances = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
    for quarter in range(4):
        shift = np.uint64(16 * quarter)
        parent_q = ((parent >> shift) & np.uint64(0xFFFF)).astype(np.int64)
        order = np.argsort(parent_q, kind="stable")
        sorted_q = parent_q[order]
        child_q = ((child >> shift) & np.uint64(0xFFFF)).astype(np.int64)
        for probe in _PROBES:
            wanted = child_q ^ probe
            lo, hi = np.searchsorted(sorted_q, wanted, "left"), np.searchsorted(sorted_q, wanted, "right")
            counts = hi - lo
            total = int(counts.sum())
            if not total:
                continue
            rows = np.repeat(np.arange(len(child)), counts)
            # Each row's run of positions lo..hi-1, laid end to end.
            columns = order[np.repeat(lo, counts) + np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)]
            distance = popcount64(child[rows] ^ parent[columns])
            close = distance <= max_distance  # compared at once: the candidates never pile up
            keys.append(rows[close] * len(parent) + columns[close])
            distances.append(distance[close])
    key, first = np.unique(np.concatenate(keys), return_index=True)
    return key // max(len(parent), 1), key % max(len(parent), 1), np.concatenate(distances)[first]


def _nearest_parents(child: np.ndarray, parent: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """For each child pHash, the index of a parent within max_distance bits (the closest) or -1, and the distance.

    Hashes are compared once per distinct value: a thousand flat images share one hash, not a million pairs.
    """
    child_unique, child_of = np.unique(child, return_inverse=True)
    parent_unique, parent_first = np.unique(parent, return_index=True)
    c, p, d = near_pairs(child_unique, parent_unique, max_distance)
    order = np.lexsort((d, c))  # per child hash, the closest parent first
    c, p, d = c[order], p[order], d[order]
    first = np.unique(c, return_index=True)[1]
    best = np.full(len(child_unique), -1, dtype=np.int64)
    distance = np.full(len(child_unique), -1, dtype=np.int64)
    best[c[first]], distance[c[first]] = parent_first[p[first]], d[first]
    return best[child_of], distance[child_of]


def val_in_parent_train(
    child_val: Fingerprints,
    parent_train: Fingerprints,
    *,
    child_names: list,
    parent_names: list,
    max_distance: int = PHASH_MAX_DISTANCE,
) -> dict | None:
    """The warning for child validation images found in the parent's training images, or None when none are."""
    parent_of_hash = {h: i for i, h in enumerate(parent_train.exact.tolist())}
    exact = np.array([parent_of_hash.get(h, -1) for h in child_val.exact.tolist()], dtype=np.int64)
    near, distance = _nearest_parents(child_val.phash, parent_train.phash, max_distance)
    exact_count = int((exact >= 0).sum())
    perceptual = np.flatnonzero((exact < 0) & (near >= 0))
    if exact_count + len(perceptual) == 0:
        return None
    examples = [
        {"val": child_names[i], "parent_train": parent_names[exact[i]], "match": "exact"}
        for i in np.flatnonzero(exact >= 0)[:MAX_EXAMPLES]
    ]
    examples += [
        {
            "val": child_names[i],
            "parent_train": parent_names[near[i]],
            "match": "perceptual",
            "distance": int(distance[i]),
        }
        for i in perceptual[: MAX_EXAMPLES - len(examples)]
    ]
    return {
        "type": "val_in_parent_train",
        "count": exact_count + len(perceptual),
        "exact": exact_count,
        "perceptual": len(perceptual),
        "of": len(child_val.exact),
        "examples": examples,
    }


def _names(split: Split) -> list:
    """How examples name an image: its class folder and file, or its position in the (limited) split."""
    if isinstance(split.images, np.ndarray):
        return list(range(len(split)))
    return [f"{Path(p).parent.name}/{Path(p).name}" for p in split.images]


def check_chain(
    child: JobSpec, parent: JobSpec, *, data_dir: Path, allow_downloads: bool, artifact_dir: Path | None
) -> list[dict]:
    """The warnings of a finetune whose parent trained on `parent`'s data: [] when no validation image leaked."""
    child_val = load_dataset(
        child.dataset,
        data_dir=data_dir,
        allow_downloads=allow_downloads,
        seed=child.trainer.seed,
        artifact_dir=artifact_dir,
    ).val
    parent_train = load_dataset(
        parent.dataset,
        data_dir=data_dir,
        allow_downloads=allow_downloads,
        seed=parent.trainer.seed,
        artifact_dir=artifact_dir,
    ).train
    warning = val_in_parent_train(
        fingerprints(child_val),
        fingerprints(parent_train),
        child_names=_names(child_val),
        parent_names=_names(parent_train),
    )
    return [warning] if warning else []
