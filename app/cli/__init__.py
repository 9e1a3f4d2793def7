"""The `flashjobs` command: run the service, and drive it over its HTTP API (local or remote).

One module per group of commands, each adding its commands to the shared Typer app (typer_app.py). Only light
imports: `import app.cli` must stay free of torch and Flash, and every command should start fast.
"""

import sys

from rich.markup import escape

# The order of registration is the order of `flashjobs --help`: the commands that run the service first.
from app.cli import service

# isort: split
from app.cli import evaluate, jobs, predict, transfer

# isort: split
from app.cli import datasets, flash_zero

# isort: split
from app.cli import keys

# isort: split
from app.cli import demo
from app.cli.client import Failure
from app.cli.render import err_console
from app.cli.typer_app import app

# importing the command modules registers their commands
__all__ = [
    "app",
    "datasets",
    "demo",
    "evaluate",
    "flash_zero",
    "jobs",
    "keys",
    "main",
    "predict",
    "service",
    "transfer",
]


def main() -> None:
    """The console script: API errors are printed in the API's words, with a non-zero exit code."""
    try:
        app()
    except Failure as exc:
        err_console.print("[red]Error:[/] " + escape(str(exc)))
        sys.exit(1)
