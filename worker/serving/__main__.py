"""`python -m worker.serving`: the prediction server (what `flashjobs predictor` runs)."""

from worker.serving.server import main

main()
