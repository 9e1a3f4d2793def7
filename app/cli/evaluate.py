"""`flashjobs evaluate JOB DATASET`: a job's model over every image of a dataset, its metrics and confusion matrix."""

import json
import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from app.cli.client import Failure, api_for
from app.cli.render import console, fmt_value
from app.cli.typer_app import ApiUrl, AsJson, JobId, app
from app.jobs.status import FINAL, JobStatus

DatasetId = Annotated[str, typer.Argument(help="An uploaded dataset's id (flashjobs datasets list)")]
TopK = Annotated[int, typer.Option("--top-k", "-k", min=1, max=1000, help="Classes per image in predictions.csv")]
ClassMap = Annotated[
    list[str] | None,
    typer.Option("--map", help="DATASET_CLASS=MODEL_CLASS, once per dataset class, where their names differ"),
]
Wait = Annotated[bool, typer.Option("--wait", help="Wait until it ends, then show its metrics")]
POLL_S = 1.0


def _class_map(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    if any("=" not in pair for pair in pairs):
        raise typer.BadParameter("give each as DATASET_CLASS=MODEL_CLASS", param_hint="--map")
    return dict(pair.split("=", 1) for pair in pairs)


@app.command()
def evaluate(
    job_id: JobId,
    dataset_id: DatasetId,
    top_k: TopK = 5,
    class_map: ClassMap = None,
    wait: Wait = False,
    api_url: ApiUrl = None,
    as_json: AsJson = False,
) -> None:
    """Run a succeeded job's model over a dataset: accuracy, F1, AUROC, a confusion matrix and predictions.csv."""
    client = api_for(api_url)
    body = {"dataset_id": dataset_id, "top_k": top_k, "class_map": _class_map(class_map)}
    evaluation = client.post(f"/v1/jobs/{job_id}/evaluations", body)
    while wait and evaluation["status"] not in FINAL:
        time.sleep(POLL_S)
        evaluation = client.get(f"/v1/evaluations/{evaluation['id']}")
    if as_json:
        print(json.dumps(evaluation, indent=2))
        return
    console.print(f"evaluation {evaluation['id']} of job {job_id}: {evaluation['status']}")
    if evaluation["status"] in FINAL and evaluation["status"] != JobStatus.SUCCEEDED:
        error = evaluation["error"] or {}
        raise Failure(f"evaluation {evaluation['status']}: {error.get('type')}: {error.get('message')}")
    result = evaluation["result"]
    if result is None:
        console.print(f"poll it at GET /v1/evaluations/{evaluation['id']}, or evaluate with --wait")
        return
    show_result(result)
    console.print(f"predictions.csv: {evaluation['predictions_url']}")


def show_result(result: dict) -> None:
    """The metrics, then the confusion matrix (rows: true classes, columns: predicted)."""
    console.print(f"{result['images']} images ({_splits(result['splits'])}) in {result['seconds']:.1f} s")
    metrics = Table("metric", "value", title="metrics")
    for name, value in result["metrics"].items():
        metrics.add_row(name, fmt_value(value))
    console.print(metrics)
    labels = result["confusion_matrix"]["labels"]
    matrix = Table("true \\ predicted", *map(escape, labels), title="confusion matrix")
    for label, row in zip(labels, result["confusion_matrix"]["matrix"], strict=True):
        matrix.add_row(escape(label), *map(str, row))
    console.print(matrix)


def _splits(splits: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in splits.items())
