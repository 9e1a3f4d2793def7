"""Job priorities: a free worker takes the highest-priority runnable job, and within a priority the oldest."""

from enum import IntEnum


class Priority(IntEnum):
    # Stored as the integer, so that SQL orders by it; the API speaks the names.
    low = 0
    normal = 1
    high = 2
