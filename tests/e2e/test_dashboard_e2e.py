"""The dashboard in a real headless Chromium against the real stack (API, Celery worker, Redis, SQL) training
tiny jobs: the table goes live, curves follow the SSE stream, cancel and compare work, 422s land by their fields."""

from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from app.jobs.status import FINAL
from tests.e2e.browser import chromium_page
from tests.e2e.service_stack import ServiceStack, wait_for

pytestmark = pytest.mark.slow

FAST = {"backbone": "resnet18", "cifar_stem": False}  # the ImageNet stem: 15x less compute on CPU
TRAINER = {"batch_size": 20, "optimizer": "adam", "learning_rate": 0.001, "num_workers": 0}


def train_spec(*, epochs: int, images: int, seed: int = 0) -> dict:
    return {
        "kind": "train",
        "dataset": {"name": "cifar10", "train_limit": images, "val_limit": 50},
        "model": FAST,
        "trainer": {**TRAINER, "max_epochs": epochs, "seed": seed},
    }


@pytest.fixture
def stack(service_env: dict[str, str], start_stack) -> ServiceStack:
    from app.synthetic_data import write_cifar10

    write_cifar10(Path(service_env["FLASHJOBS_DATA_DIR"]), train_per_class=40, val_per_class=10)
    return start_stack(FLASHJOBS_PROGRESS_EVERY_S="0.3", FLASHJOBS_HEARTBEAT_S="0.5")


def submit(stack: ServiceStack, spec: dict) -> str:
    response = stack.http.post("/v1/jobs", json=spec, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def job(stack: ServiceStack, job_id: str) -> dict:
    return stack.http.get(f"/v1/jobs/{job_id}", timeout=10).json()


def recorded_at_ms(database_url: str, job_id: str) -> dict[int, float]:
    """When each epoch's metrics were committed (ms since the Unix epoch), from SQL: what the page's stream reads."""
    from app.metrics.models import Metric

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            query = select(Metric.epoch, func.max(Metric.recorded_at)).where(Metric.job_id == job_id)
            return {epoch: at.timestamp() * 1000 for epoch, at in connection.execute(query.group_by(Metric.epoch))}
    finally:
        engine.dispose()


def test_live_table_curves_and_cancel(stack: ServiceStack, database_url: str, tmp_path: Path):
    """The table shows the running job and its progress moves; each epoch drawn within 2 s; cancel cancels."""
    job_id = submit(stack, train_spec(epochs=40, images=100))
    with chromium_page(stack.url, api_key=stack.api_key) as (page, errors):
        page.goto("/#/jobs")
        row = page.locator(f'#jobs tr[data-job="{job_id}"]')
        row.and_(page.locator('[data-status="running"]')).wait_for(timeout=300_000)
        first_epoch = int(row.get_attribute("data-epoch"))
        # No reload: the table re-reads the page itself; the row's epoch and its bar move on.
        page.wait_for_function(
            f"""() => {{
                const row = document.querySelector('#jobs tr[data-job="{job_id}"]');
                return row && Number(row.dataset.epoch) > {first_epoch}
                    && Number(row.querySelector('.bar').dataset.fraction) > {first_epoch} / 40;
            }}""",
            timeout=300_000,
        )

        page.goto(f"/#/job/{job_id}")
        page.locator('[data-chart="accuracy"]').wait_for(timeout=60_000)
        opened_ms = page.evaluate("Date.now()")
        # Three epochs recorded while the page is open, each drawn within 2 s of its commit in SQL.
        page.wait_for_function(
            f"() => Object.values(window.__flashjobs.drawn).filter((t) => t > {opened_ms}).length >= 3",
            timeout=300_000,
        )
        page.locator("#batch-progress .bar").wait_for(timeout=30_000)  # the within-epoch bar, from progress events
        drawn = {int(k): v for k, v in page.evaluate("window.__flashjobs.drawn").items()}
        recorded = recorded_at_ms(database_url, job_id)
        live = {epoch: drawn[epoch] - recorded[epoch] for epoch in drawn if drawn[epoch] > opened_ms}
        assert len(live) >= 3 and all(0 <= lag < 2000 for lag in live.values()), live
        epochs_drawn = int(page.locator('[data-chart="accuracy"]').get_attribute("data-epochs"))
        assert epochs_drawn >= len(drawn)  # every epoch streamed is on the chart
        page.screenshot(path=str(tmp_path / "job.png"), full_page=True)

        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#cancel").click()
        page.locator('#job-status [data-status="cancelled"]').wait_for(timeout=60_000)
        assert page.locator("#cancel").is_hidden()
        assert "cancelled" in page.locator("#job-error").inner_text()
        assert errors == []
    final = job(stack, job_id)
    assert final["status"] == "cancelled" and final["error"]["type"] == "cancelled"


def test_compare_overlays_two_jobs(stack: ServiceStack, tmp_path: Path):
    """Two seeds of one job overlaid, from the URL alone, with a legend naming both."""
    ids = [submit(stack, train_spec(epochs=2, images=100, seed=seed)) for seed in (0, 1)]
    for job_id in ids:
        wait_for(lambda job_id=job_id: job(stack, job_id)["status"] in FINAL, timeout=300, what="the jobs to end")
    assert [job(stack, job_id)["status"] for job_id in ids] == ["succeeded", "succeeded"], stack.all_logs()
    with chromium_page(stack.url, api_key=stack.api_key) as (page, errors):
        page.goto(f"/#/compare?ids={','.join(ids)}")
        chart = page.locator('[data-chart="accuracy"]')
        chart.wait_for(timeout=30_000)
        page.wait_for_function("() => document.querySelector('[data-chart=\"accuracy\"]').dataset.points === '8'")
        assert set(chart.get_attribute("data-jobs").split(",")) == set(ids)
        legend = chart.locator(".u-legend .u-series").all_inner_texts()
        for job_id in ids:  # a train and a val line per job in the chart's legend, and a row in the job table
            assert sum(job_id[:8] in entry for entry in legend) == 2, legend
            assert page.locator(f'#compare-jobs tr[data-job="{job_id}"]').count() == 1
        assert page.locator(".chart").count() == 4  # loss, accuracy, F1, AUROC
        page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
        # The table's selection leads to the same address.
        page.goto("/#/jobs")
        for job_id in ids:
            page.locator(f'#jobs tr[data-job="{job_id}"] input[type=checkbox]').check()
        page.locator("#compare-selected").click()
        page.wait_for_url("**/#/compare?ids=*")
        assert set(page.url.split("ids=")[1].split(",")) == set(ids)
        assert errors == []


def test_submit_form_shows_the_apis_422_next_to_the_field(stack: ServiceStack):
    with chromium_page(stack.url, api_key=stack.api_key) as (page, errors):
        page.goto("/#/submit")
        page.fill('input[name="epochs"]', "0")
        page.click("#submit-form button[type=submit]")
        epochs_error = page.locator("#error-epochs")
        epochs_error.wait_for(state="visible")
        page.wait_for_function("() => document.querySelector('#error-epochs').textContent !== ''")
        assert "greater than or equal to 1" in epochs_error.inner_text()
        assert page.locator("#error-dataset").inner_text() == "" and page.locator("#submit-error").inner_text() == ""

        page.select_option('select[name="kind"]', "finetune")
        page.fill('input[name="epochs"]', "2")
        page.fill('input[name="parent"]', "no-such-job")
        page.click("#submit-form button[type=submit]")
        page.wait_for_function("() => document.querySelector('#error-parent').textContent !== ''")
        assert "no job 'no-such-job'" in page.locator("#error-parent").inner_text()
        assert page.locator("#error-epochs").inner_text() == ""

        page.select_option('select[name="kind"]', "train")  # a valid one opens its page
        page.click("#submit-form button[type=submit]")
        page.wait_for_url("**/#/job/*")
        job_id = page.url.rsplit("/", 1)[1]
        assert job(stack, job_id)["spec"]["trainer"]["max_epochs"] == 2
        page.locator(f'#lineage li[data-job="{job_id}"]').wait_for()
        assert errors == []


def test_lineage_and_a_datasets_summary(stack: ServiceStack):
    """A chain's ancestry and children, each linked; an uploaded dataset's counts, problems and thumbnails."""
    from tests.datasets.archives import hymenoptera_tree, zip_bytes

    finetune = {"kind": "finetune", "dataset": {"name": "cifar10"}, "init_from": {"step": 0}, "trainer": TRAINER}
    chain = {"steps": [train_spec(epochs=1, images=100), finetune, {**finetune, "init_from": {"step": 1}}]}
    root, middle, leaf = (j["id"] for j in stack.http.post("/v1/chains", json=chain, timeout=10).json()["jobs"])
    upload = stack.http.post(
        "/v1/datasets",
        files={"file": ("hymenoptera_data.zip", zip_bytes(hymenoptera_tree()))},
        data={"name": "hymenoptera"},
        timeout=60,
    )
    assert upload.status_code == 201, upload.text
    dataset = upload.json()
    with chromium_page(stack.url, api_key=stack.api_key) as (page, errors):
        page.goto(f"/#/job/{middle}")
        nested = page.locator(f'#lineage li[data-job="{root}"] li[data-job="{middle}"] li[data-job="{leaf}"]')
        nested.wait_for(timeout=30_000)
        assert page.locator(f'#lineage li.here[data-job="{middle}"]').count() == 1
        page.locator(f'#lineage li[data-job="{leaf}"] > a').click()  # each linked
        page.locator(f'#lineage li.here[data-job="{leaf}"]').wait_for()
        assert page.url.endswith(f"#/job/{leaf}")

        page.goto("/#/datasets")
        page.locator(f'#datasets tr[data-dataset="{dataset["id"]}"] a').click()
        page.locator("#class-counts tbody tr").first.wait_for()
        rows = [r.split("\t") for r in page.locator("#class-counts tbody tr").all_inner_texts()]
        assert rows == [["ants", "12", "4"], ["bees", "12", "4"]]
        assert "hymenoptera_data/train/bees/corrupt.jpg" in page.content()
        page.wait_for_function("() => document.querySelector('img.samples')?.naturalWidth > 0", timeout=30_000)
        assert errors == []


def test_a_page_without_a_key_asks_for_one_and_sends_it_on_every_request(stack: ServiceStack):
    """The API's 401 brings up the key form; the key typed there is kept for the tab and every API call, the SSE
    stream and downloads included, sends it."""
    job_id = submit(stack, train_spec(epochs=1, images=100))
    with chromium_page(stack.url) as (page, errors):
        sent: list[tuple[str, str | None]] = []
        page.on("request", lambda r: "/v1/" in r.url and sent.append((r.url, r.headers.get("authorization"))))
        page.goto("/#/jobs")
        page.locator('#login input[name="api-key"]').wait_for()  # asked for, unprompted: the API said 401
        page.fill('#login input[name="api-key"]', stack.api_key)
        page.click("#login button[type=submit]")
        page.locator(f'#jobs tr[data-job="{job_id}"]').wait_for()
        assert page.evaluate("sessionStorage.getItem('flashjobs.apiKey')") == stack.api_key
        page.goto(f"/#/job/{job_id}")
        page.locator('[data-chart="accuracy"]').wait_for(timeout=300_000)
        page.locator('#artifacts tr[data-artifact="model"] button').click(timeout=300_000)
        wait_for(lambda: any(url.endswith("/artifacts/model") for url, _ in sent), timeout=30, what="the download")
        urls = {url.split("?")[0].replace(stack.url, "") for url, _ in sent}
        assert {f"/v1/jobs/{job_id}/metrics/stream", f"/v1/jobs/{job_id}/artifacts/model", "/v1/jobs"} <= urls
        first_keyed = next(i for i, (_, key) in enumerate(sent) if key)
        assert first_keyed > 0 and {key for _, key in sent[:first_keyed]} == {None}  # none before it was typed
        assert {key for _, key in sent[first_keyed:]} == {f"Bearer {stack.api_key}"}
        assert errors == []


def test_warnings_estimate_transfer_and_an_evaluation(stack: ServiceStack, service_env: dict[str, str], tmp_path: Path):
    """A finetune whose val set holds parent training images: its warning, estimate and table against its control
    run on its page; an evaluation of it shows its metrics, confusion matrix and predictions.csv."""
    from app.synthetic_data import write_image_folder
    from tests.datasets.archives import class_tree, zip_bytes

    data = Path(service_env["FLASHJOBS_DATA_DIR"])
    for name, classes, per_class in (("parent/train", ["p0", "p1"], 8), ("parent/val", ["p0", "p1"], 2)):
        write_image_folder(data / name, classes, per_class=per_class, size=16, seed=len(name))
    for name, per_class in (("child/train", 8), ("child/val", 2)):
        write_image_folder(data / name, ["c0", "c1"], per_class=per_class, size=16, seed=len(name) + 7)
    for n in range(2):  # two of the parent's training images in the finetune's validation set
        (data / f"child/val/c0/copied_{n}.png").write_bytes((data / f"parent/train/p0/p0_{n}.png").read_bytes())
    trainer = {**TRAINER, "batch_size": 8, "max_epochs": 1}
    folder = {"name": "folder", "train_folder": "parent/train", "val_folder": "parent/val"}
    child = {**folder, "train_folder": "child/train", "val_folder": "child/val"}
    steps = [
        {"kind": "train", "dataset": folder, "model": FAST, "trainer": trainer},
        {
            "kind": "finetune",
            "dataset": child,
            "init_from": {"step": 0},
            "control": {"kind": "scratch"},
            "trainer": trainer,
        },
    ]
    _, finetune_id, control_id = (j["id"] for j in stack.http.post("/v1/chains", json={"steps": steps}).json()["jobs"])
    finetune, control = stack.wait_final(finetune_id), stack.wait_final(control_id)
    assert (finetune["status"], control["status"]) == ("succeeded", "succeeded"), stack.all_logs()
    (warning,) = finetune["warnings"]
    report = stack.http.get(f"/v1/jobs/{finetune_id}/transfer").json()
    upload = stack.http.post(
        "/v1/datasets", files={"file": ("c.zip", zip_bytes(class_tree({"c0": 3, "c1": 3})))}, timeout=60
    )
    asked = stack.http.post(f"/v1/jobs/{finetune_id}/evaluations", json={"dataset_id": upload.json()["id"]})
    assert asked.status_code == 201, asked.text
    evaluation = stack.wait_final(asked.json()["id"])
    assert evaluation["status"] == "succeeded", stack.all_logs()
    with chromium_page(stack.url, api_key=stack.api_key) as (page, errors):
        page.goto(f"/#/job/{finetune_id}")
        block = page.locator('#warnings [data-warning="val_in_parent_train"]')
        block.wait_for(timeout=30_000)
        assert f"{warning['count']} of the {warning['of']} validation images" in block.inner_text()
        assert f"exact {warning['exact']}" in block.inner_text() and block.locator("li").count() >= 2
        estimate = finetune["estimate"]
        expected = f"from {estimate['basis_runs']} run" if estimate["basis_runs"] else estimate["reason"]
        assert expected in page.locator("#estimate").inner_text()
        rows = page.locator("#transfer-epochs tbody tr")
        rows.first.wait_for(timeout=30_000)
        assert [r.get_attribute("data-epoch") for r in rows.all()] == [str(e["epoch"]) for e in report["epochs"]]
        cells = rows.first.locator("td").all_inner_texts()
        assert cells[1:3] == [f"{report['epochs'][0][side]['val_accuracy']:.3f}" for side in ("finetune", "control")]
        assert "epochs saved" in page.locator("#epochs-saved").inner_text()
        page.screenshot(path=str(tmp_path / "finetune.png"), full_page=True)
        page.locator(f'#job-extra a[href="#/job/{control_id}"]').click()  # the control's page links back
        page.locator(f'#summary a[href="#/job/{finetune_id}"]').wait_for()
        assert page.locator("#warnings .warning").count() == 0  # a control run has no parent to leak from

        page.goto(f"/#/job/{evaluation['id']}")
        matrix = page.locator("#confusion-matrix")
        matrix.wait_for(timeout=30_000)
        labels = evaluation["result"]["confusion_matrix"]["labels"]
        assert matrix.locator("thead th").all_inner_texts()[1:] == labels and matrix.locator("tbody tr").count() == 2
        accuracy = page.locator('#eval-metrics [data-metric="accuracy"]').inner_text()
        assert accuracy == f"{evaluation['result']['metrics']['accuracy']:.3f}"
        assert page.locator(f'#job-extra a[href="#/job/{finetune_id}"]').count() == 1
        page.screenshot(path=str(tmp_path / "evaluation.png"), full_page=True)
        with page.expect_download() as downloaded:
            page.locator("#download-predictions").click()
        assert len(Path(downloaded.value.path()).read_text().splitlines()) == 1 + 6
        assert errors == []
