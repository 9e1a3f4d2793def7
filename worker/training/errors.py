"""TrainingError, the failures a user can act on, the translation of library errors into it, and the wording of
every job error in the user's terms (no server paths, no object reprs, no tracebacks)."""

import re
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

# `<fsspec.implementations.local.LocalFileOpener object at 0x7f...>` -> `a LocalFileOpener`
OBJECT_REPR = re.compile(r"<(?:[\w.]+\.)?(\w+) object at 0x[0-9a-fA-F]+>")


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
        # PIL names the open file object, not its path; Flash's loader holds the path in `file_path`.
        where = _local_in_traceback(e.__traceback__, "file_path") or "an image of the dataset"
        raise TrainingError("bad_dataset", f"{where} is not an image that can be decoded") from e


def _local_in_traceback(tb: TracebackType | None, name: str) -> str | None:
    found = None
    while tb is not None:
        value = tb.tb_frame.f_locals.get(name)
        found = value if isinstance(value, str) else found
        tb = tb.tb_next
    return found


def in_user_terms(message: str, *, data_dir: Path, artifact_dir: Path) -> str:
    """A job error as its user reads it: paths relative to the data (or artifact) directory, object reprs as
    their type, and a DataLoader worker's re-raised traceback as its last line."""
    if "Original Traceback" in message:  # torch re-raises a loader worker's error with its whole traceback
        lines = [line for line in message.splitlines() if line.strip()]
        message = lines[-1] if lines else message
    for root, shown in ((data_dir.resolve(), ""), (artifact_dir.resolve(), "artifacts/")):
        message = message.replace(f"{root}/", shown).replace(str(root), shown.rstrip("/") or ".")
    return OBJECT_REPR.sub(lambda match: f"a {match.group(1)}", message)
