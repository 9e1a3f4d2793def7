"""Webhook tests: the service's own network allowed for the receiver, fast retries, and no background deliverer
unless a test asks for it (so each test drives deliveries itself and can count attempts)."""

import pytest

from tests.helpers import free_port
from tests.webhooks.receiver import Receiver


@pytest.fixture
def webhook_settings(service_env, monkeypatch):
    from app.core.config import get_settings

    settings = {
        "FLASHJOBS_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.0/8"]',
        "FLASHJOBS_WEBHOOK_BACKOFF_S": "0.2",
        "FLASHJOBS_WEBHOOK_TIMEOUT_S": "1",
        "FLASHJOBS_RECONCILE_IN_API": "false",
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    return settings


@pytest.fixture
def receiver():
    started = Receiver(port=free_port()).start()
    yield started
    started.stop()
