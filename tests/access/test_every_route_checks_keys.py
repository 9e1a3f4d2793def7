"""Every route the app serves, read from the app itself, is checked: 401 without a usable key, 403 beyond the key's
scope, 404 for another project's ids. A route added later is covered without editing this file (or fails here
until it gets the checks)."""

import uuid

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from app.main import create_app
from tests.helpers import bearer

# Without a key: the probes, /metrics (FLASHJOBS_METRICS_ACCESS guards it) and the page, which asks for one.
OPEN = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/")}
ADMIN_PREFIXES = ("/v1/keys", "/v1/projects")
SAFE = {"GET", "HEAD"}


def _routes() -> list[tuple[str, str]]:
    """(method, path) of every API route, included routers' too; the docs pages (/docs, /openapi.json) are open."""
    routes = [
        (method, context.path)
        for context in iter_route_contexts(create_app().routes)
        if isinstance(context.original_route, APIRoute)
        for method in sorted(context.methods or ())
    ]
    assert len(routes) > 15  # the walk found the API
    return [route for route in routes if route not in OPEN]


ROUTES = _routes()
# Routes that only read though their method is not safe (app/api/auth.py: openapi_extra=READS): read keys pass.
READS = {
    (method, context.path)
    for context in iter_route_contexts(create_app().routes)
    if isinstance(context.original_route, APIRoute)
    and (context.original_route.openapi_extra or {}).get("x-scope") == "read"
    for method in context.methods or ()
}


def _path(template: str, ids: dict[str, str]) -> str:
    path = template
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"{template}: give this test an id for its path parameter"
    return path


def _ids(two_projects) -> dict[str, str]:
    return {
        "job_id": two_projects.job_b,
        "dataset_id": two_projects.dataset_b,
        "name": "model",
        "key_id": uuid.uuid4().hex,
        "recommendation_id": two_projects.recommendation_b,
        "evaluation_id": uuid.uuid4().hex,
        "webhook_id": two_projects.webhook_b,
        "project": "b",
    }


def test_every_route_but_the_probes_is_401_without_a_usable_key(client, two_projects):
    revoked = two_projects.keys["a-read"]
    admin = two_projects.auth("admin")
    key_id = next(k["id"] for k in client.get("/v1/keys", headers=admin).json()["keys"] if k["project"] == "a")
    assert client.post(f"/v1/keys/{key_id}/revoke", headers=admin).status_code == 200
    unusable = {
        "no key": {"Authorization": ""},
        "unknown key": bearer("fj_" + uuid.uuid4().hex * 2),
        "not a key": bearer("hunter2"),
        "basic auth": {"Authorization": "Basic YWRtaW46YWRtaW4="},
    }
    ids = _ids(two_projects)
    failures = []
    for method, template in ROUTES:
        path = _path(template, ids)
        attempts = {
            **{name: client.request(method, path, headers=headers) for name, headers in unusable.items()},
            # Only the Authorization header counts: a query string or a cookie a browser would add is ignored.
            "key in the query": client.request(
                method, path, params={"api_key": revoked}, headers={"Authorization": ""}
            ),
            "revoked key": client.request(method, path, headers=bearer(revoked)),
        }
        for name, response in attempts.items():
            if response.status_code != 401 or response.headers.get("www-authenticate") != "Bearer":
                failures.append((method, template, name, response.status_code))
    assert failures == []


def test_a_key_beyond_its_scope_is_403(client, two_projects):
    ids = _ids(two_projects)
    failures = []
    for method, template in ROUTES:
        path = _path(template, ids)
        admin_route = template.startswith(ADMIN_PREFIXES)
        reads = method in SAFE or (method, template) in READS
        refused = ["a-read", "a-submit", "b-submit"] if admin_route else [] if reads else ["a-read", "b-read"]
        for key in refused:
            response = client.request(method, path, headers=two_projects.auth(key))
            if response.status_code != 403:
                failures.append((method, template, key, response.status_code))
    assert failures == []


def test_another_projects_ids_are_404_as_unknown_ids_are(client, two_projects):
    ids = _ids(two_projects)
    unknown = {**ids, "job_id": uuid.uuid4().hex, "dataset_id": uuid.uuid4().hex}
    failures = []
    checked = 0
    for method, template in ROUTES:
        if template.startswith(ADMIN_PREFIXES) or not ("{job_id}" in template or "{dataset_id}" in template):
            continue
        key = "a-read" if method in SAFE else "a-submit"

        def call(path: str, key: str = key, method: str = method):
            answer = client.request(method, path, headers=two_projects.auth(key))
            if answer.status_code == 415:  # a route that takes a body checks its type first: send an empty one
                answer = client.request(method, path, headers=two_projects.auth(key), json={})
            return answer

        theirs, none = call(_path(template, ids)), call(_path(template, unknown))
        same = theirs.json()["detail"].replace(ids["job_id"], "X").replace(ids["dataset_id"], "X") == none.json()[
            "detail"
        ].replace(unknown["job_id"], "X").replace(unknown["dataset_id"], "X")
        if theirs.status_code != 404 or none.status_code != 404 or not same:
            failures.append((method, template, theirs.status_code, theirs.text[:100]))
        checked += 1
        # The owner sees it (so the 404 above is the project check, not a broken path).
        mine = call(_path(template, ids), key.replace("a-", "b-"))
        # 404s of the owner that are about the job, not its visibility: no such artifact, samples or control run.
        if mine.status_code == 404 and not any(word in mine.text for word in ("artifact", "samples", "control run")):
            failures.append((method, template, "owner got", mine.status_code, mine.text[:100]))
    assert checked >= 8 and failures == []


@pytest.mark.parametrize("listing", ["/v1/jobs", "/v1/datasets"])
def test_lists_hold_only_the_keys_project_and_admin_keys_see_all(client, two_projects, listing):
    field = listing.rsplit("/", 1)[1]
    theirs = {"jobs": two_projects.job_b, "datasets": two_projects.dataset_b}[field]
    for key, sees in (("a-read", False), ("a-submit", False), ("b-read", True), ("admin", True)):
        page = client.get(listing, headers=two_projects.auth(key)).json()[field]
        assert (theirs in {item["id"] for item in page}) is sees, key
