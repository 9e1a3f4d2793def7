"""The deployment files agree with the code: compose sets only real settings and runs only real commands.

`docker compose config` needs a Docker engine; these checks need none.
"""

import json
import re
import tomllib
from pathlib import Path

import pytest
import typer
import yaml

from app.cli import app as cli_app
from app.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "flashjobs-gpu:latest"


def parse_command_line(args: list[str]) -> str:
    """Parse `flashjobs ARGS` as the CLI would, without running it; returns the command's name."""
    command = typer.main.get_command(cli_app)  # typer's own (vendored) click classes: duck-typed below
    names: list[str] = []
    while hasattr(command, "list_commands"):  # a group
        assert args, f"`flashjobs {' '.join(names)}` needs a subcommand"
        name, *args = args
        subcommand = command.get_command(command.context_class(command), name)
        assert subcommand is not None, f"`flashjobs {' '.join([*names, name])}` is not a command"
        command, names = subcommand, [*names, name]
    command.make_context(" ".join(names), list(args))  # raises on an unknown option or a bad value
    return " ".join(names)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def flashjobs_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if s.get("image") == IMAGE}


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the `- NAME=value` form
        env = dict(item.split("=", 1) for item in env)
    return env


def dockerfile_instruction(name: str) -> list[str]:
    text = (ROOT / "Dockerfile.gpu").read_text()
    match = re.search(rf"^{name}\s+(\[.*\])\s*$", text, re.MULTILINE)
    assert match, f"Dockerfile.gpu has no {name} in exec (JSON) form"
    return json.loads(match.group(1))


def test_compose_has_the_services_of_a_gpu_host(compose, flashjobs_services):
    assert set(compose["services"]) >= {"postgres", "redis", "migrate", "api", "reconciler", "worker", "predictor"}
    assert set(flashjobs_services) == {"migrate", "api", "reconciler", "worker", "predictor"}  # one image for all
    assert "--appendonly" in compose["services"]["redis"]["command"]
    for name in ("postgres", "redis", "api"):
        assert "healthcheck" in compose["services"][name], name


def test_every_flashjobs_variable_compose_sets_is_a_setting(compose):
    fields = set(Settings.model_fields)
    for name, service in compose["services"].items():
        for variable in environment(service):
            if variable.startswith("FLASHJOBS_"):
                assert variable.removeprefix("FLASHJOBS_").lower() in fields, f"{name}: {variable} is not a setting"
    assert environment(compose["services"]["api"])["FLASHJOBS_RECONCILE_IN_API"] == "false"


def test_every_command_compose_runs_exists_in_the_cli(flashjobs_services):
    commands = {name: parse_command_line(service["command"]) for name, service in flashjobs_services.items()}
    assert commands == {
        "migrate": "db upgrade",
        "api": "api",
        "reconciler": "reconcile",
        "worker": "worker",
        "predictor": "predictor",
    }


def test_migrations_run_before_the_services_that_need_them(compose, flashjobs_services):
    assert compose["services"]["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "reconciler", "worker", "predictor"):
        assert flashjobs_services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_worker_reserves_a_gpu_and_shares_artifacts_and_datasets_with_the_api(flashjobs_services):
    worker = flashjobs_services["worker"]
    device = worker["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"] and device["count"] == 1
    for name in ("api", "worker", "predictor"):
        env, volumes = environment(flashjobs_services[name]), flashjobs_services[name]["volumes"]
        assert f"artifacts:{env['FLASHJOBS_ARTIFACT_DIR']}" in volumes
        assert f"datasets:{env['FLASHJOBS_DATA_DIR']}" in volumes
    assert "/readyz" in " ".join(flashjobs_services["api"]["healthcheck"]["test"])


def test_dockerfile_runs_flashjobs_commands_that_exist_as_a_non_root_user():
    entrypoint, command = dockerfile_instruction("ENTRYPOINT"), dockerfile_instruction("CMD")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ["flashjobs"] and scripts["flashjobs"] == "app.cli:main"
    assert parse_command_line(command) == "api"
    text = (ROOT / "Dockerfile.gpu").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    for variable in re.findall(r"\b(FLASHJOBS_[A-Z_]+)=", text):
        assert variable.removeprefix("FLASHJOBS_").lower() in Settings.model_fields, variable


def test_the_command_parser_rejects_what_the_cli_would():
    with pytest.raises(AssertionError):
        parse_command_line(["serve"])
    with pytest.raises(Exception, match="--gpus"):
        parse_command_line(["worker", "--gpus", "2"])


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"| `FLASHJOBS_{name.upper()}` |" in readme, f"README.md's configuration table lacks {name}"


def test_the_monitoring_profile_scrapes_the_api_where_it_serves_metrics(compose):
    from app.main import create_app

    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]  # off unless asked for
    config_file = next(v.split(":")[0] for v in prometheus["volumes"] if v.endswith("prometheus.yml:ro"))
    config = yaml.safe_load((ROOT / config_file).read_text())
    (job,) = config["scrape_configs"]
    api_port = compose["services"]["api"]["command"][-1]
    assert job["static_configs"][0]["targets"] == [f"api:{api_port}"]
    assert job["metrics_path"] in create_app().openapi()["paths"]
    # Prometheus is another container: the API must let a non-loopback client scrape.
    assert environment(compose["services"]["api"])["FLASHJOBS_METRICS_ACCESS"] == "open"
