"""The finetuning strategies map onto Flash's, and a resume repeats the unfreezing already done."""

import pytest

from app.jobs.schemas import FinetuneSpec
from worker.training.finetuning import ResumableFinetuning
from worker.training.model import build_classifier


@pytest.mark.parametrize(
    ("finetune", "metadata"),
    [
        (FinetuneSpec(strategy="freeze"), None),
        (FinetuneSpec(strategy="no_freeze"), None),
        (FinetuneSpec(strategy="freeze_unfreeze", unfreeze_epoch=3), 3),
        (FinetuneSpec(strategy="unfreeze_milestones", milestones=(2, 4), num_layers=5), ((2, 4), 5)),
    ],
)
def test_strategies_become_flash_strategy_arguments(finetune, metadata):
    callback = ResumableFinetuning(finetune)  # Flash validates the argument's shape here
    assert callback.strategy == finetune.strategy and callback.strategy_metadata == metadata


@pytest.mark.parametrize(("epochs_trained", "unfrozen"), [(2, "none"), (3, "last 5"), (5, "all")])
def test_resume_repeats_the_milestones_already_passed(make_spec, epochs_trained, unfrozen):
    model = build_classifier(make_spec(), num_classes=10, parent_backbone=None)  # a train spec: no parent needed
    finetune = FinetuneSpec(strategy="unfreeze_milestones", milestones=(2, 4), num_layers=5, train_bn=False)
    callback = ResumableFinetuning(finetune)
    callback.freeze_before_training(model)  # what Lightning's setup hook does again on every resume

    callback._repeat_unfreezing(model, epochs_trained=epochs_trained)

    layers = callback.flatten_modules(model.backbone)
    expected = {"none": [], "last 5": layers[-5:], "all": layers}[unfrozen]
    for layer in layers:
        for parameter in layer.parameters(recurse=False):
            assert parameter.requires_grad == any(layer is e for e in expected), layer
