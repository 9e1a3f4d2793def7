"""The service's own metrics for Prometheus: what SQL records, read at each scrape, and request latency."""
