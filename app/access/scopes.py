"""What a key may do: read < submit < admin, each allowing what the ones before it allow."""

from enum import StrEnum


class Scope(StrEnum):
    READ = "read"  # GET everything of its project, the SSE stream and artifacts included
    SUBMIT = "submit"  # read, and create, cancel, upload, delete
    ADMIN = "admin"  # submit, keys and projects, every project


_RANK = {Scope.READ: 0, Scope.SUBMIT: 1, Scope.ADMIN: 2}


def allows(held: Scope, needed: Scope) -> bool:
    """Whether a key of scope `held` may do what needs `needed`."""
    return _RANK[held] >= _RANK[needed]
