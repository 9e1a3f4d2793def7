"""What a web page could make a browser send: no key rides along, undeclared content types are 415, Host names
outside FLASHJOBS_ALLOWED_HOSTS are 400, CORS answers only configured origins."""

import pytest

from tests.helpers import TRAIN

EVIL = "https://evil.example"


def test_the_cross_site_form_cancel_of_the_issue_cancels_nothing(client):
    job_id = client.post("/v1/jobs", json=TRAIN).json()["id"]
    form = {"Content-Type": "application/x-www-form-urlencoded", "Origin": EVIL}
    # A browser sends no Authorization header of its own: the page's request carries none (and cookies count for
    # nothing).
    anonymous = client.post(f"/v1/jobs/{job_id}/cancel", headers={**form, "Authorization": ""}, cookies={"k": "v"})
    assert anonymous.status_code == 401
    # Even with a key (a page cannot know one), a form body is not what the route takes.
    keyed = client.post(f"/v1/jobs/{job_id}/cancel", headers=form, content=b"")
    assert keyed.status_code == 415
    assert client.post("/v1/jobs", content=b"kind=train", headers=form).status_code == 415
    assert client.post("/v1/jobs", content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
    assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202  # no body, as the CLI sends it


def test_no_cors_headers_unless_origins_are_configured(client):
    preflight = client.options("/v1/jobs", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in client.get("/v1/jobs", headers={"Origin": EVIL}).headers


@pytest.fixture
def configured_client(service_env, api_key, monkeypatch):
    from fastapi.testclient import TestClient

    from app.core.config import get_settings
    from app.main import create_app
    from tests.helpers import bearer

    monkeypatch.setenv("FLASHJOBS_ALLOWED_HOSTS", '["127.0.0.1", "localhost"]')
    monkeypatch.setenv("FLASHJOBS_CORS_ORIGINS", '["https://dash.example"]')
    get_settings.cache_clear()
    with TestClient(create_app(), base_url="http://127.0.0.1", headers=bearer(api_key)) as test_client:
        yield test_client
    get_settings.cache_clear()


def test_allowed_hosts_refuse_a_rebound_name_and_cors_answers_only_its_origin(configured_client):
    assert configured_client.get("/v1/jobs").status_code == 200
    assert configured_client.get("/v1/jobs", headers={"Host": "evil.example"}).status_code == 400
    assert configured_client.get("/healthz", headers={"Host": "evil.example:8000"}).status_code == 400
    assert configured_client.get("/v1/jobs", headers={"Host": "localhost:8000"}).status_code == 200
    ok = configured_client.options(
        "/v1/jobs",
        headers={
            "Origin": "https://dash.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://dash.example"
    assert "access-control-allow-credentials" not in ok.headers
    other = configured_client.get("/v1/jobs", headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in other.headers
