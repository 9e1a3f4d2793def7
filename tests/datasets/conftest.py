"""Fixtures of the dataset tests."""

import pytest


@pytest.fixture
def settings_env(monkeypatch):
    """Set FLASHJOBS_* settings for the next requests."""
    from app.core.config import get_settings

    def set_env(**values: object) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"FLASHJOBS_{key.upper()}", str(value))
        get_settings.cache_clear()

    yield set_env
    get_settings.cache_clear()
