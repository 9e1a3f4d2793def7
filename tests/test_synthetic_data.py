"""The synthetic CIFAR files of the offline demo: the real format, marked as synthetic, and learnable."""

from pathlib import Path

from app.synthetic_data import write_cifar10, write_cifar100


def test_synthetic_data_has_the_real_cifar_layout_and_is_marked(tmp_path):
    import pickle

    import numpy as np

    cifar10 = write_cifar10(tmp_path, train_per_class=5, val_per_class=2)
    cifar100 = write_cifar100(tmp_path, train_per_class=2, val_per_class=1)
    assert sorted(p.name for p in cifar10.iterdir()) == sorted(
        [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta", "SYNTHETIC.txt"]
    )
    assert sorted(p.name for p in cifar100.iterdir()) == ["SYNTHETIC.txt", "meta", "test", "train"]

    def load(path: Path) -> dict:
        return pickle.loads(path.read_bytes(), encoding="latin1")  # as readers of the official files do

    batches = [load(cifar10 / f"data_batch_{i}") for i in range(1, 6)]
    labels = np.concatenate([b["labels"] for b in batches])
    assert all(b["data"].dtype == np.uint8 and b["data"].shape[1] == 3072 for b in batches)
    assert np.bincount(labels).tolist() == [5] * 10
    assert len(load(cifar10 / "batches.meta")["label_names"]) == 10
    train = load(cifar100 / "train")
    assert train["data"].shape == (200, 3072) and sorted(set(train["fine_labels"])) == list(range(100))
    assert max(train["coarse_labels"]) == 19 and len(train["filenames"]) == 200
    meta = load(cifar100 / "meta")
    assert len(meta["fine_label_names"]) == 100 and len(meta["coarse_label_names"]) == 20
    assert all(name.startswith("synthetic") for name in meta["fine_label_names"])


def test_synthetic_classes_are_learnable(tmp_path):
    """A nearest-class-mean classifier on raw pixels already beats chance (0.1) by far."""
    import pickle

    import numpy as np

    folder = write_cifar10(tmp_path, train_per_class=40, val_per_class=20)
    train = [pickle.loads((folder / f"data_batch_{i}").read_bytes()) for i in range(1, 6)]
    x = np.concatenate([b["data"] for b in train]).astype(np.float32)
    y = np.concatenate([b["labels"] for b in train])
    val = pickle.loads((folder / "test_batch").read_bytes())
    means = np.stack([x[y == k].mean(0) for k in range(10)])
    predicted = np.argmin(((val["data"].astype(np.float32)[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (predicted == np.asarray(val["labels"])).mean() > 0.3


def test_no_pattern_is_another_one_mirrored():
    """Training flips images left to right, so a class whose mirror image is another class could not be learned."""
    import numpy as np

    from app.synthetic_data import PATTERNS, _pattern

    rng = np.random.default_rng(0)

    def spectrum(images: np.ndarray) -> np.ndarray:  # phase-free: each image has its own random phase or place
        return np.abs(np.fft.fft2(images)).mean(axis=0).ravel()

    centroids = {name: spectrum(_pattern(name, rng, 200, 32)) for name in PATTERNS}
    for name in PATTERNS:
        mirrored = spectrum(_pattern(name, rng, 200, 32)[:, :, ::-1])
        for other in set(PATTERNS) - {name}:
            # 0.0 for a diagonal mirrored against an anti-diagonal; at least 0.82 between the patterns used now
            distance = np.linalg.norm(mirrored - centroids[other]) / np.linalg.norm(centroids[other])
            assert distance > 0.5, f"{name} mirrored is {other}"
