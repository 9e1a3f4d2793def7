"""Webhooks: signed, retried, recorded HTTP deliveries of job and dataset events to a user's URL."""
