"""Every error the services raise reaches the client in the shape the README documents, from one mapping."""

from collections.abc import Awaitable, Callable

import pytest

TRAIN = {"kind": "train", "dataset": {"name": "cifar10"}, "trainer": {"max_epochs": 2}}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/jobs/nope"),
        ("POST", "/v1/jobs/nope/cancel"),
        ("GET", "/v1/jobs/nope/metrics"),
        ("GET", "/v1/jobs/nope/metrics/stream"),
        ("GET", "/v1/jobs/nope/artifacts"),
        ("GET", "/v1/jobs/nope/artifacts/model"),
    ],
)
def test_an_unknown_job_is_404_with_a_message(client, method, path):
    response = client.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"detail": "no job 'nope'"}


def test_an_unknown_artifact_of_a_known_job_is_404_with_a_message(client):
    job_id = client.post("/v1/jobs", json=TRAIN).json()["id"]
    response = client.get(f"/v1/jobs/{job_id}/artifacts/model")
    assert response.status_code == 404
    assert response.json() == {"detail": f"job {job_id} has no artifact 'model'"}


@pytest.mark.parametrize(
    ("request_args", "loc"),
    [
        (("GET", "/v1/jobs", {"params": {"cursor": "garbage"}}), ["query", "cursor"]),
        (
            ("POST", "/v1/jobs", {"json": {"kind": "train", "dataset": {"name": "folder"}}}),
            ["body", "dataset", "train_folder"],
        ),
        (("STREAM", "", {"headers": {"Last-Event-ID": "x"}}), ["header", "last-event-id"]),
    ],
)
def test_a_bad_field_is_422_with_a_list_naming_it(client, request_args, loc):
    method, path, kwargs = request_args
    if method == "STREAM":
        job_id = client.post("/v1/jobs", json=TRAIN).json()["id"]
        method, path = "GET", f"/v1/jobs/{job_id}/metrics/stream"
    response = client.request(method, path, **kwargs)
    assert response.status_code == 422, response.text
    [detail] = response.json()["detail"]
    assert detail["loc"] == loc and detail["msg"] and detail["type"]  # value_error, or FastAPI's own int_parsing


def test_a_conflict_is_409_with_a_message(client):
    headers = {"Idempotency-Key": "k"}
    client.post("/v1/jobs", json=TRAIN, headers=headers)
    response = client.post("/v1/jobs", json={**TRAIN, "trainer": {"max_epochs": 3}}, headers=headers)
    assert response.status_code == 409
    assert response.json() == {"detail": "Idempotency-Key 'k' was already used with a different request body"}


def test_each_service_error_gets_its_status_and_headers(service_env):
    """The errors no route of this app raises yet (keys, quotas, sizes) are mapped by create_app all the same."""
    from fastapi.testclient import TestClient

    from app.core import errors
    from app.main import create_app

    raised = {
        "/unauthenticated": errors.Unauthenticated("no key"),
        "/forbidden": errors.Forbidden("read-only key"),
        "/too-large": errors.TooLarge("over FLASHJOBS_MAX_BODY_BYTES"),
        "/too-many": errors.TooMany("over the quota", retry_after_s=7),
    }

    def raising(error: errors.ServiceError) -> Callable[[], Awaitable[None]]:
        async def route() -> None:
            raise error

        return route

    app = create_app()
    for path, error in raised.items():
        app.add_api_route(path, raising(error))
    with TestClient(app) as client:
        answers = {path: client.get(path) for path in raised}
    assert {path: answer.status_code for path, answer in answers.items()} == {
        "/unauthenticated": 401,
        "/forbidden": 403,
        "/too-large": 413,
        "/too-many": 429,
    }
    assert {path: answer.json() for path, answer in answers.items()} == {
        path: {"detail": error.message} for path, error in raised.items()
    }
    assert answers["/unauthenticated"].headers["www-authenticate"] == "Bearer"
    assert answers["/too-many"].headers["retry-after"] == "7"


def test_malformed_json_is_422_naming_where_it_breaks(client):
    response = client.post(
        "/v1/jobs", content=b'{"kind": "train", "dataset": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    [detail] = response.json()["detail"]
    assert detail["type"] == "json_invalid" and detail["loc"][0] == "body" and isinstance(detail["loc"][1], int)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/v1/jobs", "GET, HEAD, POST"),
        ("DELETE", "/v1/jobs", "GET, HEAD, POST"),
        ("PUT", "/v1/jobs/nope/cancel", "POST"),
    ],
)
def test_a_method_a_path_does_not_serve_is_405_listing_those_it_does(client, method, path, allow):
    response = client.request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["Allow"] == allow
