"""Transfer commands over HTTP: a finetune against its control run."""

import json

from rich.table import Table

from app.cli.client import api_for
from app.cli.render import console, fmt_duration, fmt_value
from app.cli.typer_app import ApiUrl, AsJson, JobId, app

SHOWN = ("val_accuracy", "val_loss", "val_f1", "val_auroc")


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4g}"


@app.command()
def transfer(job_id: JobId, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """What transfer bought: a finetune's validation metrics per epoch beside its control run's, and the gain."""
    report = api_for(api_url).get(f"/v1/jobs/{job_id}/transfer")
    if as_json:
        print(json.dumps(report, indent=2))
        return
    ours, theirs = report["finetune"], report["control"]
    title = f"Finetune {report['job_id']} ({ours['status']}) vs {report['control_kind']} control "
    table = Table("epoch", *(f"{n} ft / ctl / gain" for n in SHOWN), title=title + f"{report['control_id']}")
    for row in report["epochs"]:
        cells = [
            f"{fmt_value(row['finetune'].get(n))} / {fmt_value(row['control'].get(n))} / {_signed(row['gain'].get(n))}"
            for n in SHOWN
        ]
        table.add_row(str(row["epoch"] + 1), *cells)
    console.print(table)
    reached = report["control_best_reached_at"]
    best = theirs["best_val_accuracy"]
    if best is not None:
        at = "not yet" if reached["finetune"] is None else f"at epoch {reached['finetune'] + 1}"
        console.print(
            f"The control's best val_accuracy {fmt_value(best)} (epoch {theirs['best_epoch'] + 1}): "
            f"the finetune reached it {at}"
            + (f", {report['epochs_saved']} epochs saved." if report["epochs_saved"] is not None else ".")
        )
    for name, side in (("finetune", ours), ("control", theirs)):
        compute = side["compute"]
        console.print(
            f"{name}: {compute['epochs']} epochs, {compute['image_epochs']:,} image-epochs, "
            f"{fmt_duration(compute['seconds'])} training"
        )
