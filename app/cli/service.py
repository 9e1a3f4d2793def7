"""Commands that run the service on this machine: up, api, worker, reconcile, db."""

import logging
import os
import time
from typing import Annotated

import typer

from app.cli.render import console
from app.cli.typer_app import app
from app.core.config import get_settings
from app.stack.commands import api_argv, host_and_port, predictor_argv, safe_url, worker_argv
from app.stack.supervisor import run_stack

db_app = typer.Typer(help="The job database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Listen address [default: from FLASHJOBS_API_URL]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: from FLASHJOBS_API_URL]")] = None,
) -> None:
    """Run the whole service here: bundled Redis (unless FLASHJOBS_REDIS_URL), the API, one worker. Ctrl-C stops it."""
    settings = get_settings()
    default_host, default_port = host_and_port(settings.api_url)
    raise typer.Exit(run_stack(settings, host=host or default_host, port=port or default_port, say=console.print))


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Listen address [default: from FLASHJOBS_API_URL]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: from FLASHJOBS_API_URL]")] = None,
) -> None:
    """Run the API server only (uvicorn)."""
    default_host, default_port = host_and_port(get_settings().api_url)
    argv = api_argv(host or default_host, port or default_port)
    os.execv(argv[0], argv)  # exec: the server is this process, so signals (docker stop) reach it directly


@app.command()
def worker(
    hostname: Annotated[str, typer.Option(help="Celery node name; one worker per GPU")] = "flashjobs@%h",
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "info",
) -> None:
    """Run a Celery worker that trains one job at a time on this machine (CUDA_VISIBLE_DEVICES picks the GPU)."""
    argv = worker_argv(hostname, loglevel)
    os.execv(argv[0], argv)  # exec: SIGTERM from `docker stop` reaches Celery, whose running job checkpoints


@app.command()
def predictor() -> None:
    """Run a prediction server: answers POST /v1/jobs/{id}/predictions with jobs' models, on this machine's GPU."""
    argv = predictor_argv()
    os.execv(argv[0], argv)  # exec: SIGTERM reaches the server, which finishes its request and stops


@app.command()
def reconcile(
    loop: Annotated[bool, typer.Option("--loop", help="Repeat every FLASHJOBS_RECONCILE_EVERY_S")] = False,
) -> None:
    """Repair what a lost message or a dead worker left behind, and deliver due webhooks (once, or forever)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from app.jobs.reconciler import reconcile_once
    from app.webhooks.delivery import deliver_due

    settings = get_settings()
    next_reconcile = 0.0
    while True:
        try:
            if time.monotonic() >= next_reconcile:
                next_reconcile = time.monotonic() + settings.reconcile_every_s
                counts = reconcile_once(settings)
                if any(counts.values()) or not loop:  # a quiet pass every few seconds is no news
                    console.print(f"reconciled: {counts}")
            deliver_due(settings)
        except Exception:  # with --loop a failed pass (database away) is retried next time
            if not loop:
                raise
            logging.getLogger("flashjobs.reconcile").exception("reconciler pass failed")
        if not loop:
            return
        time.sleep(settings.webhook_every_s)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the newest revision."""
    from app.core.migrate import upgrade

    url = get_settings().effective_database_url
    upgrade(url)
    console.print(f"Database schema is current: {safe_url(url)}")


@db_app.command("admin-key")
def db_admin_key(name: Annotated[str, typer.Option(help="Who or what it is for")] = "first admin") -> None:
    """Print a new admin key of the default project, made in SQL directly: the first key where `up` does not run."""
    from app.access import service as access
    from app.access.models import DEFAULT_PROJECT
    from app.access.scopes import Scope
    from app.core.db import session_scope
    from app.core.migrate import upgrade

    upgrade(get_settings().effective_database_url)
    with session_scope() as session:
        access.ensure_default_project(session)
        _, secret = access.create_key(session, project=DEFAULT_PROJECT, scope=Scope.ADMIN, name=name)
    print(secret)  # plain print: a script can capture it
