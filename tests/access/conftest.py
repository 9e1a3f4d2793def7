"""Two projects with a key of each scope, and the things project `b` owns (a job, a dataset, a recommendation,
a webhook)."""

from dataclasses import dataclass

import pytest

from tests.datasets.archives import class_tree, zip_bytes
from tests.helpers import TRAIN, bearer, make_key


@dataclass
class TwoProjects:
    keys: dict[str, str]  # "<project>-<scope>" -> secret, projects a and b
    job_b: str
    dataset_b: str
    recommendation_b: str
    webhook_b: str

    def auth(self, name: str) -> dict[str, str]:
        return bearer(self.keys[name])


@pytest.fixture
def two_projects(client) -> TwoProjects:
    keys = {f"{p}-{s}": make_key(s, project=p) for p in ("a", "b") for s in ("read", "submit")}
    keys["admin"] = make_key("admin")
    job_b = client.post("/v1/jobs", json=TRAIN, headers=bearer(keys["b-submit"])).json()["id"]
    upload = zip_bytes(class_tree({"cats": 2, "dogs": 2}))
    dataset = client.post(
        "/v1/datasets", content=upload, headers={**bearer(keys["b-submit"]), "Content-Type": "application/zip"}
    )
    assert dataset.status_code == 201, dataset.text
    dataset_b = dataset.json()["id"]
    recommendation = client.post(
        "/v1/recommendations", json={"dataset_id": dataset_b, "include_random": True}, headers=bearer(keys["b-submit"])
    )
    assert recommendation.status_code == 201, recommendation.text
    return TwoProjects(keys, job_b, dataset_b, recommendation.json()["id"], _webhook_of("b"))


def _webhook_of(project: str) -> str:
    """A webhook row of the project, written directly: its URL must resolve, and this machine has no DNS."""
    from app.core.db import session_scope, utcnow
    from app.webhooks.models import Webhook
    from app.webhooks.signing import new_secret

    with session_scope() as session:
        hook = Webhook(
            id=f"hook{project}",
            url="https://hooks.example/x",
            events=["job.status_changed"],
            secret=new_secret(),
            active=True,
            project_id=project,
            created_at=utcnow(),
        )
        session.add(hook)
    return hook.id
