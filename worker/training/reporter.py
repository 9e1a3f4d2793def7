"""The interface through which a training run reports to the service."""

from typing import Protocol


class Reporter(Protocol):
    """Receives a run's metrics and progress (on rank zero only) and tells every rank when to stop."""

    def epoch_end(self, epoch: int, values: dict[str, float]) -> None:
        """All values of one finished epoch (after its validation), keyed "{split}_{metric}".

        train_ and val_ accuracy, f1, auroc and loss, plus train_lr, train_epoch_seconds and
        train_images_per_second; a value that is not finite (a diverged loss) is left out.
        Must be idempotent: a resumed run first re-reports every recorded epoch with identical values.
        """

    def progress(
        self, *, epoch: int, batch: int, num_batches: int, images_per_second: float, eta_seconds: float
    ) -> None:
        """Within-epoch progress: `batch` of `num_batches` done (epochs count from 0); `eta_seconds` estimates
        the rest of the run (its training batches and validations) at the current epoch's pace."""

    def should_stop(self) -> bool:
        """Whether a cancel was requested; called after every training batch (on every rank), so keep it cheap."""
