"""Errors the jobs domain raises; the API maps them to 422, 404 and 409."""


class SpecError(Exception):
    """A spec that cannot run; loc names the field as FastAPI's validation errors do."""

    def __init__(self, loc: list[str | int], msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


class JobNotFound(Exception):
    """No job has this id."""


class TransitionConflict(Exception):
    """The job's state does not allow what was asked (cancel a finished job, reuse a key)."""
