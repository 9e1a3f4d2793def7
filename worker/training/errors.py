"""TrainingError, the failures a user can act on, and the translation of library errors into it."""

from contextlib import contextmanager


class TrainingError(Exception):
    """A failure with a machine-readable `type` (dataset_missing, bad_dataset, bad_parent, out_of_memory)."""

    def __init__(self, type: str, message: str):
        super().__init__(message)
        self.type = type
        self.message = message  # also str(error)


@contextmanager
def as_training_errors():
    """Re-raise the failures a user can act on (out of memory, undecodable images) as TrainingError."""
    import torch  # here, so that importing this module stays cheap for code that only needs the type
    from PIL import UnidentifiedImageError

    try:
        yield
    except torch.cuda.OutOfMemoryError as e:
        raise TrainingError("out_of_memory", f"{e} (try a smaller batch_size or precision 16/bf16)") from e
    except RuntimeError as e:
        if "out of memory" not in str(e).lower():  # CPU and older CUDA paths raise plain RuntimeErrors
            raise
        raise TrainingError("out_of_memory", f"{e} (try a smaller batch_size or precision 16/bf16)") from e
    except UnidentifiedImageError as e:
        raise TrainingError("bad_dataset", f"an image could not be decoded: {e}") from e
