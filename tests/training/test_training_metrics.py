"""The epoch metrics equal an independent computation (scikit-learn) on the same predictions."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

from worker.training.metrics import SplitMetrics


@pytest.mark.parametrize("f1_average", ["macro", "micro", "weighted"])
def test_split_metrics_match_sklearn_over_several_batches(f1_average):
    num_classes, generator = 5, torch.Generator().manual_seed(0)
    targets = torch.arange(90) % num_classes  # every class present, as one-vs-rest AUROC needs
    logits = torch.randn(90, num_classes, generator=generator) + 1.5 * torch.nn.functional.one_hot(targets)
    metrics = SplitMetrics(num_classes, f1_average)
    batch_losses = []
    for batch in torch.split(torch.arange(90), [32, 32, 26]):  # uneven batches, like a last partial batch
        loss = torch.nn.functional.cross_entropy(logits[batch], targets[batch])
        metrics.update(logits[batch], targets[batch], loss)
        batch_losses.append(loss)

    values = metrics.compute()

    probabilities = logits.softmax(dim=-1).numpy()
    predictions = probabilities.argmax(axis=1)
    y = targets.numpy()
    assert values["accuracy"] == pytest.approx(accuracy_score(y, predictions), abs=1e-6)
    assert values["f1"] == pytest.approx(f1_score(y, predictions, average=f1_average), abs=1e-6)
    auroc = roc_auc_score(y, probabilities, multi_class="ovr", average="macro")
    assert values["auroc"] == pytest.approx(auroc, abs=1e-5)
    assert values["loss"] == pytest.approx(log_loss(y, probabilities), abs=1e-5)  # mean over images, not batches


def test_reset_starts_a_new_epoch():
    metrics = SplitMetrics(3, "macro")
    metrics.update(torch.eye(3) * 5, torch.tensor([2, 0, 1]), torch.tensor(9.0))  # all wrong
    metrics.reset()
    metrics.update(torch.eye(3) * 5, torch.tensor([0, 1, 2]), torch.tensor(0.1))  # all right
    values = metrics.compute()
    assert values["accuracy"] == 1.0 and values["loss"] == pytest.approx(0.1)


def test_a_class_missing_from_the_epoch_keeps_values_finite():
    """Possible with a small val_limit; torchmetrics scores that class's AUROC as 0 (scikit-learn would refuse)."""
    metrics = SplitMetrics(3, "macro")
    metrics.update(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]), torch.tensor(1.0))
    values = metrics.compute()
    assert set(values) == {"accuracy", "f1", "auroc", "loss"} and all(np.isfinite(v) for v in values.values())


def test_non_finite_values_are_left_out():
    """A diverged loss (NaN) cannot travel as JSON; the epoch's other values still do."""
    metrics = SplitMetrics(3, "macro")
    metrics.update(torch.eye(3), torch.tensor([0, 1, 2]), torch.tensor(float("nan")))
    assert set(metrics.compute()) == {"accuracy", "f1", "auroc"}
