"""Dataset commands over HTTP: upload (a folder is archived on the fly and streamed), list, show, delete."""

import json
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Annotated

import httpx
import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from app.cli.client import Api, Failure, api_for
from app.cli.render import console
from app.cli.typer_app import ApiKey, ApiUrl, AsJson, Cursor, Limit, app
from app.datasets.archive import is_litter
from app.datasets.status import PENDING

datasets_app = typer.Typer(help="Image datasets: upload your own, list, show, delete.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
DatasetId = Annotated[str, typer.Argument(help="A dataset id.")]
CHUNK = 1024 * 1024
UPLOAD_TIMEOUT = httpx.Timeout(3600, connect=5)  # the answer comes once every image is decoded


class _Sink:
    """A write-only file that hands what tarfile wrote to the upload, chunk by chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def folder_files(folder: Path) -> list[tuple[Path, str]]:
    """(file, name in the archive) of the folder's regular files in a fixed order; no litter, no symlinks."""
    found = []
    for directory, subdirs, names in os.walk(folder):
        subdirs.sort()
        for name in sorted(names):
            path = Path(directory) / name
            relative = PurePosixPath(path.relative_to(folder).as_posix())
            if not is_litter(relative) and path.is_file() and not path.is_symlink():
                found.append((path, str(relative)))
    return found


def tar_stream(files: list[tuple[Path, str]]) -> Iterator[bytes]:
    """An uncompressed tar of the files (images do not compress), made as it is sent."""
    # Times and modes are fixed: the same folder gives the same bytes, so the server answers with its dataset.
    sink = _Sink()
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        for path, name in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = path.stat().st_size, 0, 0o644
            with path.open("rb") as source:
                archive.addfile(info, source)
            yield sink.take()
    yield sink.take()


def _file_stream(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


def upload(api: Api, folders: list[tuple[str, Path]] | Path, *, name: str | None) -> dict:
    """POST an archive as it is, or folders (each under a prefix: "", "train/", "val/") as a tar made on the fly."""
    if isinstance(folders, Path):
        total, chunks = folders.stat().st_size, _file_stream(folders)
        content_type = "application/zip" if folders.suffix.lower() == ".zip" else "application/x-tar"
    else:
        files = [(path, prefix + arcname) for prefix, folder in folders for path, arcname in folder_files(folder)]
        if not files:
            raise Failure(f"no files to upload in {', '.join(str(folder) for _, folder in folders)}")
        total = sum(path.stat().st_size + 1024 for path, _ in files)  # about a header and padding each
        chunks, content_type = tar_stream(files), "application/x-tar"
    with Progress(
        TextColumn("uploading"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        bar = progress.add_task("upload", total=total)

        def counted() -> Iterator[bytes]:
            for chunk in chunks:
                progress.advance(bar, len(chunk))
                yield chunk
            progress.update(bar, description="validating")

        response = api.request(
            "POST",
            "/v1/datasets",
            content=counted(),
            params={"name": name} if name else None,
            headers={"Content-Type": content_type},
            timeout=UPLOAD_TIMEOUT,
        )
    return response.json()


def wait_settled(api: Api, dataset: dict, *, poll_s: float = 1.0) -> dict:
    """Poll an importing dataset until it is ready or invalid."""
    with console.status(f"dataset {dataset['id']} is {dataset['status']}") as status:
        while dataset["status"] in PENDING:
            time.sleep(poll_s)
            dataset = api.get(f"/v1/datasets/{dataset['id']}")
            status.update(f"dataset {dataset['id']} is {dataset['status']}")
    return dataset


def print_dataset(dataset: dict) -> None:
    """The summary a person checks before training: classes and counts per split, sizes, problems."""
    colour = {"ready": "green", "invalid": "red"}.get(dataset["status"], "yellow")
    console.print(
        f"Dataset [bold]{dataset['id']}[/] {escape(dataset['name'] or '')} [{colour}]{dataset['status']}[/]"
        f"  {dataset['images']} images, {dataset['bytes'] or 0:,} bytes, {dataset['layout'] or ''}"
    )
    if dataset["splits"]:
        splits = list(dataset["splits"])
        table = Table("class", *splits)
        for name in dataset["classes"]:
            table.add_row(escape(name), *(str(dataset["splits"][split].get(name, 0)) for split in splits))
        console.print(table)
    sizes = dataset["image_sizes"]
    if sizes.get("width"):
        console.print(
            "image sizes (min/median/max): width {min}/{median}/{max}".format(**sizes["width"])
            + ", height {min}/{median}/{max}".format(**sizes["height"])
            + f"; formats {json.dumps(dataset['formats'])}; jobs train at {dataset['image_size']} px"
        )
    for problem in dataset["problems"]:
        console.print(f"[yellow]left out[/] {escape(problem['path'])}: {escape(problem['reason'])}")
    if dataset["problem_count"] > len(dataset["problems"]):
        console.print(f"... and {dataset['problem_count'] - len(dataset['problems'])} more problems")


@datasets_app.command("upload")
def upload_command(
    path: Annotated[
        Path, typer.Argument(help="A folder of class folders (or train/ and val/), or a zip or tar of one", exists=True)
    ],
    name: Annotated[str | None, typer.Option(help="A name for people")] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Upload your images: a folder is archived on the fly and streamed; an archive is sent as it is."""
    dataset = upload(api_for(api_url, api_key), [("", path)] if path.is_dir() else path, name=name or path.name)
    if as_json:
        print(json.dumps(dataset, indent=2))
        return
    print_dataset(dataset)
    raise typer.Exit(0 if dataset["status"] == "ready" else 1)


@datasets_app.command("list")
def list_command(
    limit: Limit = 20,
    cursor: Cursor = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """List datasets, newest first."""
    page = api_for(api_url, api_key).get("/v1/datasets", limit=limit, cursor=cursor)
    if as_json:
        print(json.dumps(page, indent=2))
        return
    table = Table("id", "name", "status", "classes", "images", "problems", "created")
    for d in page["datasets"]:
        table.add_row(
            d["id"],
            escape(d["name"] or ""),
            d["status"],
            str(len(d["classes"])),
            str(d["images"]),
            str(d["problem_count"]),
            d["created_at"][:19],
        )
    console.print(table)
    if page["next_cursor"]:
        console.print(f"More: flashjobs datasets list --cursor {page['next_cursor']}")


@datasets_app.command("show")
def show_command(
    dataset_id: DatasetId, api_url: ApiUrl = None, api_key: ApiKey = None, as_json: AsJson = False
) -> None:
    """One dataset: classes, images per split, sizes, formats, and the files left out with why."""
    dataset = api_for(api_url, api_key).get(f"/v1/datasets/{dataset_id}")
    if as_json:
        print(json.dumps(dataset, indent=2))
    else:
        print_dataset(dataset)


@datasets_app.command("delete")
def delete_command(dataset_id: DatasetId, api_url: ApiUrl = None, api_key: ApiKey = None) -> None:
    """Delete a dataset and its files (refused while a waiting, queued or running job uses it)."""
    api_for(api_url, api_key).request("DELETE", f"/v1/datasets/{dataset_id}")
    console.print(f"Dataset {dataset_id} deleted.")
