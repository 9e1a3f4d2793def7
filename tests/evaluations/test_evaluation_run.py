"""worker/evaluation/run.py on a real uploaded dataset and a real model.pt: what it stores and writes, its cancel."""

import csv

import pytest

from tests.training.recording_reporter import RecordingReporter

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no SQL of its own to compare


def _evaluate(client, model_job, upload, reporter, class_map=None, classes=("cats", "dogs")):
    from app.artifacts import service as artifacts
    from app.core.config import get_settings
    from app.core.db import session_scope
    from worker.evaluation.run import evaluate

    job_id, dataset_id = model_job(list(classes)), upload({"cats": 40, "dogs": 30})  # 70 images: two batches
    body = {"dataset_id": dataset_id, "top_k": 2, "class_map": class_map}
    evaluation = client.post(f"/v1/jobs/{job_id}/evaluations", json=body).json()
    spec = client.get(f"/v1/jobs/{evaluation['id']}").json()["spec"]
    artifact_dir = get_settings().effective_artifact_dir
    with session_scope() as session:
        model = artifacts.get(session, job_id=job_id, name="model")
        path, sha256 = artifact_dir / model.path, model.sha256
    work_dir = artifact_dir / evaluation["id"]
    done = evaluate(
        spec=spec,
        model_path=path,
        model_sha256=sha256,
        artifact_dir=artifact_dir,
        work_dir=work_dir,
        seed=0,
        reporter=reporter,
        max_pixels=get_settings().dataset_max_image_pixels,
        progress_every_s=0,
    )
    return done, path


def test_every_image_of_every_split_is_predicted_and_scored(client, model_job, upload):
    reporter = RecordingReporter()
    done, _ = _evaluate(client, model_job, upload, reporter)
    result = done.result
    assert result["images"] == 70 and result["splits"] == {"train": 63, "val": 7}  # a holdout: no val/ folder
    matrix = result["confusion_matrix"]
    assert matrix["labels"] == ["cats", "dogs"] and sum(map(sum, matrix["matrix"])) == 70
    assert [sum(row) for row in matrix["matrix"]] == [40, 30]  # rows: true classes
    with done.predictions.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "true_label", "label_1", "probability_1", "label_2", "probability_2"]
    assert len(rows) == 70 and len({row["path"] for row in rows}) == 70
    correct = sum(row["label_1"] == row["true_label"] for row in rows)
    assert result["metrics"]["accuracy"] == pytest.approx(correct / 70)
    predicted = [
        [sum(1 for r in rows if (r["true_label"], r["label_1"]) == (t, p)) for p in ("cats", "dogs")]
        for t in ("cats", "dogs")
    ]
    assert matrix["matrix"] == predicted
    assert set(result["metrics"]) == {"accuracy", "f1", "auroc", "loss"}
    assert [(c["batch"], c["num_batches"]) for c in reporter.progress_calls] == [(1, 2), (2, 2)]


def test_a_class_map_scores_dataset_classes_as_the_model_classes_they_map_to(client, model_job, upload):
    done, _ = _evaluate(
        client, model_job, upload, RecordingReporter(), {"cats": "cat", "dogs": "dog"}, ("cat", "dog", "fox")
    )
    matrix = done.result["confusion_matrix"]
    assert matrix["labels"] == ["cat", "dog", "fox"] and [sum(row) for row in matrix["matrix"]] == [40, 30, 0]


def test_a_stop_request_ends_it_after_the_batch_without_a_result(client, model_job, upload):
    reporter = RecordingReporter(stop_after_batches=1)
    done, _ = _evaluate(client, model_job, upload, reporter)
    assert done is None and reporter.batches_seen == 1
