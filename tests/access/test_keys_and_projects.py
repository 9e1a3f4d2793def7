"""Keys and projects over HTTP with real SQL: made, shown once, stored as a hash, used, revoked; projects kept apart."""

import hashlib
import time

from sqlalchemy import select

from tests.datasets.archives import class_tree, zip_bytes
from tests.helpers import TRAIN, bearer, make_key


def _admin(client):
    return bearer(make_key("admin"))


def test_a_key_is_shown_once_stored_as_its_hash_and_refused_once_revoked(client):
    from app.access.models import ApiKey
    from app.core.db import session_scope

    admin = _admin(client)
    assert client.post("/v1/projects", json={"name": "team"}, headers=admin).status_code == 201
    made = client.post("/v1/keys", json={"project": "team", "scope": "submit", "name": "ci"}, headers=admin)
    assert made.status_code == 201, made.text
    record = made.json()
    secret = record["key"]
    assert secret.startswith("fj_") and len(secret) >= 3 + 43  # 32 random bytes, url-safe base64
    assert {record["project"], record["scope"], record["name"]} == {"team", "submit", "ci"}
    with session_scope() as session:
        row = session.get(ApiKey, record["id"])
        assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in repr([getattr(row, c.name) for c in ApiKey.__table__.columns])
    listed = client.get("/v1/keys", headers=admin).json()["keys"]
    assert record["id"] in {k["id"] for k in listed} and all("key" not in k for k in listed)

    job = client.post("/v1/jobs", json=TRAIN, headers=bearer(secret))
    assert job.status_code == 201
    assert client.get(f"/v1/jobs/{job.json()['id']}", headers=bearer(secret)).status_code == 200
    used = next(k for k in client.get("/v1/keys", headers=admin).json()["keys"] if k["id"] == record["id"])
    assert used["last_used_at"] is not None

    revoked = client.post(f"/v1/keys/{record['id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    refused = client.get("/v1/jobs", headers=bearer(secret))
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert client.post(f"/v1/keys/{record['id']}/revoke", headers=admin).status_code == 200  # again: no change


def test_last_used_at_is_written_at_most_once_a_minute(client, api_key):
    from app.access.models import ApiKey
    from app.core.db import session_scope

    client.get("/v1/jobs")
    with session_scope() as session:
        first = session.scalar(select(ApiKey.last_used_at).where(ApiKey.scope == "submit"))
    time.sleep(0.05)
    for _ in range(5):
        client.get("/v1/jobs")
    with session_scope() as session:
        assert session.scalar(select(ApiKey.last_used_at).where(ApiKey.scope == "submit")) == first


def test_a_revoke_made_elsewhere_is_seen_once_the_cache_entry_expires(client, api_key, monkeypatch):
    """Another API process revoking (a direct SQL update here) is seen within FLASHJOBS_KEY_CACHE_S."""
    from sqlalchemy import update

    from app.access.models import ApiKey
    from app.access.principal import verified_keys
    from app.core.config import get_settings
    from app.core.db import session_scope, utcnow

    monkeypatch.setenv("FLASHJOBS_KEY_CACHE_S", "0.5")
    get_settings.cache_clear()
    verified_keys._cache = None  # rebuilt with the new TTL
    assert client.get("/v1/jobs").status_code == 200
    with session_scope() as session:
        session.execute(update(ApiKey).values(revoked_at=utcnow()))
    assert client.get("/v1/jobs").status_code == 200  # still cached: no SQL for the key on this poll
    time.sleep(0.6)
    assert client.get("/v1/jobs").status_code == 401
    verified_keys._cache = None


def test_projects_are_apart_for_parents_datasets_uploads_and_idempotency_keys(client):
    a, b = bearer(make_key("submit", project="a")), bearer(make_key("submit", project="b"))
    parent = client.post("/v1/jobs", json=TRAIN, headers=b).json()["id"]
    finetune = {"kind": "finetune", "dataset": {"name": "cifar100"}, "init_from": {"job_id": parent}}
    refused = client.post("/v1/jobs", json=finetune, headers=a)
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "init_from", "job_id"]
    assert client.post("/v1/jobs", json=finetune, headers=b).status_code == 201

    archive = zip_bytes(class_tree({"cats": 2, "dogs": 2}))
    uploads = [
        client.post("/v1/datasets", content=archive, headers={**key, "Content-Type": "application/zip"})
        for key in (b, a)
    ]
    assert [u.status_code for u in uploads] == [201, 201]  # the same bytes: a dataset in each project
    dataset_b = uploads[0].json()["id"]
    assert uploads[1].json()["id"] != dataset_b
    on_theirs = client.post("/v1/jobs", json={"kind": "train", "dataset": {"id": dataset_b}}, headers=a)
    assert on_theirs.status_code == 422 and on_theirs.json()["detail"][0]["loc"] == ["body", "dataset", "id"]

    same_key = {"Idempotency-Key": "nightly-1"}
    first = client.post("/v1/jobs", json=TRAIN, headers={**a, **same_key}).json()["id"]
    other = client.post("/v1/jobs", json=TRAIN, headers={**b, **same_key})
    assert other.status_code == 201 and other.json()["id"] != first  # b's key replays nothing of a's
    assert client.post("/v1/jobs", json=TRAIN, headers={**a, **same_key}).json()["id"] == first


def test_admin_routes_make_projects_and_refuse_bad_names_and_duplicates(client):
    admin = _admin(client)
    assert client.post("/v1/projects", json={"name": "Bad Name"}, headers=admin).status_code == 422
    assert client.post("/v1/projects", json={"name": "vision"}, headers=admin).status_code == 201
    assert client.post("/v1/projects", json={"name": "vision"}, headers=admin).status_code == 409
    names = [p["name"] for p in client.get("/v1/projects", headers=admin).json()["projects"]]
    assert names == ["default", "vision"]
    missing = client.post("/v1/keys", json={"project": "nope", "scope": "read"}, headers=admin)
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "project"]
    assert client.get("/v1/projects/nope", headers=admin).status_code == 404


def test_migration_0004_puts_existing_rows_in_the_default_project(client):
    from alembic import command
    from sqlalchemy import text

    from app.core.config import get_settings
    from app.core.db import get_engine
    from app.core.migrate import alembic_config, upgrade

    job_id = client.post("/v1/jobs", json=TRAIN).json()["id"]
    url = get_settings().effective_database_url
    get_engine().dispose()
    command.downgrade(alembic_config(url), "0003")
    with get_engine().connect() as conn:
        assert "project_id" not in conn.execute(text("SELECT * FROM jobs")).keys()
    get_engine().dispose()
    upgrade(url)
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT project_id FROM jobs")).scalars().all() == ["default"]
    key = make_key("read")  # the keys went with the downgrade; a new one of the default project sees the job
    assert client.get(f"/v1/jobs/{job_id}", headers=bearer(key)).status_code == 200
