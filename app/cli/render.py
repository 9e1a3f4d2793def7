"""Terminal output: tables, numbers, durations, a job's outcome."""

from collections.abc import Iterable
from datetime import datetime

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.jobs.status import JobStatus

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

SERIES_ORDER = (
    "train_loss",
    "val_loss",
    "train_accuracy",
    "val_accuracy",
    "train_f1",
    "val_f1",
    "train_auroc",
    "val_auroc",
    "train_lr",
    "train_epoch_seconds",
    "train_images_per_second",
)


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
    colour = {
        JobStatus.SUCCEEDED: "green",
        JobStatus.FAILED: "red",
        JobStatus.CANCELLED: "yellow",
        JobStatus.RUNNING: "cyan",
    }.get(job["status"], "")
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
        table.add_row(
            job["id"],
            job["kind"],
            status_text(job),
            f"{progress['epoch']}/{progress['max_epochs']}",
            fmt_value(job["latest_metrics"].get("val_accuracy")),
            job["created_at"][5:16].replace("T", " "),
            escape(job["error"]["type"]) if job.get("error") else "",
        )
    return table


def epoch_line(epoch: int, max_epochs: int, metrics: dict[str, float]) -> str:
    shown = [
        f"{name} [bold]{fmt_value(metrics[name])}[/]"
        for name in ordered_series(metrics)
        if name not in ("train_epoch_seconds", "train_images_per_second", "train_lr")
    ]
    speed = ""
    if "train_epoch_seconds" in metrics:
        speed = f"  ({fmt_duration(metrics['train_epoch_seconds'])}"
        speed += f", {fmt_value(metrics.get('train_images_per_second'))} img/s)"
    return f"epoch {epoch + 1:>3}/{max_epochs}  " + "  ".join(shown) + speed


def print_outcome(job: dict) -> None:
    took = f" in {fmt_duration(job_seconds(job))}" if job.get("started_at") else ""
    if job["status"] == JobStatus.SUCCEEDED:
        accuracy = job["latest_metrics"].get("val_accuracy")
        tail = f"; val_accuracy {fmt_value(accuracy)}" if accuracy is not None else ""
        console.print(f"[green]Job {job['id']} succeeded{took}{tail}.[/]")
    else:
        reason = f": {error_text(job)}" if job.get("error") else ""
        console.print(f"[red]Job {job['id']} {job['status']}{took}{reason}.[/]")


def estimate_text(estimate: dict | None) -> str:
    """The estimate a job started with, in words."""
    if not estimate:
        return "-"
    if estimate["seconds"] is None:
        return f"none ({escape(estimate['reason'] or '')})"
    runs = estimate["basis_runs"]
    return f"{fmt_duration(estimate['seconds'])} (from {runs} run{'s' if runs != 1 else ''})"


def warning_lines(job: dict) -> list[str]:
    """The job's warnings as sentences (leakage along a chain), escaped for rich markup."""
    lines = []
    for warning in job.get("warnings") or []:
        if warning["type"] == "val_in_parent_train":
            examples = ", ".join(f"{e['val']} ~ {e['parent_train']} ({e['match']})" for e in warning["examples"][:3])
            lines.append(
                f"[yellow]warning:[/] {warning['count']} of {warning.get('of', '?')} validation images are in the "
                f"parent's training set ({warning.get('exact', 0)} identical, {warning.get('perceptual', 0)} "
                f"re-encoded or resized): the parent has seen them; e.g. " + escape(examples)
            )
        else:
            lines.append(f"[yellow]warning:[/] {escape(warning['type'])}: {escape(warning.get('message') or '')}")
    return lines
