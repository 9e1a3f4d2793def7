"""Two projects with a key of each scope, and the things project `b` owns (a job, a dataset)."""

from dataclasses import dataclass

import pytest

from tests.datasets.archives import class_tree, zip_bytes
from tests.helpers import TRAIN, bearer, make_key


@dataclass
class TwoProjects:
    keys: dict[str, str]  # "<project>-<scope>" -> secret, projects a and b
    job_b: str
    dataset_b: str

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
    return TwoProjects(keys, job_b, dataset.json()["id"])
