"""A Reporter for tests that records every call, and can request a cancel or simulate a crash."""


class SimulatedCrash(Exception):
    """Raised by RecordingReporter to stand in for a worker dying mid-run."""


class RecordingReporter:
    """A Reporter that records every call in lists; it can also request a cancel or crash after N train batches."""

    def __init__(
        self,
        *,
        stop_after_batches: int | None = None,
        crash_after_batches: int | None = None,
        crash_at_epoch_end: int | None = None,
    ):
        self.epochs: list[tuple[int, dict[str, float]]] = []
        self.progress_calls: list[dict] = []
        self.batches_seen = 0
        self.stop_after_batches = stop_after_batches
        self.crash_after_batches = crash_after_batches
        self.crash_at_epoch_end = crash_at_epoch_end

    def epoch_end(self, epoch: int, values: dict[str, float]) -> None:
        self.epochs.append((epoch, dict(values)))
        if epoch == self.crash_at_epoch_end:
            raise SimulatedCrash(f"after reporting epoch {epoch}")

    def progress(self, **fields) -> None:
        self.progress_calls.append(fields)

    def should_stop(self) -> bool:
        self.batches_seen += 1
        if self.batches_seen == self.crash_after_batches:
            raise SimulatedCrash(f"at training batch {self.batches_seen}")
        return self.stop_after_batches is not None and self.batches_seen >= self.stop_after_batches

    @property
    def epoch_numbers(self) -> list[int]:
        return [epoch for epoch, _ in self.epochs]
