"""Predictions: a job's model applied to a user's images by a prediction server (worker/serving/), over Redis."""
