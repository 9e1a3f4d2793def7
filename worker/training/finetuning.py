"""Flash's finetuning callback (what flash.Trainer.finetune adds), made resumable after an unfreeze."""

import pytorch_lightning as pl
from flash.core.finetuning import FinetuningStrategies, FlashBaseFinetuning

from app.jobs.schemas import FinetuneSpec


class ResumableFinetuning(FlashBaseFinetuning):
    """FlashBaseFinetuning with two fixes that a run resumed after an unfreeze epoch needs (Flash 0.8.2, PL 1.9).

    1. Flash unfreezes by appending parameters to the optimizer's group 0; Lightning's `_store` only records
       param groups that are new, so the checkpoint kept the pre-unfreeze groups and loading the optimizer
       state failed ("loaded state dict contains a parameter group that doesn't match the size ...").
       Here every epoch start records the groups as they are.
    2. On resume, `setup` freezes the backbone again and Lightning restores the param groups but not the
       parameters' requires_grad (nor batch-norm's track_running_stats), so unfrozen layers would stay frozen.
       Here the first epoch after a resume repeats the unfreezing of the epochs already trained.
    """

    def __init__(self, finetune: FinetuneSpec):
        super().__init__(FinetuningStrategies(finetune.strategy), _strategy_metadata(finetune), finetune.train_bn)
        self._unfreeze_again = False

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._unfreeze_again = True

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._unfreeze_again:
            self._unfreeze_again = False
            self._repeat_unfreezing(pl_module, epochs_trained=trainer.current_epoch)
        super().on_train_epoch_start(trainer, pl_module)

    def _repeat_unfreezing(self, pl_module: pl.LightningModule, epochs_trained: int) -> None:
        """make_trainable for what finetune_function unfroze at the start of epochs before `epochs_trained`."""
        modules = self._get_modules_to_freeze(pl_module)
        if modules is None:
            return
        if self.strategy == FinetuningStrategies.FREEZE_UNFREEZE and self.strategy_metadata < epochs_trained:
            self.make_trainable(modules)
        elif self.strategy == FinetuningStrategies.UNFREEZE_MILESTONES:
            (first, second), num_layers = self.strategy_metadata
            layers = self.flatten_modules(modules)
            if first < epochs_trained:
                self.make_trainable(layers[-num_layers:])
            if second < epochs_trained:
                self.make_trainable(layers[:-num_layers])

    def _store(self, pl_module, opt_idx, num_param_groups, current_param_groups) -> None:
        names = {parameter: name for name, parameter in pl_module.named_parameters()}
        self._internal_optimizer_metadata[opt_idx] = self._apply_mapping_to_param_groups(current_param_groups, names)


def _strategy_metadata(finetune: FinetuneSpec) -> int | tuple | None:
    """The argument Flash's strategy takes: the unfreeze epoch, or ((e1, e2), num_layers)."""
    if finetune.strategy == "freeze_unfreeze":
        return finetune.unfreeze_epoch
    if finetune.strategy == "unfreeze_milestones":
        return (tuple(finetune.milestones), finetune.num_layers)
    return None
