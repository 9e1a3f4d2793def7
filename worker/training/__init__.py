"""The training recipe and its parts. Importing any of them applies the Flash shims (compat) first."""

from worker.training import compat  # noqa: F401  (before any module of this package imports flash)
