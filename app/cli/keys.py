"""flashjobs keys create|list|revoke and projects create|list|set: access, for admin keys."""

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from app.access.scopes import Scope
from app.cli.client import api_for
from app.cli.render import console
from app.cli.typer_app import ApiKey, ApiUrl, AsJson, app

keys_app = typer.Typer(help="API keys (an admin key is needed).", no_args_is_help=True)
projects_app = typer.Typer(help="Projects and their quotas (an admin key is needed).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(projects_app, name="projects")

Quota = Annotated[int | None, typer.Option(min=0, help="null/absent: unlimited", show_default=False)]


@keys_app.command("create")
def create_key(
    project: Annotated[str, typer.Option(help="The project the key acts in")],
    scope: Annotated[Scope, typer.Option(help="read: GET only; submit: and create, cancel, upload; admin: all")],
    name: Annotated[str | None, typer.Option(help="Who or what it is for")] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Make a key and print it: it is shown this once (only its hash is stored)."""
    created = api_for(api_url, api_key).post("/v1/keys", {"project": project, "scope": scope.value, "name": name})
    if as_json:
        print(json.dumps(created, indent=2))
        return
    print(created["key"])  # plain print: a script can capture it


@keys_app.command("list")
def list_keys(api_url: ApiUrl = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Every key (never its secret), revoked ones included."""
    keys = api_for(api_url, api_key).get("/v1/keys")["keys"]
    if as_json:
        print(json.dumps(keys, indent=2))
        return
    table = Table("id", "name", "project", "scope", "created", "last used", "revoked")
    for key in keys:
        table.add_row(
            key["id"],
            escape(key["name"] or ""),
            key["project"],
            key["scope"],
            key["created_at"][:19],
            (key["last_used_at"] or "")[:19],
            (key["revoked_at"] or "")[:19],
        )
    console.print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (flashjobs keys list)")],
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Revoke a key: refused from now on (by other API processes within FLASHJOBS_KEY_CACHE_S)."""
    key = api_for(api_url, api_key).post(f"/v1/keys/{key_id}/revoke")
    console.print(f"Key {key['id']} ({escape(key['name'] or 'no name')}, {key['project']}) revoked.")


@projects_app.command("create")
def create_project(
    name: Annotated[str, typer.Argument(help="Lower-case letters, digits, - and _")],
    max_running: Quota = None,
    max_queued: Quota = None,
    max_dataset_bytes: Quota = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Make a project (quotas unlimited unless given)."""
    body = {"name": name, "max_running": max_running, "max_queued": max_queued, "max_dataset_bytes": max_dataset_bytes}
    project = api_for(api_url, api_key).post("/v1/projects", body)
    console.print(f"Project {project['name']} created. Keys: flashjobs keys create --project {project['name']} ...")


@projects_app.command("set")
def set_quotas(
    name: Annotated[str, typer.Argument(help="The project")],
    max_running: Quota = None,
    max_queued: Quota = None,
    max_dataset_bytes: Quota = None,
    unlimited: Annotated[bool, typer.Option(help="Make the quotas named here unlimited")] = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Set a project's quotas; with --unlimited, the ones named (given any value) become unlimited."""
    given = {"max_running": max_running, "max_queued": max_queued, "max_dataset_bytes": max_dataset_bytes}
    body = {field: None if unlimited else value for field, value in given.items() if value is not None}
    project = api_for(api_url, api_key).patch(f"/v1/projects/{name}", body)
    console.print(_quotas(project))


@projects_app.command("list")
def list_projects(api_url: ApiUrl = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Every project with its quotas."""
    projects = api_for(api_url, api_key).get("/v1/projects")["projects"]
    if as_json:
        print(json.dumps(projects, indent=2))
        return
    for project in projects:
        console.print(_quotas(project))


def _quotas(project: dict) -> str:
    limits = ", ".join(
        f"{field} {project[field] if project[field] is not None else 'unlimited'}"
        for field in ("max_running", "max_queued", "max_dataset_bytes")
    )
    return f"{project['name']}: {limits}"
