"""A dataset's statuses, and the sets of them that code branches on."""

from enum import StrEnum


class DatasetStatus(StrEnum):
    IMPORTING = "importing"  # the server is downloading the archive (URL imports)
    VALIDATING = "validating"  # the archive is being unpacked and its images decoded
    READY = "ready"
    INVALID = "invalid"  # stored with its problems, but nothing can train on it


PENDING = frozenset({DatasetStatus.IMPORTING, DatasetStatus.VALIDATING})
SETTLED = frozenset({DatasetStatus.READY, DatasetStatus.INVALID})
