"""Job commands over HTTP: submit, list, show, watch, metrics, artifacts, cancel."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from app.cli.client import Api, Failure, api_for, download_artifact
from app.cli.plot import draw_curves
from app.cli.render import (
    console,
    epoch_line,
    error_text,
    estimate_text,
    fmt_duration,
    fmt_value,
    job_seconds,
    jobs_table,
    ordered_series,
    print_outcome,
    status_text,
    warning_lines,
)
from app.cli.typer_app import ApiKey, ApiUrl, AsJson, Cursor, JobId, Limit, app
from app.jobs.status import JobStatus


def follow(api: Api, job_id: str, *, label: str = "") -> dict:
    """Show a job live (a progress bar per epoch, a line of metrics as each ends) until it ends; the final job."""
    job = api.get(f"/v1/jobs/{job_id}")
    max_epochs = job["progress"]["max_epochs"]
    running = False
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        bar = progress.add_task(f"{label}{job['status']}", total=None, detail="")
        for event in api.job_events(job_id):
            if event.event == "progress":
                running = True
                p = json.loads(event.data)
                progress.update(
                    bar,
                    description=f"{label}epoch {p['epoch'] + 1}/{max_epochs}",
                    total=p["num_batches"],
                    completed=p["batch"],
                    detail=f"{p['batch']}/{p['num_batches']} batches  {p['images_per_second']:,.0f} img/s"
                    f"  ETA {fmt_duration(p['eta_seconds'])}",
                )
            elif event.event == "epoch":
                running = True
                e = json.loads(event.data)
                progress.console.print(label + epoch_line(e["epoch"], max_epochs, e["metrics"]))
                upcoming = min(e["epoch"] + 2, max_epochs)
                progress.reset(bar, total=None, description=f"{label}epoch {upcoming}/{max_epochs}", detail="")
            elif event.event == "idle" and not running:
                status = api.get(f"/v1/jobs/{job_id}")["status"]
                hint = " (the worker loads data and builds the model)" if status == JobStatus.RUNNING else ""
                progress.update(bar, description=f"{label}{status}{hint}")
            elif event.event == "end":
                break
    final = api.get(f"/v1/jobs/{job_id}")
    print_outcome(final)
    return final


@app.command()
def submit(
    spec_file: Annotated[Path, typer.Argument(help="A JobSpec as JSON ('-' reads standard input)")],
    chain: Annotated[bool, typer.Option("--chain", help='The file is a chain: {"steps": [...]} or a list')] = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Submit a job, or a chain of jobs whose later steps start from earlier ones."""
    try:
        body = json.loads(sys.stdin.read() if str(spec_file) == "-" else spec_file.read_text())
    except (OSError, ValueError) as exc:
        raise Failure(f"cannot read a JSON spec from {spec_file}: {exc}") from exc
    if chain:
        answer = api_for(api_url, api_key).post("/v1/chains", {"steps": body} if isinstance(body, list) else body)
        jobs = answer["jobs"]
    else:
        answer = api_for(api_url, api_key).post("/v1/jobs", body)
        jobs = [answer]
    if as_json:
        print(json.dumps(answer, indent=2))
    else:
        console.print(jobs_table(jobs))
        for job in jobs:
            if job.get("reused"):
                console.print(f"reused {job['id']}: an identical job succeeded already; nothing was trained")


@app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="Only jobs with this status")] = None,
    kind: Annotated[str | None, typer.Option(help="train, finetune, recommend or evaluate")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """List jobs, newest first."""
    page = api_for(api_url, api_key).get("/v1/jobs", status=status, kind=kind, limit=limit, cursor=cursor)
    if as_json:
        print(json.dumps(page, indent=2))
        return
    console.print(jobs_table(page["jobs"]))
    if page["next_cursor"]:
        console.print(f"More: flashjobs list --cursor {page['next_cursor']}")


@app.command()
def show(job_id: JobId, api_url: ApiUrl = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Show one job: status, progress, error, latest metrics and spec."""
    job = api_for(api_url, api_key).get(f"/v1/jobs/{job_id}")
    if as_json:
        print(json.dumps(job, indent=2))
        return
    facts = Table.grid(padding=(0, 2))
    for name, value in [
        ("id", job["id"]),
        ("kind", job["kind"]),
        ("status", status_text(job)),
        ("parent", job["parent_id"] or "-"),
        ("epochs", f"{job['progress']['epoch']}/{job['progress']['max_epochs']}"),
        ("attempt", str(job["attempt"])),
        ("created", job["created_at"]),
        ("started", job["started_at"] or "-"),
        ("finished", job["finished_at"] or "-"),
        ("wall time", fmt_duration(job_seconds(job))),
        ("estimate", estimate_text(job.get("estimate"))),
        *([("eta", fmt_duration(job["eta_seconds"]))] if job.get("eta_seconds") is not None else []),
        ("error", error_text(job) or "-"),
        *([("control run", job["control_id"])] if job.get("control_id") else []),
        *([("control of", job["control_of"])] if job.get("control_of") else []),
    ]:
        facts.add_row(f"[bold]{name}[/]", value)
    console.print(facts)
    for line in warning_lines(job):
        console.print(line)
    if job["latest_metrics"]:
        metrics = Table("metric", "latest", title="Latest metrics")
        for name in ordered_series(job["latest_metrics"]):
            metrics.add_row(name, fmt_value(job["latest_metrics"][name]))
        console.print(metrics)
    console.print("[bold]spec[/] " + escape(json.dumps(job["spec"])))


@app.command()
def cancel(job_id: JobId, api_url: ApiUrl = None, api_key: ApiKey = None) -> None:
    """Cancel a job: at once if it has not started, within one batch if it runs."""
    job = api_for(api_url, api_key).post(f"/v1/jobs/{job_id}/cancel")
    console.print(f"Job {job['id']} is {status_text(job)}.")


@app.command()
def watch(job_id: JobId, api_url: ApiUrl = None, api_key: ApiKey = None) -> None:
    """Follow a job live until it ends; the exit code is non-zero unless it succeeded."""
    try:
        final = follow(api_for(api_url, api_key), job_id)
    except KeyboardInterrupt:
        console.print(f"Stopped watching; the job goes on (`flashjobs cancel {job_id}` stops it).")
        raise typer.Exit(130) from None
    raise typer.Exit(0 if final["status"] == JobStatus.SUCCEEDED else 1)


@app.command()
def metrics(
    job_id: JobId,
    names: Annotated[str | None, typer.Option(help="Comma-separated series, e.g. val_accuracy,val_loss")] = None,
    plot: Annotated[Path | None, typer.Option(help="Also draw the curves into this PNG file")] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """A job's metric curves, one row per epoch."""
    answer = api_for(api_url, api_key).get(f"/v1/jobs/{job_id}/metrics", names=names)
    if as_json:
        print(json.dumps(answer, indent=2))
        return
    series: dict[str, list[dict]] = answer["series"]
    if not series:
        console.print(f"No metrics recorded for job {job_id} (it is {answer['status']}).")
        return
    columns = ordered_series(series)
    by_epoch: dict[int, dict[str, float]] = {}
    for name in columns:
        for point in series[name]:
            by_epoch.setdefault(point["epoch"], {})[name] = point["value"]
    table = Table("epoch", *columns, title=f"Job {job_id} ({answer['status']})")
    for epoch in sorted(by_epoch):
        table.add_row(str(epoch + 1), *(fmt_value(by_epoch[epoch].get(name)) for name in columns))
    console.print(table)
    if plot is not None:
        draw_curves(series, plot, title=f"flashjobs job {job_id}")
        console.print(f"Curves drawn to {plot}")


@app.command()
def artifacts(
    job_id: JobId,
    download: Annotated[
        Path | None, typer.Option(help="Download every artifact into this folder (each checked against its sha256)")
    ] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """A job's artifacts (model, backbone, ...) with checksums; --download fetches and verifies them."""
    client = api_for(api_url, api_key)
    listing = client.get(f"/v1/jobs/{job_id}/artifacts")
    if as_json:
        print(json.dumps(listing, indent=2))
    elif not listing:
        console.print(f"Job {job_id} has no artifacts.")
    else:
        table = Table("name", "size", "sha256", "url", title=f"Artifacts of job {job_id}")
        table.columns[3].overflow = "fold"
        for item in listing:
            table.add_row(item["name"], f"{item['size']:,}", item["sha256"][:16] + "…", client.base_url + item["url"])
        console.print(table)
    if download is not None:
        for item in listing:
            path = download_artifact(client, item, download)
            console.print(f"Downloaded {path} (sha256 verified)")
