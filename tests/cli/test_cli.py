"""The `flashjobs` command: `up` as a real process tree, the other commands against it over HTTP.

The jobs submitted here fail fast (no CIFAR in an empty data dir, downloads off), so no training runs:
a full run through the CLI is the end-to-end tests' business.
"""

import hashlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.cli.client import Api, Failure, describe_error, download_artifact, parse_sse
from app.cli.demo import CPU_PLAN, FULL_PLAN
from app.cli.plot import draw_curves
from app.core.embedded_redis import port_is_open
from app.jobs.schemas import ChainIn
from app.stack.commands import NotReady, answers, exit_of, wait_ready
from app.stack.lock import running_stack
from tests.helpers import FINETUNE_STEP, TRAIN, free_port
from tests.stack.running_up import FLASHJOBS, processes_mentioning


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    url: str
    redis_port: int
    env: dict[str, str]
    state_dir: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text()

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*FLASHJOBS, *args], env=self.env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """`flashjobs up` with its bundled Redis, in a state dir of its own, as a terminal would run it."""
    tmp = tmp_path_factory.mktemp("cli")
    port, redis_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASHJOBS_")}  # no Redis URL: the bundled one
    env |= {
        "FLASHJOBS_STATE_DIR": str(tmp / "state"),
        "FLASHJOBS_DATA_DIR": str(tmp / "data"),
        "FLASHJOBS_ALLOW_DOWNLOADS": "false",
        "FLASHJOBS_API_URL": url,
        "COLUMNS": "200",
        "FLASHJOBS_EMBEDDED_REDIS_PORT": str(redis_port),
    }
    (tmp / "data").mkdir()
    log = tmp / "up.log"
    with log.open("wb") as out:
        # Its own session, like a shell's foreground job: the Ctrl-C test signals the whole group.
        process = subprocess.Popen(
            [*FLASHJOBS, "up"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    running = Up(process, url, redis_port, env, tmp / "state", log)
    try:
        try:
            wait_ready(url, abort_if=exit_of(process, "`flashjobs up`"))
        except NotReady as exc:
            pytest.fail(f"{exc}:\n{running.output()}")
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for pid in processes_mentioning(str(running.state_dir)):  # never leave a process behind
            os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------ without a running stack


def test_sse_parser_reads_events_ids_multiline_data_and_skips_pings():
    lines = [
        ": ping",
        "",
        "event: epoch",
        "id: 3",
        'data: {"epoch": 3,',
        'data: "metrics": {}}',
        "",
        "event: end",
        'data: {"status": "failed"}',
        "",
    ]
    events = list(parse_sse(lines))
    assert [(e.event, e.id) for e in events] == [("epoch", "3"), ("end", None)]
    assert json.loads(events[0].data) == {"epoch": 3, "metrics": {}}


def test_api_errors_are_shown_in_the_apis_words():
    invalid = httpx.Response(422, json={"detail": [{"loc": ["body", "model", "backbone"], "msg": "unknown backbone"}]})
    assert describe_error(invalid).endswith("body.model.backbone: unknown backbone")
    assert (
        describe_error(httpx.Response(409, json={"detail": "job x is already failed"}))
        == "HTTP 409: job x is already failed"
    )


def test_artifact_download_is_verified_against_its_sha256(tmp_path):
    content = b"weights" * 1000
    item = {
        "name": "model",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "url": "/v1/jobs/j1/artifacts/model",
    }
    api = Api("http://flashjobs.test")
    api.http = httpx.Client(
        base_url=api.base_url,
        transport=httpx.MockTransport(
            lambda request: httpx.Response(
                200, content=content, headers={"content-disposition": 'attachment; filename="../j1-model.pt"'}
            )
        ),
    )
    saved = download_artifact(api, item, tmp_path / "out")
    assert saved == tmp_path / "out" / "j1-model.pt" and saved.read_bytes() == content  # no path from the server
    with pytest.raises(Failure, match="does not match"):
        download_artifact(api, {**item, "sha256": "0" * 64}, tmp_path / "bad")
    assert list((tmp_path / "bad").iterdir()) == []  # a corrupt download leaves nothing behind


def test_metric_curves_are_drawn_to_a_png(tmp_path):
    series = {
        name: [{"epoch": e, "value": 1.0 / (e + 1)} for e in range(3)]
        for name in ("train_loss", "val_loss", "val_accuracy", "train_lr")
    }
    draw_curves(series, tmp_path / "curves.png", title="test")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_chains_are_valid_specs():
    for plan in (CPU_PLAN, FULL_PLAN):
        chain = ChainIn.model_validate(plan.chain())
        train, finetune = chain.steps
        assert (train.kind, train.dataset.name, finetune.kind, finetune.dataset.name) == (
            "train",
            "cifar10",
            "finetune",
            "cifar100",
        )
        assert finetune.init_from.step == 0 and finetune.finetune.strategy == "freeze"
    assert FULL_PLAN.chain()["steps"][0]["trainer"]["max_epochs"] == 25
    assert "train_limit" not in FULL_PLAN.chain()["steps"][0]["dataset"]  # the whole set


def test_unreachable_api_is_reported_with_a_hint():
    result = subprocess.run(
        [*FLASHJOBS, "list", "--api-url", f"http://127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "cannot reach the API" in result.stderr and "flashjobs up" in result.stderr


def test_predict_names_a_file_it_cannot_read(tmp_path):
    missing = tmp_path / "no-such.png"
    result = subprocess.run([*FLASHJOBS, "predict", "job", str(missing)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and f"cannot read {missing}" in " ".join(result.stderr.split())


# ------------------------------------------------------------------ against `flashjobs up`


def test_demo_prints_the_dashboard_and_the_chains_compare_view(up):
    """The chain's jobs fail at once here (no CIFAR, downloads off); the links are printed before they run."""
    from app.cli.demo import run_demo_chain
    from app.cli.render import console

    with console.capture() as captured:
        admin_key = (up.state_dir / "admin.key").read_text().strip()
        train, finetune = run_demo_chain(Api(up.url, api_key=admin_key), CPU_PLAN)
    out = captured.get()
    assert f"Dashboard: {up.url}/ " in out
    assert f"{up.url}/#/compare?ids={train['id']},{finetune['id']}" in out
    assert (train["status"], finetune["status"]) == ("failed", "failed")


def test_second_up_on_the_same_state_dir_refuses_and_names_the_running_one(up):
    result = up.cli("up", "--port", str(free_port()), timeout=60)
    assert result.returncode != 0
    assert "already running" in result.stdout and up.url in result.stdout
    assert answers(up.url, "/readyz")  # the first one is untouched


def test_failing_chain_through_the_cli(up, tmp_path):
    spec = tmp_path / "chain.json"
    spec.write_text(json.dumps({"steps": [TRAIN, FINETUNE_STEP]}))
    submitted = up.cli("submit", str(spec), "--chain", "--json")
    assert submitted.returncode == 0, submitted.stderr
    first, second = (job["id"] for job in json.loads(submitted.stdout)["jobs"])

    watched = up.cli("watch", first)  # the worker finds no CIFAR in the empty data dir, downloads are off
    assert watched.returncode == 1, watched.stdout + watched.stderr
    assert "failed" in watched.stdout and "dataset_missing" in watched.stdout
    watched = up.cli("watch", second)
    assert watched.returncode == 1 and "upstream_failed" in watched.stdout

    shown = up.cli("show", first)
    assert shown.returncode == 0 and "dataset_missing" in shown.stdout and "failed" in shown.stdout
    assert "none (no succeeded run" in " ".join(shown.stdout.split())  # the estimate it started with
    listed = up.cli("list", "--status", "failed")
    assert listed.returncode == 0 and first in listed.stdout and second in listed.stdout
    assert "No metrics recorded" in up.cli("metrics", first).stdout
    assert "no artifacts" in up.cli("artifacts", first).stdout

    cancelled = up.cli("cancel", first)
    assert cancelled.returncode == 1
    assert f"HTTP 409: job {first} is already failed" in " ".join(cancelled.stderr.split())


def test_predict_for_an_unknown_job_says_so_in_the_apis_words(up, tmp_path):
    from tests.helpers import png_bytes

    image = tmp_path / "cat.png"
    image.write_bytes(png_bytes(16, 16))
    result = up.cli("predict", "nosuchjob", str(image), timeout=60)
    assert result.returncode == 1 and "HTTP 404: no job 'nosuchjob'" in result.stderr


def test_bad_spec_is_rejected_naming_the_field(up, tmp_path):
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({**TRAIN, "model": {"backbone": "vgg11"}}))
    result = up.cli("submit", str(spec))
    assert result.returncode == 1
    assert "body.model.backbone" in result.stderr and "unknown backbone 'vgg11'" in result.stderr


def test_keys_for_other_people_through_the_cli(up, tmp_path):
    """The admin key `up` wrote (0600) drives keys and projects; a read key lists but cannot submit; revoked, none."""
    key_file = up.state_dir / "admin.key"
    assert key_file.stat().st_mode & 0o777 == 0o600 and "Admin key:" in up.output()
    assert up.cli("projects", "create", "team", "--max-queued", "5").returncode == 0
    made = up.cli("keys", "create", "--project", "team", "--scope", "read", "--name", "dashboard", "--json")
    assert made.returncode == 0, made.stderr
    record = json.loads(made.stdout)
    assert record["key"].startswith("fj_") and record["project"] == "team" and record["scope"] == "read"
    plain = up.cli("keys", "create", "--project", "team", "--scope", "submit")
    assert plain.returncode == 0 and plain.stdout.strip().startswith("fj_")

    assert up.cli("list", "--api-key", record["key"]).returncode == 0
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps(TRAIN))
    refused = up.cli("submit", str(spec), "--api-key", record["key"])
    assert refused.returncode == 1 and "HTTP 403" in refused.stderr and "read" in refused.stderr
    env_key = subprocess.run(
        [*FLASHJOBS, "keys", "list"], env={**up.env, "FLASHJOBS_API_KEY": record["key"]}, capture_output=True, text=True
    )
    assert env_key.returncode == 1 and "HTTP 403" in env_key.stderr  # FLASHJOBS_API_KEY is used, over the file

    listed = up.cli("keys", "list", "--json")
    assert record["id"] in {k["id"] for k in json.loads(listed.stdout)}
    assert "team: max_running unlimited, max_queued 5" in up.cli("projects", "list").stdout
    assert up.cli("keys", "revoke", record["id"]).returncode == 0
    gone = up.cli("list", "--api-key", record["key"])
    assert gone.returncode == 1 and "HTTP 401" in gone.stderr and "--api-key" in gone.stderr


def test_ctrl_c_stops_the_whole_stack_and_leaves_no_process(up):
    info = running_stack(up.state_dir)
    assert info and info["api_url"] == up.url and set(info["children"]) == {"redis", "api", "worker", "predictor"}
    os.killpg(up.process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    assert up.process.wait(timeout=150) == 0, up.output()
    assert "Stopped." in up.output()
    assert not answers(up.url) and not port_is_open(up.redis_port)
    assert processes_mentioning(str(up.state_dir)) == []
    assert running_stack(up.state_dir) is None
