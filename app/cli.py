"""The `flashjobs` command: run the service, and drive it over its HTTP API (local or remote).

Only light imports here: `import app.cli` must stay free of torch and Flash, and every command should start fast.
"""

import hashlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from app import stack
from app.core.config import get_settings

app = typer.Typer(help="Training and finetune jobs for Lightning Flash image classifiers.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
db_app = typer.Typer(help="The job database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

ApiUrl = Annotated[str | None, typer.Option("--api-url", help="The API [default: FLASHJOBS_API_URL or "
                                                               "http://127.0.0.1:8000]", show_default=False)]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer instead of a table.")]
JobId = Annotated[str, typer.Argument(help="A job id.")]

SERIES_ORDER = ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "train_f1", "val_f1", "train_auroc",
                "val_auroc", "train_lr", "train_epoch_seconds", "train_images_per_second")
FINAL_STATUSES = ("succeeded", "failed", "cancelled")
RECONNECT_ATTEMPTS = 30  # a stream that drops is re-opened (resuming after its last epoch) for about a minute
RECONNECT_DELAY_S = 2.0
STREAM_IDLE_S = 5.0  # with no event for this long, the follower re-reads the job's status (queued -> running)


# ------------------------------------------------------------------ the HTTP API


class Failure(Exception):
    """A failure to report in one line (in the API's words when the API refused), with exit code 1."""


class ApiError(Failure):
    """The API answered with an error, or could not be reached."""


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str
    id: str | None = None


def parse_sse(lines: Iterable[str]) -> Iterator[SseEvent]:
    """Server-Sent Events from a stream's lines (comments such as keep-alive pings are skipped)."""
    event, data, event_id = "message", [], None
    for line in lines:
        if not line:  # a blank line ends an event
            if data:
                yield SseEvent(event, "\n".join(data), event_id)
            event, data, event_id = "message", [], None
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = value


def describe_error(response: httpx.Response) -> str:
    """An error answer as the API words it: each 422 problem as `loc: msg`, otherwise its detail."""
    try:
        detail = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:500] or response.reason_phrase}"
    if isinstance(detail, list):
        problems = [f"  {'.'.join(str(part) for part in item.get('loc', []))}: {item.get('msg')}" for item in detail]
        return f"HTTP {response.status_code}: the request was rejected:\n" + "\n".join(problems)
    return f"HTTP {response.status_code}: {detail}"


class Api:
    """A client of the flashjobs HTTP API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(30, connect=5))

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(f"cannot reach the API at {self.base_url} ({exc}); is `flashjobs up` running there? "
                           "(--api-url or FLASHJOBS_API_URL say where it is)") from exc
        if response.status_code >= 400:
            raise ApiError(describe_error(response))
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body).json()

    def job_events(self, job_id: str) -> Iterator[SseEvent]:
        """The job's SSE stream until its `end` event; re-opened after a drop, resuming after the last epoch.

        Yields an `idle` event (not the server's) whenever nothing arrived for STREAM_IDLE_S.
        """
        last_epoch_id, failures = None, 0
        while True:
            headers = {"Last-Event-ID": last_epoch_id} if last_epoch_id is not None else {}
            try:
                with self.http.stream("GET", f"/v1/jobs/{job_id}/metrics/stream", headers=headers,
                                      timeout=httpx.Timeout(STREAM_IDLE_S, connect=5)) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise ApiError(describe_error(response))
                    for event in parse_sse(response.iter_lines()):
                        failures = 0
                        last_epoch_id = event.id if event.id is not None else last_epoch_id
                        yield event
                        if event.event == "end":
                            return
            except httpx.ReadTimeout:
                yield SseEvent("idle", "")
                continue
            except httpx.TransportError as exc:
                failures += 1
                if failures >= RECONNECT_ATTEMPTS:
                    raise ApiError(f"lost the event stream of job {job_id} at {self.base_url}: {exc}") from exc
            time.sleep(RECONNECT_DELAY_S)  # closed without `end` (a server restart, say): open it again


def api_for(api_url: str | None) -> Api:
    return Api(api_url or get_settings().api_url)


# ------------------------------------------------------------------ rendering


def fmt_value(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def ordered_series(names: Iterable[str]) -> list[str]:
    names = set(names)
    return [n for n in SERIES_ORDER if n in names] + sorted(names - set(SERIES_ORDER))


def job_seconds(job: dict) -> float | None:
    """Wall time from start to finish (or until now while it runs)."""
    if not job.get("started_at"):
        return None
    started = datetime.fromisoformat(job["started_at"])
    ended = datetime.fromisoformat(job["finished_at"]) if job.get("finished_at") else datetime.now(started.tzinfo)
    return (ended - started).total_seconds()


def status_text(job: dict) -> str:
    colour = {"succeeded": "green", "failed": "red", "cancelled": "yellow", "running": "cyan"}.get(job["status"], "")
    return f"[{colour}]{job['status']}[/]" if colour else job["status"]


def error_text(job: dict) -> str:
    """The job's error, escaped for rich markup (messages may hold brackets)."""
    error = job.get("error")
    return escape(f"{error['type']}: {error['message']}") if error else ""


def jobs_table(jobs: list[dict]) -> Table:
    table = Table("id", "kind", "status", "epoch", "val_acc", "created", "error", box=box.SIMPLE_HEAD)
    for column in table.columns[:5]:
        column.no_wrap = True  # ids must stay whole (to be copied), statuses and numbers readable
    for job in jobs:
        progress = job["progress"]
        table.add_row(job["id"], job["kind"], status_text(job), f"{progress['epoch']}/{progress['max_epochs']}",
                      fmt_value(job["latest_metrics"].get("val_accuracy")), job["created_at"][5:16].replace("T", " "),
                      escape(job["error"]["type"]) if job.get("error") else "")
    return table


def epoch_line(epoch: int, max_epochs: int, metrics: dict[str, float]) -> str:
    shown = [f"{name} [bold]{fmt_value(metrics[name])}[/]" for name in ordered_series(metrics)
             if name not in ("train_epoch_seconds", "train_images_per_second", "train_lr")]
    speed = ""
    if "train_epoch_seconds" in metrics:
        speed = f"  ({fmt_duration(metrics['train_epoch_seconds'])}"
        speed += f", {fmt_value(metrics.get('train_images_per_second'))} img/s)"
    return f"epoch {epoch + 1:>3}/{max_epochs}  " + "  ".join(shown) + speed


def print_outcome(job: dict) -> None:
    took = f" in {fmt_duration(job_seconds(job))}" if job.get("started_at") else ""
    if job["status"] == "succeeded":
        accuracy = job["latest_metrics"].get("val_accuracy")
        tail = f"; val_accuracy {fmt_value(accuracy)}" if accuracy is not None else ""
        console.print(f"[green]Job {job['id']} succeeded{took}{tail}.[/]")
    else:
        reason = f": {error_text(job)}" if job.get("error") else ""
        console.print(f"[red]Job {job['id']} {job['status']}{took}{reason}.[/]")


def follow(api: Api, job_id: str, *, label: str = "") -> dict:
    """Show a job live (a progress bar per epoch, a line of metrics as each ends) until it ends; the final job."""
    job = api.get(f"/v1/jobs/{job_id}")
    max_epochs = job["progress"]["max_epochs"]
    running = False
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                  console=console, transient=True, disable=not console.is_terminal) as progress:
        bar = progress.add_task(f"{label}{job['status']}", total=None, detail="")
        for event in api.job_events(job_id):
            if event.event == "progress":
                running = True
                p = json.loads(event.data)
                progress.update(bar, description=f"{label}epoch {p['epoch'] + 1}/{max_epochs}",
                                total=p["num_batches"], completed=p["batch"],
                                detail=f"{p['batch']}/{p['num_batches']} batches  {p['images_per_second']:,.0f} img/s"
                                       f"  ETA {fmt_duration(p['eta_seconds'])}")
            elif event.event == "epoch":
                running = True
                e = json.loads(event.data)
                progress.console.print(label + epoch_line(e["epoch"], max_epochs, e["metrics"]))
                upcoming = min(e["epoch"] + 2, max_epochs)
                progress.reset(bar, total=None, description=f"{label}epoch {upcoming}/{max_epochs}", detail="")
            elif event.event == "idle" and not running:
                status = api.get(f"/v1/jobs/{job_id}")["status"]
                hint = " (the worker loads data and builds the model)" if status == "running" else ""
                progress.update(bar, description=f"{label}{status}{hint}")
            elif event.event == "end":
                break
    final = api.get(f"/v1/jobs/{job_id}")
    print_outcome(final)
    return final


# ------------------------------------------------------------------ running the service


@app.command()
def up(host: Annotated[str | None, typer.Option(help="Listen address [default: from FLASHJOBS_API_URL]")] = None,
       port: Annotated[int | None, typer.Option(help="Port [default: from FLASHJOBS_API_URL]")] = None) -> None:
    """Run the whole service here: bundled Redis (unless FLASHJOBS_REDIS_URL), the API, one worker. Ctrl-C stops it."""
    settings = get_settings()
    default_host, default_port = stack.host_and_port(settings.api_url)
    raise typer.Exit(stack.run_stack(settings, host=host or default_host, port=port or default_port,
                                     say=console.print))


@app.command()
def api(host: Annotated[str | None, typer.Option(help="Listen address [default: from FLASHJOBS_API_URL]")] = None,
        port: Annotated[int | None, typer.Option(help="Port [default: from FLASHJOBS_API_URL]")] = None) -> None:
    """Run the API server only (uvicorn)."""
    default_host, default_port = stack.host_and_port(get_settings().api_url)
    argv = stack.api_argv(host or default_host, port or default_port)
    os.execv(argv[0], argv)  # exec: the server is this process, so signals (docker stop) reach it directly


@app.command()
def worker(hostname: Annotated[str, typer.Option(help="Celery node name; one worker per GPU")] = "flashjobs@%h",
           loglevel: Annotated[str, typer.Option(help="Celery log level")] = "info") -> None:
    """Run a Celery worker that trains one job at a time on this machine (CUDA_VISIBLE_DEVICES picks the GPU)."""
    argv = stack.worker_argv(hostname, loglevel)
    os.execv(argv[0], argv)  # exec: SIGTERM from `docker stop` reaches Celery, whose running job checkpoints


@app.command()
def reconcile(
    loop: Annotated[bool, typer.Option("--loop", help="Repeat every FLASHJOBS_RECONCILE_EVERY_S")] = False,
) -> None:
    """Repair what a lost message or a dead worker left behind (once, or forever with --loop)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from app.jobs.reconciler import reconcile_once

    settings = get_settings()
    while True:
        try:
            counts = reconcile_once(settings)
            if any(counts.values()) or not loop:  # a quiet pass every few seconds is no news
                console.print(f"reconciled: {counts}")
        except Exception:  # noqa: BLE001 - with --loop a failed pass (database away) is retried next time
            if not loop:
                raise
            logging.getLogger("flashjobs.reconcile").exception("reconciler pass failed")
        if not loop:
            return
        time.sleep(settings.reconcile_every_s)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the newest revision."""
    from app.core.migrate import upgrade

    url = get_settings().effective_database_url
    upgrade(url)
    console.print(f"Database schema is current: {stack.safe_url(url)}")


# ------------------------------------------------------------------ jobs over HTTP


@app.command()
def submit(spec_file: Annotated[Path, typer.Argument(help="A JobSpec as JSON ('-' reads standard input)")],
           chain: Annotated[bool, typer.Option("--chain", help="The file is a chain: {\"steps\": [...]} or a list")]
           = False,
           api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Submit a job, or a chain of jobs whose later steps start from earlier ones."""
    try:
        body = json.loads(sys.stdin.read() if str(spec_file) == "-" else spec_file.read_text())
    except (OSError, ValueError) as exc:
        raise Failure(f"cannot read a JSON spec from {spec_file}: {exc}") from exc
    if chain:
        answer = api_for(api_url).post("/v1/chains", {"steps": body} if isinstance(body, list) else body)
        jobs = answer["jobs"]
    else:
        answer = api_for(api_url).post("/v1/jobs", body)
        jobs = [answer]
    if as_json:
        print(json.dumps(answer, indent=2))
    else:
        console.print(jobs_table(jobs))


@app.command("list")
def list_jobs(status: Annotated[str | None, typer.Option(help="Only jobs with this status")] = None,
              kind: Annotated[str | None, typer.Option(help="train or finetune")] = None,
              limit: Annotated[int, typer.Option(help="At most this many (newest first)")] = 20,
              cursor: Annotated[str | None, typer.Option(help="next_cursor of an earlier page")] = None,
              api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """List jobs, newest first."""
    page = api_for(api_url).get("/v1/jobs", status=status, kind=kind, limit=limit, cursor=cursor)
    if as_json:
        print(json.dumps(page, indent=2))
        return
    console.print(jobs_table(page["jobs"]))
    if page["next_cursor"]:
        console.print(f"More: flashjobs list --cursor {page['next_cursor']}")


@app.command()
def show(job_id: JobId, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Show one job: status, progress, error, latest metrics and spec."""
    job = api_for(api_url).get(f"/v1/jobs/{job_id}")
    if as_json:
        print(json.dumps(job, indent=2))
        return
    facts = Table.grid(padding=(0, 2))
    for name, value in [("id", job["id"]), ("kind", job["kind"]), ("status", status_text(job)),
                        ("parent", job["parent_id"] or "-"),
                        ("epochs", f"{job['progress']['epoch']}/{job['progress']['max_epochs']}"),
                        ("attempt", str(job["attempt"])), ("created", job["created_at"]),
                        ("started", job["started_at"] or "-"), ("finished", job["finished_at"] or "-"),
                        ("wall time", fmt_duration(job_seconds(job))), ("error", error_text(job) or "-")]:
        facts.add_row(f"[bold]{name}[/]", value)
    console.print(facts)
    if job["latest_metrics"]:
        metrics = Table("metric", "latest", title="Latest metrics")
        for name in ordered_series(job["latest_metrics"]):
            metrics.add_row(name, fmt_value(job["latest_metrics"][name]))
        console.print(metrics)
    console.print("[bold]spec[/] " + escape(json.dumps(job["spec"])))


@app.command()
def cancel(job_id: JobId, api_url: ApiUrl = None) -> None:
    """Cancel a job: at once if it has not started, within one batch if it runs."""
    job = api_for(api_url).post(f"/v1/jobs/{job_id}/cancel")
    console.print(f"Job {job['id']} is {status_text(job)}.")


@app.command()
def watch(job_id: JobId, api_url: ApiUrl = None) -> None:
    """Follow a job live until it ends; the exit code is non-zero unless it succeeded."""
    try:
        final = follow(api_for(api_url), job_id)
    except KeyboardInterrupt:
        console.print(f"Stopped watching; the job goes on (`flashjobs cancel {job_id}` stops it).")
        raise typer.Exit(130) from None
    raise typer.Exit(0 if final["status"] == "succeeded" else 1)


@app.command()
def metrics(job_id: JobId,
            names: Annotated[str | None, typer.Option(help="Comma-separated series, e.g. val_accuracy,val_loss")]
            = None,
            plot: Annotated[Path | None, typer.Option(help="Also draw the curves into this PNG file")] = None,
            api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """A job's metric curves, one row per epoch."""
    answer = api_for(api_url).get(f"/v1/jobs/{job_id}/metrics", names=names)
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


def draw_curves(series: dict[str, list[dict]], path: Path, *, title: str) -> None:
    """One panel per metric (loss, accuracy, ...) with its train and val curves."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    panels: dict[str, list[str]] = {}
    for name in ordered_series(series):
        panels.setdefault(name.split("_", 1)[1] if "_" in name else name, []).append(name)
    columns = 2 if len(panels) > 1 else 1
    rows = (len(panels) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(6 * columns, 3.2 * rows), squeeze=False)
    for ax, (metric, names) in zip(axes.flat, panels.items()):
        for name in names:
            ax.plot([p["epoch"] + 1 for p in series[name]], [p["value"] for p in series[name]], marker="o",
                    label=name.split("_", 1)[0])
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


@app.command()
def artifacts(job_id: JobId,
              download: Annotated[Path | None, typer.Option(help="Download every artifact into this folder "
                                                                 "(each checked against its sha256)")] = None,
              api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """A job's artifacts (model, backbone, ...) with checksums; --download fetches and verifies them."""
    client = api_for(api_url)
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


def download_artifact(client: Api, item: dict, folder: Path) -> Path:
    """Stream one artifact to folder, verifying its sha256 before it takes its final name."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    partial = folder / f".{item['name']}.partial"
    try:
        with client.http.stream("GET", item["url"], timeout=httpx.Timeout(60, connect=5)) as response:
            if response.status_code >= 400:
                response.read()
                raise ApiError(describe_error(response))
            match = re.search(r'filename="([^"]+)"', response.headers.get("content-disposition", ""))
            name = Path(match.group(1)).name if match else item["name"]  # never a path from the server
            with partial.open("wb") as out:
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    out.write(chunk)
        if digest.hexdigest() != item["sha256"]:
            raise Failure(f"artifact {item['name']}: sha256 {digest.hexdigest()} does not match the recorded "
                           f"{item['sha256']}; the download was discarded")
        final = folder / name
        partial.replace(final)
        return final
    finally:
        partial.unlink(missing_ok=True)


# ------------------------------------------------------------------ the demo


class DemoData(str, Enum):
    cifar = "cifar"
    synthetic = "synthetic"


@dataclass(frozen=True)
class DemoPlan:
    """The sizes of the demo's two jobs."""

    train_epochs: int
    finetune_epochs: int
    batch_size: int
    cifar_stem: bool
    cifar10_per_class: tuple[int, int] | None  # (train, val) images per class; None: the whole set
    cifar100_per_class: tuple[int, int] | None
    num_workers: int
    learning_rate: float
    optimizer: str

    def chain(self) -> dict:
        """The CIFAR-10 -> CIFAR-100 chain: train, then finetune from its backbone with strategy `freeze`."""
        trainer = {"batch_size": self.batch_size, "num_workers": self.num_workers,
                   "learning_rate": self.learning_rate, "optimizer": self.optimizer}
        return {"steps": [
            {"kind": "train", "dataset": {"name": "cifar10", **_limits(self.cifar10_per_class, 10)},
             "model": {"backbone": "resnet18", "cifar_stem": self.cifar_stem},
             "trainer": {**trainer, "max_epochs": self.train_epochs}},
            {"kind": "finetune", "dataset": {"name": "cifar100", **_limits(self.cifar100_per_class, 100)},
             "init_from": {"step": 0}, "finetune": {"strategy": "freeze"},
             "trainer": {**trainer, "max_epochs": self.finetune_epochs}},
        ]}


def _limits(per_class: tuple[int, int] | None, classes: int) -> dict:
    if per_class is None:
        return {}
    return {"train_limit": per_class[0] * classes, "val_limit": per_class[1] * classes}


# The article's recipe on the whole sets: meant for a GPU (hours on a CPU).
FULL_PLAN = DemoPlan(train_epochs=25, finetune_epochs=15, batch_size=256, cifar_stem=True, cifar10_per_class=None,
                     cifar100_per_class=None, num_workers=4, learning_rate=0.1, optimizer="sgd")
# Sized on 2 CPU cores to finish in a few minutes: class-balanced subsets, few epochs, and the ImageNet stem
# (about 14x less compute than the CIFAR stem at 32x32), so far more images fit in the same minutes.
# Adam needs no schedule tuned to so short a run; no DataLoader processes, as they would take the 2 cores' time.
CPU_PLAN = DemoPlan(train_epochs=3, finetune_epochs=3, batch_size=64, cifar_stem=False,
                    cifar10_per_class=(500, 100), cifar100_per_class=(50, 10), num_workers=0, learning_rate=0.001,
                    optimizer="adam")
SYNTHETIC_FULL_PER_CLASS = {"cifar10": (5000, 1000), "cifar100": (500, 100)}  # the real sets' sizes


def synthetic_data_dir(state_dir: Path) -> Path:
    return state_dir / "synthetic-data"


def prepare_synthetic(data_dir: Path, plan: DemoPlan) -> None:
    """Write the synthetic CIFAR files the plan needs, unless the same ones are there already."""
    from app.synthetic_data import CIFAR10_FOLDER, CIFAR100_FOLDER, write_cifar10, write_cifar100

    sizes = {"cifar10": plan.cifar10_per_class or SYNTHETIC_FULL_PER_CLASS["cifar10"],
             "cifar100": plan.cifar100_per_class or SYNTHETIC_FULL_PER_CLASS["cifar100"]}
    marker = data_dir / "synthetic.json"
    written = all((data_dir / folder).is_dir() for folder in (CIFAR10_FOLDER, CIFAR100_FOLDER))
    if written and marker.exists() and json.loads(marker.read_text()) == {k: list(v) for k, v in sizes.items()}:
        console.print(f"[magenta]SYNTHETIC data[/] (coloured patterns in CIFAR's file layout) reused from {data_dir}")
        return
    write_cifar10(data_dir, train_per_class=sizes["cifar10"][0], val_per_class=sizes["cifar10"][1])
    write_cifar100(data_dir, train_per_class=sizes["cifar100"][0], val_per_class=sizes["cifar100"][1])
    marker.write_text(json.dumps(sizes))
    console.print(f"[magenta]SYNTHETIC data written to {data_dir}[/]: coloured patterns in CIFAR's file layout, "
                  f"{sizes['cifar10'][0]}+{sizes['cifar10'][1]} images per class for 10 classes, "
                  f"{sizes['cifar100'][0]}+{sizes['cifar100'][1]} for 100. Not the real CIFAR images.")


def check_served_data_dir(state_dir: Path, data: DemoData, data_dir: Path, url: str) -> None:
    """Refuse to run against a stack whose worker reads another data dir than this demo needs."""
    info = stack.running_stack(state_dir)
    served = Path(info["data_dir"]) if info and info.get("data_dir") else None
    synthetic = synthetic_data_dir(state_dir).resolve()
    if served is None:
        needs = f"; its worker must read FLASHJOBS_DATA_DIR={data_dir}" if data is DemoData.synthetic else ""
        console.print(f"Using the API already answering at {url}{needs}.")
    elif data is DemoData.synthetic and served != data_dir.resolve():
        raise Failure(f"the stack running at {url} reads datasets from {served}, not the synthetic data in "
                       f"{data_dir}. Stop it (Ctrl-C in its terminal) and run the demo again: it then starts a "
                       "stack of its own")
    elif data is DemoData.cifar and served == synthetic:
        raise Failure(f"the stack running at {url} reads the SYNTHETIC data in {served}. Stop it (Ctrl-C in its "
                       "terminal) and run the demo again: it then starts a stack of its own")
    else:
        console.print(f"Using the stack already running at {url} (data dir {served}); it stays running.")


def summary_table(jobs: list[dict]) -> Table:
    table = Table("metric", *(f"{job['kind']} {job['spec']['dataset']['name']}" for job in jobs),
                  title="Final metrics (last epoch)")
    for name in ordered_series({n for job in jobs for n in job["latest_metrics"]}):
        table.add_row(name, *(fmt_value(job["latest_metrics"].get(name)) for job in jobs))
    table.add_row("status", *(status_text(job) for job in jobs))
    table.add_row("wall time", *(fmt_duration(job_seconds(job)) for job in jobs))
    return table


def run_demo_chain(client: Api, plan: DemoPlan) -> list[dict]:
    """Submit the chain, follow both jobs live, print the summary and artifact links; the final jobs."""
    jobs = client.post("/v1/chains", plan.chain())["jobs"]
    console.print(jobs_table(jobs))
    try:
        finals = [follow(client, job["id"], label=f"{job['spec']['dataset']['name']}: ") for job in jobs]
    except KeyboardInterrupt:
        for job in jobs:
            try:
                client.post(f"/v1/jobs/{job['id']}/cancel")
            except ApiError:
                pass  # already finished
        console.print("Interrupted: the demo's jobs are cancelled.")
        raise
    console.print(summary_table(finals))
    links = Table("job", "artifact", "size", "url", title="Artifacts", box=box.SIMPLE_HEAD)
    links.columns[3].overflow = "fold"  # a narrow terminal wraps the links rather than cutting them short
    for job in finals:
        for item in client.get(f"/v1/jobs/{job['id']}/artifacts"):
            links.add_row(f"{job['kind']} {job['spec']['dataset']['name']}", item["name"], f"{item['size']:,}",
                          client.base_url + item["url"])
    if links.rows:
        console.print(links)
    return finals


@app.command()
def demo(data: Annotated[DemoData, typer.Option(help="cifar downloads CIFAR if missing; synthetic needs no "
                                                     "internet")] = DemoData.cifar,
         full: Annotated[bool, typer.Option("--full", help="The article's recipe: 25 + 15 epochs on the whole "
                                                           "sets (for a GPU)")] = False,
         api_url: ApiUrl = None) -> None:
    """Train on CIFAR-10, then finetune on CIFAR-100 from its backbone (strategy freeze), following both live."""
    settings = get_settings()
    url = (api_url or settings.api_url).rstrip("/")
    plan = FULL_PLAN if full else CPU_PLAN
    data_dir = synthetic_data_dir(settings.state_dir) if data is DemoData.synthetic else settings.data_dir
    if full:
        console.print("Full recipe: ResNet-18 (CIFAR stem), 25 epochs on all of CIFAR-10, then 15 epochs of "
                      "finetuning (frozen backbone) on all of CIFAR-100, batch 256. Meant for a GPU.")
    else:
        console.print(f"CPU-sized demo (--full runs the whole recipe, for a GPU): ResNet-18 with the ImageNet stem "
                      f"(14x cheaper at 32x32 than the CIFAR stem), {plan.train_epochs} epochs on a class-balanced "
                      f"{plan.cifar10_per_class[0] * 10}-image subset of CIFAR-10, then {plan.finetune_epochs} "
                      f"epochs of finetuning (frozen backbone) on {plan.cifar100_per_class[0] * 100} images of "
                      "CIFAR-100, with Adam. It shows the pipeline, not what the model can reach.")
    if data is DemoData.synthetic:
        prepare_synthetic(data_dir, plan)
    else:
        console.print(f"Data: real CIFAR; the worker downloads it (about 165 MB per set) into its data dir "
                      f"({data_dir} unless the running stack says otherwise) when missing.")

    background = None
    if stack.answers(url):
        check_served_data_dir(settings.state_dir, data, data_dir, url)
    elif not stack.is_local(url):
        raise Failure(f"no API answers at {url}; start one there, or leave --api-url out to run a local stack")
    else:
        log_file = settings.state_dir / "logs" / "demo-stack.log"
        console.print(f"Starting a stack in the background for this demo (log: {log_file}); it stops when "
                      "the demo ends.")
        env = {"FLASHJOBS_DATA_DIR": str(data_dir.resolve()), "FLASHJOBS_API_URL": url}
        background = stack.start_in_background(api_url=url, env=env, log_file=log_file)
        if not stack.wait_until_ready(background, url):
            stack.stop_background(background)
            raise Failure(f"the stack did not start; see {log_file}")
    started = time.monotonic()
    try:
        finals = run_demo_chain(Api(url), plan)
    finally:
        if background is not None:
            console.print("Stopping the demo's stack...")
            stack.stop_background(background)
            console.print("Stopped. `flashjobs up` serves these jobs and their artifacts again (same state dir).")
    console.print(f"Demo wall time: {fmt_duration(time.monotonic() - started)}")
    failed = [job for job in finals if job["status"] != "succeeded"]
    if any(job.get("error") and job["error"]["type"] == "dataset_missing" for job in failed):
        console.print("[yellow]CIFAR is not in the data dir and could not be downloaded (no internet?). Run the "
                      "demo offline on synthetic data: `flashjobs demo --data synthetic` (or `make demo "
                      "DATA=synthetic`).[/]")
    if data is DemoData.synthetic:
        console.print("[magenta]These numbers come from SYNTHETIC data, not CIFAR.[/]")
    raise typer.Exit(1 if failed else 0)


def main() -> None:
    """The console script: API errors are printed in the API's words, with a non-zero exit code."""
    try:
        app()
    except Failure as exc:
        err_console.print("[red]Error:[/] " + escape(str(exc)))
        sys.exit(1)


if __name__ == "__main__":
    main()
