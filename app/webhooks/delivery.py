"""Deliveries from the outbox: claimed in SQL, POSTed signed to the checked address, retried with backoff.

At least once: a delivery whose deliverer died is claimed again once its lock expires, with the same
`webhook-id`, so a receiver de-duplicates on it. A receiver that is down, slow or failing costs a deliverer
thread at most FLASHJOBS_WEBHOOK_TIMEOUT_S per attempt; training and the API never wait for one.
"""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update

from app.core import addresses
from app.core.config import Settings
from app.core.db import session_scope, utcnow
from app.webhooks.events import DeliveryStatus
from app.webhooks.models import Delivery, Webhook
from app.webhooks.signing import signature

ALLOW_SETTING = "FLASHJOBS_WEBHOOK_ALLOW_NETWORKS"
MAX_BACKOFF_S = 3600.0
LOG_ATTEMPTS = 20  # the attempts a delivery keeps in its log
BATCH = 50


@dataclass(frozen=True)
class _Due:
    id: str
    url: str
    secret: str
    body: bytes


@dataclass(frozen=True)
class _Attempt:
    status_code: int | None
    error: str | None
    seconds: float


def deliver_due(settings: Settings) -> int:
    """Attempt every delivery that is due now; how many were attempted."""
    due = _claim_due(settings)
    if not due:
        return 0
    with ThreadPoolExecutor(max_workers=min(settings.webhook_concurrency, len(due))) as pool:
        attempts = list(pool.map(lambda d: _post(d, settings), due))
    with session_scope() as session:
        for delivery, attempt in zip(due, attempts, strict=True):
            _record(session, delivery_id=delivery.id, attempt=attempt, settings=settings)
    return len(due)


def _claim_due(settings: Settings) -> list[_Due]:
    now = utcnow()
    lock = timedelta(seconds=settings.webhook_timeout_s * 2 + 30)  # past any attempt's end
    with session_scope() as session:
        candidates = session.execute(
            select(Delivery.id, Webhook.url, Webhook.secret, Delivery.payload)
            .join(Webhook, Webhook.id == Delivery.webhook_id)
            .where(
                Delivery.status == DeliveryStatus.PENDING,
                Delivery.next_attempt_at <= now,
                or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
            )
            .order_by(Delivery.next_attempt_at)
            .limit(BATCH)
        ).all()
        due = []
        for delivery_id, url, secret, payload in candidates:
            claimed = session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, or_(Delivery.locked_until.is_(None), Delivery.locked_until < now))
                .values(locked_until=now + lock)
            )
            if claimed.rowcount == 1:  # another deliverer (API process, host) did not take it first
                due.append(_Due(delivery_id, url, secret, json.dumps(payload, separators=(",", ":")).encode()))
        return due


def _post(delivery: _Due, settings: Settings) -> _Attempt:
    started = time.monotonic()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "flashjobs-webhooks",
        "webhook-id": delivery.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(
            delivery.secret, message_id=delivery.id, timestamp=timestamp, body=delivery.body
        ),
    }
    try:
        # Checked again at each attempt: the name may resolve elsewhere now than when the webhook was made.
        allow = addresses.allowed_networks(settings.webhook_allow_networks)
        host, port, address = addresses.checked_address(delivery.url, allow=allow, allow_setting=ALLOW_SETTING)
        parts = urlsplit(delivery.url)
        connection = addresses.pinned_connection(
            parts.scheme, host, port, address=address, timeout=settings.webhook_timeout_s
        )
        try:
            connection.request(
                "POST",
                (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                body=delivery.body,
                headers=headers,
            )
            response = connection.getresponse()
            response.read(64 * 1024)  # the answer is not used; a bounded read lets the connection close cleanly
            return _Attempt(response.status, None, time.monotonic() - started)
        finally:
            connection.close()
    except addresses.AddressRefused as exc:
        return _Attempt(None, str(exc), time.monotonic() - started)
    except Exception as exc:  # refused, reset, timed out, TLS, a malformed answer: each is a failed attempt
        return _Attempt(None, f"{type(exc).__name__}: {exc}", time.monotonic() - started)


def _record(session, *, delivery_id: str, attempt: _Attempt, settings: Settings) -> None:
    delivery = session.get(Delivery, delivery_id, populate_existing=True)
    if delivery is None:  # its webhook was deleted meanwhile
        return
    now = utcnow()
    entry = {
        "at": now.isoformat(),
        "status_code": attempt.status_code,
        "error": attempt.error,
        "seconds": round(attempt.seconds, 3),
    }
    values: dict = {
        "attempts": delivery.attempts + 1,
        "log": [*delivery.log, entry][-LOG_ATTEMPTS:],
        "locked_until": None,
    }
    if attempt.status_code is not None and 200 <= attempt.status_code < 300:
        values |= {"status": DeliveryStatus.DELIVERED, "delivered_at": now}
    else:
        delay = min(settings.webhook_backoff_s * 2**delivery.attempts, MAX_BACKOFF_S)
        retry_at = now + timedelta(seconds=delay)
        if retry_at > delivery.created_at + timedelta(seconds=settings.webhook_retry_for_s):
            values["status"] = DeliveryStatus.FAILED
        else:
            values["next_attempt_at"] = retry_at
    session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))
