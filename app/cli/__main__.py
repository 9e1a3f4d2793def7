"""`python -m app.cli`: the same command as the `flashjobs` console script."""

from app.cli import main

main()
