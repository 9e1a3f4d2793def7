"""The one exception type the training side raises for failures a user can act on."""


class TrainingError(Exception):
    """A failure with a machine-readable `type` (dataset_missing, bad_dataset, bad_parent, out_of_memory)."""

    def __init__(self, type: str, message: str):
        super().__init__(message)
        self.type = type
        self.message = message

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"
