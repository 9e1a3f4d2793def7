"""The Prometheus registry of one API process: request latency, epoch histograms, and the store's counts."""

import threading
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.jobs.status import JobStatus
from app.monitoring.store import StoreReading

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
EPOCH_SECONDS_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
IMAGES_PER_SECOND_BUCKETS = (10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000)


class ServiceMetrics:
    """Everything /metrics reports; the store's part is whatever the last scrape read."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "flashjobs_http_request_duration_seconds",
            "API requests by method, route template and status (SSE streams count their whole life)",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.epoch_seconds = Histogram(
            "flashjobs_epoch_duration_seconds",
            "Training time of each epoch recorded since this API process first served /metrics",
            buckets=EPOCH_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.images_per_second = Histogram(
            "flashjobs_epoch_images_per_second",
            "Training images per second of each epoch recorded since this API process first served /metrics",
            buckets=IMAGES_PER_SECOND_BUCKETS,
            registry=self.registry,
        )
        self.watermark: int | None = None  # the last metric row read; None before the first scrape
        self.reading: StoreReading | None = None
        self.scrape_lock = threading.Lock()  # one reader at a time, so no epoch is observed twice
        self.registry.register(_StoreCollector(self))

    def take(self, reading: StoreReading) -> None:
        """Keep a scrape's reading and observe the epochs it found."""
        by_series = {"epoch_seconds": self.epoch_seconds, "images_per_second": self.images_per_second}
        for _row_id, series, value in reading.epochs:
            by_series[series].observe(value)
        self.watermark, self.reading = reading.watermark, reading

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _StoreCollector(Collector):
    def __init__(self, metrics: ServiceMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        reading = self.metrics.reading
        if reading is None:
            return
        jobs = GaugeMetricFamily("flashjobs_jobs", "Jobs in SQL by project and status", labels=["project", "status"])
        for (project, status), count in reading.jobs.items():
            jobs.add_metric([project, status], count)
        yield jobs
        queued = sum(n for (_, status), n in reading.jobs.items() if status == JobStatus.QUEUED)
        yield GaugeMetricFamily("flashjobs_queue_depth", "Jobs queued for a free worker", value=queued)
        yield CounterMetricFamily("flashjobs_jobs_started", "Jobs that started an attempt", value=reading.started)
        finished = CounterMetricFamily(
            "flashjobs_jobs_finished", "Jobs that ended, by status and error type", labels=["status", "error_type"]
        )
        for (status, error_type), count in sorted(reading.outcomes.items()):
            finished.add_metric([status, error_type], count)
        yield finished
        deliveries = GaugeMetricFamily(
            "flashjobs_webhook_deliveries", "Webhook deliveries in the outbox by status", labels=["status"]
        )
        for status, count in reading.deliveries.items():
            deliveries.add_metric([status], count)
        yield deliveries
        yield CounterMetricFamily(
            "flashjobs_attempt_restarts",
            "Attempts after each job's first (lost workers, preemptions)",
            value=reading.restarts,
        )


class RequestTimer:
    """ASGI middleware: each request's duration under its route template (`/v1/jobs/{job_id}`, not the id)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500  # an exception before the answer is a 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")  # the router sets it when a route matches
            self.metrics.requests.labels(scope["method"], route, str(status)).observe(time.perf_counter() - started)
