"""The most work one submission may ask for: each maximum is a FLASHJOBS_* setting, named in its 422."""

from collections.abc import Sequence

from app.core.config import Settings
from app.core.errors import Invalid
from app.jobs.schemas import JobSpec


def _over(loc: list[str | int], what: str, value: int, limit: int, setting: str) -> Invalid:
    return Invalid(loc, f"{what} {value} is over the limit of {limit} (FLASHJOBS_{setting.upper()} raises it)")


def check_limits(steps: Sequence[JobSpec], *, loc: list[str | int], settings: Settings) -> None:
    """Raise Invalid naming the field, the limit and its setting for the first step over a maximum."""
    if len(steps) > settings.max_chain_steps:
        raise _over(loc, "a chain of", len(steps), settings.max_chain_steps, "max_chain_steps")
    for index, spec in enumerate(steps):
        step_loc = [*loc, index] if loc[-1:] == ["steps"] else loc
        per_job = (
            (["dataset", "image_size"], spec.dataset.image_size or 0, settings.max_image_size, "max_image_size"),
            (["trainer", "batch_size"], spec.trainer.batch_size, settings.max_batch_size, "max_batch_size"),
            (["trainer", "max_epochs"], spec.trainer.max_epochs, settings.max_epochs, "max_epochs"),
            (["trainer", "devices"], spec.trainer.devices, settings.max_devices, "max_devices"),
        )
        for field, value, limit, setting in per_job:
            if value > limit:
                raise _over([*step_loc, *field], field[-1], value, limit, setting)
    total = sum(spec.trainer.max_epochs for spec in steps)
    if total > settings.max_chain_epochs:
        raise _over(loc, "the chain's epochs total", total, settings.max_chain_epochs, "max_chain_epochs")
