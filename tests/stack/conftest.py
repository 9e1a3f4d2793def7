"""Fixtures of the stack tests."""

from collections.abc import Callable, Iterator

import pytest

from tests.stack.running_up import Up, clean_up, new_up


@pytest.fixture
def make_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Up]]:
    """make_up(**settings) -> a new Up; each is stopped and cleaned up after the test."""
    made: list[Up] = []

    def make(**settings: str) -> Up:
        made.append(new_up(tmp_path_factory, **settings))
        return made[-1]

    yield make
    for up in made:
        clean_up(up)
