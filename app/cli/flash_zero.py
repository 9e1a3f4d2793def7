"""Flash Zero's command line, trained by the service: `flashjobs image_classification ... from_folders ...`.

Its users change one word (`flash` -> `flashjobs`): the folders are uploaded as a dataset, the job is submitted
and watched live. Every Flash Zero option with a meaning here is mapped to the job spec; the others are refused
with a message that says why, never ignored.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.client import Failure, api_for
from app.cli.datasets import print_dataset, upload, wait_settled
from app.cli.jobs import follow
from app.cli.render import console
from app.cli.typer_app import ApiKey, ApiUrl, app
from app.jobs.status import JobStatus

HYMENOPTERA_URL = "https://pl-flash-data.s3.amazonaws.com/hymenoptera_data.zip"  # Flash Zero's default data
BUILDERS = ("from_folders", "from_hymenoptera")
FLASH_ZERO_MAX_EPOCHS = 3  # what `flash image_classification` trains for unless told


def _precision(value: str) -> str:
    mapped = {"32": "32", "16": "16", "16-mixed": "16", "bf16": "bf16", "bf16-mixed": "bf16"}.get(value)
    if mapped is None:
        raise ValueError("one of 32, 16, bf16")
    return mapped


def _image_size(value: str) -> int:
    """Flash's `--transform_kwargs '{"image_size": [h, w]}'`; the service trains on squares."""
    size = json.loads(value).get("image_size")
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if height != width:
        raise ValueError("flashjobs resizes to squares: give image_size as [n, n]")
    return int(height)


# Flash Zero option -> (section of the job spec, field, converter).
MAPPED: dict[str, tuple[str, str, Callable[[str], Any]]] = {
    "trainer.max_epochs": ("trainer", "max_epochs", int),
    "trainer.devices": ("trainer", "devices", int),
    "trainer.gpus": ("trainer", "devices", int),
    "trainer.precision": ("trainer", "precision", _precision),
    "seed_everything": ("trainer", "seed", int),
    "model.backbone": ("model", "backbone", str),
    "model.learning_rate": ("trainer", "learning_rate", float),
    "model.optimizer": ("trainer", "optimizer", str.lower),
    "batch_size": ("trainer", "batch_size", int),
    "num_workers": ("trainer", "num_workers", int),
    "transform_kwargs": ("dataset", "image_size", _image_size),
}
FOLDERS = ("train_folder", "val_folder")
# Options that mean something in Flash Zero but not in a flashjobs job, and why.
REFUSED = {
    "model.pretrained": "flashjobs backbones start from random weights (nothing is downloaded); to start from "
    "trained weights, finetune from a job's backbone (kind finetune)",
    "test_folder": "a flashjobs job has no test stage: the val split is evaluated after every epoch",
    "predict_folder": "a flashjobs job does not predict; download its TorchScript `model` artifact for that",
    "val_split": "without --val_folder, flashjobs holds out a fixed, seeded 10% of each class",
}


@dataclass
class FlashZeroRun:
    """What a Flash Zero command line asks for: where the images are and the job spec's fields."""

    builder: str
    folders: dict[str, Path] = field(default_factory=dict)
    spec: dict[str, dict[str, Any]] = field(default_factory=dict)


def parse(args: list[str]) -> FlashZeroRun:
    """Flash Zero's `--key value` / `--key=value` options around one data builder (from_folders, ...)."""
    run = FlashZeroRun(builder="")
    tokens = list(args)
    while tokens:
        token = tokens.pop(0)
        if not token.startswith("--"):
            if run.builder:
                raise Failure(f"{token!r}: one data builder only (already {run.builder})")
            if token not in BUILDERS:
                raise Failure(
                    f"{token!r}: flashjobs trains single-label image folders; the builders are {', '.join(BUILDERS)}"
                )
            run.builder = token
            continue
        key, has_value, value = token[2:].partition("=")
        if not has_value:
            if not tokens:
                raise Failure(f"--{key} needs a value")
            value = tokens.pop(0)
        _apply(run, key, value)
    if not run.builder:
        raise Failure("name the data: from_folders --train_folder DIR [--val_folder DIR], or from_hymenoptera")
    if run.builder == "from_folders" and "train_folder" not in run.folders:
        raise Failure("from_folders needs --train_folder DIR")
    if run.builder != "from_folders" and run.folders:
        raise Failure(f"--train_folder and --val_folder belong to from_folders, not {run.builder}")
    return run


def _apply(run: FlashZeroRun, key: str, value: str) -> None:
    if key in FOLDERS:
        folder = Path(value)
        if not folder.is_dir():
            raise Failure(f"--{key} {value}: no such folder")
        run.folders[key] = folder
    elif key == "model.pretrained" and value.lower() == "false":
        return  # what flashjobs does anyway
    elif key in REFUSED:
        raise Failure(f"--{key}: {REFUSED[key]}")
    elif key in MAPPED:
        section, name, convert = MAPPED[key]
        try:
            run.spec.setdefault(section, {})[name] = convert(value)
        except (ValueError, TypeError, AttributeError) as exc:
            raise Failure(f"--{key} {value}: {exc}") from exc
    else:
        raise Failure(
            f"--{key} has no meaning for a flashjobs job; the Flash Zero options flashjobs maps are "
            f"{', '.join('--' + k for k in (*MAPPED, *FOLDERS))}"
        )


def job_spec(run: FlashZeroRun, dataset_id: str) -> dict[str, Any]:
    """The job: Flash Zero's defaults (3 epochs, ResNet-18 with its ImageNet stem) under the options given."""
    return {
        "kind": "train",
        "dataset": {"id": dataset_id, **run.spec.get("dataset", {})},
        "model": {"backbone": "resnet18", "cifar_stem": False, **run.spec.get("model", {})},
        "trainer": {"max_epochs": FLASH_ZERO_MAX_EPOCHS, **run.spec.get("trainer", {})},
    }


@app.command("image_classification", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def image_classification(
    ctx: typer.Context,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    watch: Annotated[bool, typer.Option(help="Follow the job until it ends")] = True,
) -> None:
    """Flash Zero's `flash image_classification [--trainer.max_epochs N] [--model.backbone B] from_folders
    --train_folder DIR [--val_folder DIR]`, trained by the service: uploads, submits, watches."""
    run = parse(ctx.args)
    api = api_for(api_url, api_key)
    if run.builder == "from_hymenoptera":
        dataset = wait_settled(api, api.post("/v1/datasets", {"url": HYMENOPTERA_URL, "name": "hymenoptera"}))
    else:
        prefixes = (
            {"train_folder": "train/", "val_folder": "val/"} if "val_folder" in run.folders else {"train_folder": ""}
        )
        dataset = upload(
            api,
            [(prefixes[key], run.folders[key]) for key in prefixes],
            name=run.folders["train_folder"].resolve().parent.name or None,
        )
    print_dataset(dataset)
    if dataset["status"] != "ready":
        raise typer.Exit(1)
    job = api.post("/v1/jobs", job_spec(run, dataset["id"]))
    console.print(
        f"Job {job['id']} submitted: {job['spec']['model']['backbone']}, "
        f"{job['progress']['max_epochs']} epochs at {job['spec']['dataset']['image_size']} px"
    )
    if not watch:
        return
    final = follow(api, job["id"])
    raise typer.Exit(0 if final["status"] == JobStatus.SUCCEEDED else 1)
