"""`flashjobs demo`: the CIFAR-10 -> CIFAR-100 chain, followed live, on a stack it starts when none answers."""

import json
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from app.cli.client import Api, ApiError, Failure, resolve_key
from app.cli.jobs import follow
from app.cli.render import console, fmt_duration, fmt_value, job_seconds, jobs_table, ordered_series, status_text
from app.cli.typer_app import ApiKey, ApiUrl, app
from app.core.config import get_settings
from app.jobs.status import JobStatus
from app.stack.background import start_in_background, stop_background
from app.stack.commands import NotReady, answers, exit_of, is_local, wait_ready
from app.stack.lock import running_stack


class DemoData(StrEnum):
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
        trainer = {
            "batch_size": self.batch_size,
            "num_workers": self.num_workers,
            "learning_rate": self.learning_rate,
            "optimizer": self.optimizer,
        }
        return {
            "steps": [
                {
                    "kind": "train",
                    "dataset": {"name": "cifar10", **_limits(self.cifar10_per_class, 10)},
                    "model": {"backbone": "resnet18", "cifar_stem": self.cifar_stem},
                    "trainer": {**trainer, "max_epochs": self.train_epochs},
                },
                {
                    "kind": "finetune",
                    "dataset": {"name": "cifar100", **_limits(self.cifar100_per_class, 100)},
                    "init_from": {"step": 0},
                    "finetune": {"strategy": "freeze"},
                    "trainer": {**trainer, "max_epochs": self.finetune_epochs},
                },
            ]
        }


def _limits(per_class: tuple[int, int] | None, classes: int) -> dict:
    if per_class is None:
        return {}
    return {"train_limit": per_class[0] * classes, "val_limit": per_class[1] * classes}


# The whole recipe on the whole sets: meant for a GPU (hours on a CPU).
FULL_PLAN = DemoPlan(
    train_epochs=25,
    finetune_epochs=15,
    batch_size=256,
    cifar_stem=True,
    cifar10_per_class=None,
    cifar100_per_class=None,
    num_workers=4,
    learning_rate=0.1,
    optimizer="sgd",
)
# Sized on 2 CPU cores to finish in a few minutes: class-balanced subsets, few epochs, and the ImageNet stem
# (about 14x less compute than the CIFAR stem at 32x32), so far more images fit in the same minutes.
# Adam needs no schedule tuned to so short a run; no DataLoader processes, as they would take the 2 cores' time.
CPU_PLAN = DemoPlan(
    train_epochs=3,
    finetune_epochs=3,
    batch_size=64,
    cifar_stem=False,
    cifar10_per_class=(500, 100),
    cifar100_per_class=(50, 10),
    num_workers=0,
    learning_rate=0.001,
    optimizer="adam",
)
SYNTHETIC_FULL_PER_CLASS = {"cifar10": (5000, 1000), "cifar100": (500, 100)}  # the real sets' sizes


def synthetic_data_dir(state_dir: Path) -> Path:
    return state_dir / "synthetic-data"


def prepare_synthetic(data_dir: Path, plan: DemoPlan) -> None:
    """Write the synthetic CIFAR files the plan needs, unless the same ones are there already."""
    from app.synthetic_data import CIFAR10_FOLDER, CIFAR100_FOLDER, write_cifar10, write_cifar100

    sizes = {
        "cifar10": plan.cifar10_per_class or SYNTHETIC_FULL_PER_CLASS["cifar10"],
        "cifar100": plan.cifar100_per_class or SYNTHETIC_FULL_PER_CLASS["cifar100"],
    }
    marker = data_dir / "synthetic.json"
    written = all((data_dir / folder).is_dir() for folder in (CIFAR10_FOLDER, CIFAR100_FOLDER))
    if written and marker.exists() and json.loads(marker.read_text()) == {k: list(v) for k, v in sizes.items()}:
        console.print(f"[magenta]SYNTHETIC data[/] (coloured patterns in CIFAR's file layout) reused from {data_dir}")
        return
    write_cifar10(data_dir, train_per_class=sizes["cifar10"][0], val_per_class=sizes["cifar10"][1])
    write_cifar100(data_dir, train_per_class=sizes["cifar100"][0], val_per_class=sizes["cifar100"][1])
    marker.write_text(json.dumps(sizes))
    console.print(
        f"[magenta]SYNTHETIC data written to {data_dir}[/]: coloured patterns in CIFAR's file layout, "
        f"{sizes['cifar10'][0]}+{sizes['cifar10'][1]} images per class for 10 classes, "
        f"{sizes['cifar100'][0]}+{sizes['cifar100'][1]} for 100. Not the real CIFAR images."
    )


def check_served_data_dir(state_dir: Path, data: DemoData, data_dir: Path, url: str) -> None:
    """Refuse to run against a stack whose worker reads another data dir than this demo needs."""
    info = running_stack(state_dir)
    served = Path(info["data_dir"]) if info and info.get("data_dir") else None
    synthetic = synthetic_data_dir(state_dir).resolve()
    if served is None:
        needs = f"; its worker must read FLASHJOBS_DATA_DIR={data_dir}" if data is DemoData.synthetic else ""
        console.print(f"Using the API already answering at {url}{needs}.")
    elif data is DemoData.synthetic and served != data_dir.resolve():
        raise Failure(
            f"the stack running at {url} reads datasets from {served}, not the synthetic data in "
            f"{data_dir}. Stop it (Ctrl-C in its terminal) and run the demo again: it then starts a "
            "stack of its own"
        )
    elif data is DemoData.cifar and served == synthetic:
        raise Failure(
            f"the stack running at {url} reads the SYNTHETIC data in {served}. Stop it (Ctrl-C in its "
            "terminal) and run the demo again: it then starts a stack of its own"
        )
    else:
        console.print(f"Using the stack already running at {url} (data dir {served}); it stays running.")


def summary_table(jobs: list[dict]) -> Table:
    table = Table(
        "metric",
        *(f"{job['kind']} {job['spec']['dataset']['name']}" for job in jobs),
        title="Final metrics (last epoch)",
    )
    for name in ordered_series({n for job in jobs for n in job["latest_metrics"]}):
        table.add_row(name, *(fmt_value(job["latest_metrics"].get(name)) for job in jobs))
    table.add_row("status", *(status_text(job) for job in jobs))
    table.add_row("wall time", *(fmt_duration(job_seconds(job)) for job in jobs))
    return table


def run_demo_chain(client: Api, plan: DemoPlan) -> list[dict]:
    """Submit the chain, follow both jobs live, print the summary and artifact links; the final jobs."""
    jobs = client.post("/v1/chains", plan.chain())["jobs"]
    console.print(jobs_table(jobs))
    compare = f"{client.base_url}/#/compare?ids={','.join(job['id'] for job in jobs)}"
    console.print(f"Dashboard: {client.base_url}/   the chain live, overlaid: {compare}", soft_wrap=True)
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
            links.add_row(
                f"{job['kind']} {job['spec']['dataset']['name']}",
                item["name"],
                f"{item['size']:,}",
                client.base_url + item["url"],
            )
    if links.rows:
        console.print(links)
    return finals


@app.command()
def demo(
    data: Annotated[
        DemoData, typer.Option(help="cifar downloads CIFAR if missing; synthetic needs no internet")
    ] = DemoData.cifar,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="The whole recipe: ResNet-18 with the CIFAR stem, "
            "25 epochs on all of CIFAR-10, then 15 epochs of "
            "finetuning on all of CIFAR-100 (for a GPU)",
        ),
    ] = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Train on CIFAR-10, then finetune on CIFAR-100 from its backbone (strategy freeze), following both live."""
    settings = get_settings()
    url = (api_url or settings.api_url).rstrip("/")
    plan = FULL_PLAN if full else CPU_PLAN
    data_dir = synthetic_data_dir(settings.state_dir) if data is DemoData.synthetic else settings.data_dir
    if full:
        console.print(
            "Full recipe: ResNet-18 (CIFAR stem), 25 epochs on all of CIFAR-10, then 15 epochs of "
            "finetuning (frozen backbone) on all of CIFAR-100, batch 256. Meant for a GPU."
        )
    else:
        console.print(
            f"CPU-sized demo (--full runs the whole recipe, for a GPU): ResNet-18 with the ImageNet stem "
            f"(14x cheaper at 32x32 than the CIFAR stem), {plan.train_epochs} epochs on a class-balanced "
            f"{plan.cifar10_per_class[0] * 10}-image subset of CIFAR-10, then {plan.finetune_epochs} "
            f"epochs of finetuning (frozen backbone) on {plan.cifar100_per_class[0] * 100} images of "
            "CIFAR-100, with Adam. It shows the pipeline, not what the model can reach."
        )
    if data is DemoData.synthetic:
        prepare_synthetic(data_dir, plan)
    else:
        console.print(
            f"Data: real CIFAR; the worker downloads it (about 165 MB per set) into its data dir "
            f"({data_dir} unless the running stack says otherwise) when missing."
        )

    background = None
    if answers(url):
        check_served_data_dir(settings.state_dir, data, data_dir, url)
    elif not is_local(url):
        raise Failure(f"no API answers at {url}; start one there, or leave --api-url out to run a local stack")
    else:
        log_file = settings.state_dir / "logs" / "demo-stack.log"
        console.print(
            f"Starting a stack in the background for this demo (log: {log_file}); it stops when the demo ends."
        )
        env = {"FLASHJOBS_DATA_DIR": str(data_dir.resolve()), "FLASHJOBS_API_URL": url}
        background = start_in_background(api_url=url, env=env, log_file=log_file)
        try:
            wait_ready(url, abort_if=exit_of(background, "stack"))
        except NotReady as exc:
            stop_background(background)
            raise Failure(f"the stack did not start ({exc}); see {log_file}") from None
    started = time.monotonic()
    try:
        finals = run_demo_chain(Api(url, resolve_key(api_key)), plan)
    finally:
        if background is not None:
            console.print("Stopping the demo's stack...")
            stop_background(background)
            console.print("Stopped. `flashjobs up` serves these jobs and their artifacts again (same state dir).")
    console.print(f"Demo wall time: {fmt_duration(time.monotonic() - started)}")
    failed = [job for job in finals if job["status"] != JobStatus.SUCCEEDED]
    if any(job.get("error") and job["error"]["type"] == "dataset_missing" for job in failed):
        console.print(
            "[yellow]CIFAR is not in the data dir and could not be downloaded (no internet?). Run the "
            "demo offline on synthetic data: `flashjobs demo --data synthetic` (or `make demo "
            "DATA=synthetic`).[/]"
        )
    if data is DemoData.synthetic:
        console.print("[magenta]These numbers come from SYNTHETIC data, not CIFAR.[/]")
    raise typer.Exit(1 if failed else 0)
