"""The screenshots in docs/: the dashboard's job page and compare view, of real jobs trained for the purpose.

A real API and Celery worker (tests/e2e/service_stack.py) on SYNTHETIC CIFAR-format data (app/synthetic_data.py,
small subsets so that it ends in minutes on a CPU) train the demo's chain, CIFAR-10 train -> CIFAR-100 finetune
(strategy freeze), beside a CIFAR-100 job trained from scratch for as many epochs: the finetune's control. Headless
Chromium then saves docs/dashboard-job.png (the finetune: curves, lineage, artifacts) and docs/dashboard-compare.png
(the finetune against its control).

    .venv/bin/python bench/screenshots.py            # ~8 min on 2 busy CPU cores; needs `chromium`
"""

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.core.migrate import upgrade  # noqa: E402
from tests.e2e.service_stack import ServiceStack, wait_for  # noqa: E402
from tests.helpers import make_key  # noqa: E402

MODEL = {"backbone": "resnet18", "cifar_stem": False}  # the ImageNet stem: minutes, not hours, on a CPU
TRAINER = {"batch_size": 32, "optimizer": "adam", "learning_rate": 0.001, "num_workers": 0}
CIFAR100 = {"name": "cifar100", "train_limit": 300, "val_limit": 100}
CHAIN = {
    "steps": [
        {
            "kind": "train",
            "dataset": {"name": "cifar10", "train_limit": 400, "val_limit": 100},
            "model": MODEL,
            "trainer": {**TRAINER, "max_epochs": 5},
        },
        {
            "kind": "finetune",
            "dataset": CIFAR100,
            "init_from": {"step": 0},
            "finetune": {"strategy": "freeze"},
            "trainer": {**TRAINER, "max_epochs": 5},
        },
    ]
}
CONTROL = {"kind": "train", "dataset": CIFAR100, "model": MODEL, "trainer": {**TRAINER, "max_epochs": 5}}


def main() -> None:
    from playwright.sync_api import sync_playwright

    from app.core.embedded_redis import start_redis_server
    from app.jobs.status import FINAL
    from app.synthetic_data import write_cifar10, write_cifar100
    from tests.helpers import free_port

    executable = shutil.which("chromium")
    if executable is None:
        sys.exit("chromium is not installed: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp_name:
        tmp = Path(tmp_name)
        write_cifar10(tmp / "data", train_per_class=40, val_per_class=10)
        write_cifar100(tmp / "data", train_per_class=3, val_per_class=1)
        redis_port = free_port()
        redis = start_redis_server(port=redis_port, data_dir=tmp / "redis")
        env = {
            "FLASHJOBS_DATABASE_URL": f"sqlite:///{tmp / 'flashjobs.db'}",
            "FLASHJOBS_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "FLASHJOBS_STATE_DIR": str(tmp / "state"),
            "FLASHJOBS_ARTIFACT_DIR": str(tmp / "artifacts"),
            "FLASHJOBS_DATA_DIR": str(tmp / "data"),
            "FLASHJOBS_ALLOW_DOWNLOADS": "false",
        }
        os.environ.update(env)
        (tmp / "logs").mkdir()
        upgrade(env["FLASHJOBS_DATABASE_URL"])
        api_key = make_key("submit")  # the page and this script's requests carry it
        stack = ServiceStack(env, tmp / "logs", api_key=api_key)
        try:
            stack.start_api()
            stack.start_worker()
            api = stack.http
            train, finetune = api.post("/v1/chains", json=CHAIN).json()["jobs"]
            control = api.post("/v1/jobs", json=CONTROL).json()
            print(f"training {train['id']} -> {finetune['id']}, control {control['id']}: {stack.url}/", flush=True)
            for job in (train, finetune, control):
                final = wait_for(
                    lambda job=job: (j := api.get(f"/v1/jobs/{job['id']}").json())["status"] in FINAL and j,
                    timeout=1800,
                    interval=2,
                    what=f"job {job['id']}",
                )
                print(f"{final['id']} {final['status']}", flush=True)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable, headless=True)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.add_init_script(f"sessionStorage.setItem('flashjobs.apiKey', {json.dumps(api_key)})")
                page.goto(f"{stack.url}/#/job/{finetune['id']}")
                page.locator('#artifacts tr[data-artifact="model"]').wait_for(timeout=30_000)
                page.wait_for_function("() => document.querySelectorAll('.chart[data-epochs=\"5\"]').length >= 6")
                page.screenshot(path=str(REPO / "docs" / "dashboard-job.png"), full_page=True)
                page.goto(f"{stack.url}/#/compare?ids={finetune['id']},{control['id']}")
                page.wait_for_function("() => document.querySelectorAll('.chart[data-epochs=\"5\"]').length === 4")
                page.screenshot(path=str(REPO / "docs" / "dashboard-compare.png"), full_page=True)
                browser.close()
            print("wrote docs/dashboard-job.png and docs/dashboard-compare.png")
        finally:
            stack.stop()
            redis.terminate()
            redis.wait(timeout=10)


if __name__ == "__main__":
    main()
