"""`flashjobs predict JOB IMAGE...`: a job's model applied to image files by the service, as a table."""

import json
import mimetypes
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.markup import escape
from rich.table import Table

from app.cli.client import Failure, api_for
from app.cli.render import console
from app.cli.typer_app import ApiUrl, AsJson, JobId, app

Images = Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, ...)", show_default=False)]
TopK = Annotated[int, typer.Option("--top-k", "-k", min=1, max=1000, help="Classes shown per image")]


@app.command()
def predict(job_id: JobId, images: Images, top_k: TopK = 5, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """The top classes of each image by the job's model, with their probabilities (the job must have succeeded)."""
    files = []
    for path in images:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise Failure(f"cannot read {path}: {exc.strerror or exc}") from None
        files.append(("file", (path.name, data, mimetypes.guess_type(path.name)[0] or "application/octet-stream")))
    client = api_for(api_url)
    # The first prediction of a model loads it onto the server's device: allow for more than a warm answer.
    answer = client.request(
        "POST",
        f"/v1/jobs/{job_id}/predictions",
        params={"top_k": top_k},
        files=files,
        timeout=httpx.Timeout(120, connect=5),
    ).json()
    if as_json:
        print(json.dumps(answer, indent=2))
        return
    table = Table("image", "#", "label", "probability", title=f"Predictions of job {job_id}")
    for path, classes in zip(images, answer["predictions"], strict=True):
        for rank, item in enumerate(classes, start=1):
            shown = escape(str(path)) if rank == 1 else ""
            table.add_row(shown, str(rank), escape(item["label"]), f"{item['probability']:.4f}")
        table.add_section()
    console.print(table)
