"""Done means, through the real stack (uvicorn, a Celery worker process, Redis, SQL, Flash training): a tiny train
job that succeeded is answered again for the same spec with `reuse: if_identical` (200, no second training); the
estimate of that spec rests on its run; a second run of it (`reuse: never`) starts with that estimate, and the
estimate's relative error against the run's actual duration is printed (docs/benchmarks.md reports it)."""

from pathlib import Path

import pytest

from tests.e2e.service_stack import ServiceStack

pytestmark = pytest.mark.slow

TRAIN_IMAGES = 200  # 20 per class of CIFAR-10's 10, written below; train_limit says so to the estimate
SPEC = {
    "kind": "train",
    "dataset": {"name": "cifar10", "train_limit": TRAIN_IMAGES},
    "model": {"backbone": "resnet18", "cifar_stem": False},  # the ImageNet stem: quick on a CPU
    "trainer": {"max_epochs": 2, "batch_size": 20, "optimizer": "adam", "learning_rate": 0.001, "num_workers": 0},
}


@pytest.fixture
def stack(service_env: dict[str, str], start_stack) -> ServiceStack:
    from app.synthetic_data import write_cifar10

    write_cifar10(Path(service_env["FLASHJOBS_DATA_DIR"]), train_per_class=20, val_per_class=4)
    return start_stack(FLASHJOBS_HEARTBEAT_S="0.5")


def _duration(job: dict) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])).total_seconds()


def test_reuse_and_estimate_through_the_stack(stack):
    first = stack.http.post("/v1/jobs", json=SPEC, timeout=30)
    assert first.status_code == 201, first.text
    assert first.json()["estimate"]["basis_runs"] == 0
    done = stack.wait_final(first.json()["id"])
    assert done["status"] == "succeeded", done

    again = stack.http.post("/v1/jobs", json={**SPEC, "reuse": "if_identical", "priority": "high"}, timeout=30)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == done["id"] and again.json()["reused"] is True
    assert stack.http.get("/v1/jobs", params={"kind": "train"}, timeout=10).json()["jobs"] == [stack.job(done["id"])]

    estimate = stack.http.post("/v1/estimates", json=SPEC, timeout=30).json()
    assert estimate["basis_runs"] == 1 and estimate["seconds"] > 0 and estimate["images_per_second"] > 0

    second = stack.http.post("/v1/jobs", json={**SPEC, "reuse": "never"}, timeout=30).json()
    assert second["estimate"] == estimate and second["id"] != done["id"]
    finished = stack.wait_final(second["id"])
    assert finished["status"] == "succeeded", finished
    actual = _duration(finished)
    error = (estimate["seconds"] - actual) / actual
    print(
        f"\nestimate {estimate['seconds']:.1f} s (basis: 1 run of {_duration(done):.1f} s, "
        f"{estimate['images_per_second']:.0f} img/s), actual {actual:.1f} s: relative error {error:+.0%}"
    )
    assert abs(error) < 3  # a sanity bound on a shared CPU; the figure is what matters
