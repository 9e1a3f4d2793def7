"""Schemathesis over the whole API (the real app, real SQLite, real Redis): no 5xx and no contract violation.

Every operation runs schemathesis's phases (explicit examples, coverage of each documented answer and boundary,
undocumented methods, fuzzing) with all of its checks, derandomized so that a run is the same every time.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi

from app.main import create_app
from tests.helpers import bearer, make_key

# Enough fuzzed cases per operation to reach every answer; few enough that the whole run takes seconds.
EXAMPLES_PER_OPERATION = 10

# The schema comes from the app object, not over HTTP: that would start the app's lifespan before a test has
# set up its database. Schemathesis starts it on the first call and keeps it for the module.
# A submission can be well formed and still not runnable (a folder dataset without train_folder, a finetune
# without init_from, work over a FLASHJOBS_ maximum), and a cursor is well formed only if this API made it: those
# rules span fields or state the schema cannot express, and a 422 naming the field is their documented answer.
# So is a dataset upload whose bytes are no archive, a URL (of a dataset or a webhook) that does not resolve or is
# the service's own, and a recommendation for a dataset or a job that does not exist. A key's project must exist,
# and a project's name may be taken: 422 and 409 are their documented answers.
CONFIG = """
[[operations]]
include-name = [
    "POST /v1/jobs", "POST /v1/chains", "POST /v1/estimates", "GET /v1/jobs", "POST /v1/datasets", "GET /v1/datasets",
    "POST /v1/webhooks",
    "GET /v1/webhooks/{webhook_id}/deliveries", "POST /v1/recommendations", "POST /v1/keys", "POST /v1/projects",
]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "404", "409", "422"]
"""
app = create_app()
schema = schemathesis.openapi.from_dict(app.openapi(), config=schemathesis.config.SchemathesisConfig.from_str(CONFIG))
schema.app = app


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: one backend is enough for the contract (the SQL tests cover both)."""
    return f"sqlite:///{tmp_path / 'flashjobs.db'}"


@pytest.fixture(scope="module", autouse=True)
def _stop_the_app():
    yield
    asgi.shutdown_lifespans()  # the app's Redis client and background loops end with this module


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_operation_keeps_its_documented_contract(case, service_env):
    # An admin key reaches every operation (schemathesis's own check sends requests without it, expecting 401).
    case.call_and_validate(headers=bearer(make_key("admin")))
