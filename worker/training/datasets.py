"""Labelled image splits, and the seeded class-balanced selections made from them."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Split:
    """Images (uint8 N x 3 x H x W array, or a list of image file paths) and their integer labels."""

    images: np.ndarray | list[Path]
    labels: np.ndarray

    def subset(self, indices: np.ndarray) -> "Split":
        """The split restricted to `indices` (kept in the given order)."""
        if isinstance(self.images, np.ndarray):
            return Split(self.images[indices], self.labels[indices])
        return Split([self.images[i] for i in indices], self.labels[indices])

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class LabelledDataset:
    """A train and a validation split with the names of their classes."""

    train: Split
    val: Split
    class_names: list[str]
    native_image_size: int | None  # None when images come in any size (folders)
    default_image_size: int | None = None  # folders and uploads: what the images' sizes suggest


def _shuffled_rank_within_class(labels: np.ndarray, seed: int) -> np.ndarray:
    """For each sample, its position in a seeded shuffle of its own class."""
    order = np.random.default_rng(seed).permutation(len(labels))
    order = order[np.argsort(labels[order], kind="stable")]  # grouped by class, shuffled within
    ranks = np.empty(len(labels), dtype=np.int64)
    starts = np.searchsorted(labels[order], labels[order])  # where each sample's class starts in `order`
    ranks[order] = np.arange(len(labels)) - starts
    return ranks


def balanced_subset(labels: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """Indices of a deterministic subset of at most `limit` samples, as class-balanced as the classes allow."""
    if limit is None or limit >= len(labels):
        return np.arange(len(labels))
    ranks = _shuffled_rank_within_class(labels, seed)
    # Round-robin over classes: every class's first sample, then every class's second, ...
    round_robin = np.lexsort((labels, ranks))
    return np.sort(round_robin[:limit])


def holdout_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of a seeded, class-balanced `fraction` of each class (none from a class with a single sample)."""
    ranks = _shuffled_rank_within_class(labels, seed)
    counts = np.bincount(labels)
    per_class = np.where(counts >= 2, np.maximum(1, np.round(counts * fraction)), 0).astype(np.int64)
    return np.flatnonzero(ranks < per_class[labels])
