"""POST /v1/datasets and friends against the real app, real SQL (SQLite and Postgres) and real archives."""

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tests.datasets.archives import (
    class_tree,
    hymenoptera_tree,
    image_bytes,
    special_member,
    tar_bytes,
    zip_bytes,
)

ZIP = {"Content-Type": "application/zip"}
TWO_CLASSES = {"cats": 3, "dogs": 3}


def _stored(service_env) -> list[Path]:
    """Everything under the artifact store's datasets/ folder but the (empty) folder for uploads in progress."""
    root = Path(service_env["FLASHJOBS_ARTIFACT_DIR"]) / "datasets"
    return sorted(p for p in root.rglob("*") if p.name != ".incoming") if root.exists() else []


def _upload(client, body: bytes, headers=ZIP, **params):
    return client.post("/v1/datasets", content=body, headers=headers, params=params)


def test_upload_of_a_hymenoptera_shaped_zip_is_summarised_and_stored(client, service_env):
    response = _upload(client, zip_bytes(hymenoptera_tree()), name="ants and bees")
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert response.headers["location"] == f"/v1/datasets/{dataset['id']}"
    assert dataset["status"] == "ready" and dataset["name"] == "ants and bees"
    assert dataset["layout"] == "train_val" and dataset["classes"] == ["ants", "bees"]
    assert dataset["splits"] == {"train": {"ants": 12, "bees": 12}, "val": {"ants": 4, "bees": 4}}
    assert dataset["images"] == 32 and dataset["formats"] == {"JPEG": 32}
    assert dataset["image_sizes"] == {
        "width": {"min": 24, "median": 32, "max": 40},
        "height": {"min": 20, "median": 22, "max": 24},
    }
    assert dataset["image_size"] == 20  # the median shorter side
    assert dataset["problems"] == [
        {"path": "hymenoptera_data/train/bees/corrupt.jpg", "reason": dataset["problems"][0]["reason"]}
    ]
    assert "corrupt" in dataset["problems"][0]["reason"] and dataset["problem_count"] == 1
    assert len(dataset["sha256"]) == 64 and dataset["bytes"] > 0
    assert client.get(f"/v1/datasets/{dataset['id']}").json() == dataset

    files = [p.name for p in _stored(service_env) if p.is_file()]
    assert "corrupt.jpg" not in files and ".DS_Store" not in files and "._000.jpg" not in files
    assert files.count("manifest.json") == 1 and len([f for f in files if f.endswith(".jpg")]) == 32
    sheet = Image.open(io.BytesIO(client.get(f"/v1/datasets/{dataset['id']}/samples").content))
    assert sheet.format == "PNG" and sheet.height > 2 * 64  # a row per class


def test_the_same_bytes_give_the_same_dataset(client):
    body = zip_bytes(class_tree(TWO_CLASSES))
    first = _upload(client, body)
    second = _upload(client, body, name="ignored: it exists")
    assert first.status_code == 201 and second.status_code == 200
    assert second.json() == first.json()
    assert len(client.get("/v1/datasets").json()["datasets"]) == 1


@pytest.mark.parametrize("kind", ["multipart", "tar.gz", "tar", "tar.xz"])
def test_multipart_and_tar_uploads(client, kind):
    tree = class_tree(TWO_CLASSES, prefix="pets/")  # one enclosing folder, then <class>/<image>
    if kind == "multipart":
        response = client.post(
            "/v1/datasets", files={"file": ("pets.zip", zip_bytes(tree), "application/zip")}, data={"name": "pets"}
        )
    else:
        mode = {"tar.gz": "w:gz", "tar": "w", "tar.xz": "w:xz"}[kind]
        response = _upload(
            client, tar_bytes(tree, mode=mode), headers={"Content-Type": "application/x-tar"}, name="pets"
        )
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["name"] == "pets" and dataset["status"] == "ready" and dataset["layout"] == "class_folders"
    assert dataset["splits"] == {"train": {"cats": 3, "dogs": 3}}  # the holdout is split off at training


def test_idempotency_key_replays_the_first_answer_and_refuses_other_bytes(client):
    body = zip_bytes(class_tree(TWO_CLASSES))
    key = {**ZIP, "Idempotency-Key": "upload-1"}
    first = _upload(client, body, headers=key)
    again = _upload(client, body, headers=key)
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    other = _upload(client, zip_bytes(class_tree({"a": 2, "b": 2})), headers=key)
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["detail"]


def _tar_with(member: tarfile.TarInfo) -> bytes:
    return tar_bytes(class_tree(TWO_CLASSES), mode="w", extra=[member])


def _truncated(body: bytes) -> bytes:
    return body[: len(body) * 2 // 3]


REFUSED = [
    ("zip-slip", lambda: zip_bytes({**class_tree(TWO_CLASSES), "../evil.jpg": b"x"}), 422, "'..'"),
    ("absolute", lambda: zip_bytes({**class_tree(TWO_CLASSES), "/etc/evil": b"x"}), 422, "absolute path"),
    (
        "symlink",
        lambda: _tar_with(special_member("cats/link.jpg", tarfile.SYMTYPE, "/etc/passwd")),
        422,
        "'cats/link.jpg': a symbolic link",
    ),
    (
        "hard link",
        lambda: _tar_with(special_member("cats/hard.jpg", tarfile.LNKTYPE, "/etc/passwd")),
        422,
        "'cats/hard.jpg': a hard link",
    ),
    ("device", lambda: _tar_with(special_member("cats/dev", tarfile.CHRTYPE)), 422, "'cats/dev': not a regular"),
    ("fifo", lambda: _tar_with(special_member("cats/fifo", tarfile.FIFOTYPE)), 422, "'cats/fifo': not a regular"),
    ("not an archive", lambda: b"just some text, no archive", 422, "not a zip or tar"),
    (
        "file and folder",
        lambda: zip_bytes({**class_tree(TWO_CLASSES), "cats/001.jpg/x.jpg": b"x"}),
        422,
        "'cats/001.jpg/x.jpg': its path collides",
    ),
    ("truncated zip", lambda: _truncated(zip_bytes(class_tree(TWO_CLASSES)))[:-10], 422, "truncated or corrupt"),
    ("truncated tar.gz", lambda: _truncated(tar_bytes(class_tree(TWO_CLASSES))), 422, "truncated or corrupt"),
    ("one class", lambda: zip_bytes(class_tree({"cats": 3})), 422, "found 1 class folder"),
    (
        "empty class",
        lambda: tar_bytes(class_tree(TWO_CLASSES), extra=[special_member("birds", tarfile.DIRTYPE)]),
        422,
        "class folder birds/ has no files",
    ),
    (
        "stray val class",
        lambda: zip_bytes(
            {**class_tree(TWO_CLASSES, prefix="train/"), **class_tree({"cats": 1, "eels": 1}, prefix="val/")}
        ),
        422,
        "'eels'",
    ),
]


@pytest.mark.parametrize(("case", "build", "status", "says"), REFUSED, ids=[case[0] for case in REFUSED])
def test_hostile_or_broken_archives_are_refused_naming_the_entry_and_nothing_is_kept(
    client, service_env, case, build, status, says
):
    response = _upload(client, build())
    assert response.status_code == status, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body"] and says in detail["msg"], detail
    assert _stored(service_env) == [] and client.get("/v1/datasets").json()["datasets"] == []


def test_every_archive_limit_is_a_setting(client, service_env, settings_env):
    tree = class_tree(TWO_CLASSES)
    settings_env(dataset_max_entries=5)
    response = _upload(client, zip_bytes(tree))
    assert response.status_code == 413 and "FLASHJOBS_DATASET_MAX_ENTRIES" in response.json()["detail"]

    settings_env(dataset_max_entries=1000, dataset_max_unpacked_bytes=2000)
    response = _upload(client, zip_bytes(tree))
    assert response.status_code == 413 and "FLASHJOBS_DATASET_MAX_UNPACKED_BYTES" in response.json()["detail"]

    # A zip bomb: headers could lie, so the bytes really written are what counts.
    settings_env(dataset_max_unpacked_bytes=10**9, dataset_max_compression_ratio=20)
    bomb = zip_bytes({**tree, "cats/zeros.jpg": bytes(2_000_000)})
    response = _upload(client, bomb)
    assert response.status_code == 422 and "'cats/zeros.jpg'" in response.json()["detail"][0]["msg"]
    assert "FLASHJOBS_DATASET_MAX_COMPRESSION_RATIO" in response.json()["detail"][0]["msg"]

    settings_env(max_upload_bytes=1000)
    response = _upload(client, zip_bytes(tree))
    assert response.status_code == 413 and "FLASHJOBS_MAX_UPLOAD_BYTES" in response.json()["detail"]
    body = zip_bytes(tree)  # chunked, without a Content-Length: refused once the bytes pass the limit
    response = _upload(client, (body[i : i + 500] for i in range(0, len(body), 500)))
    assert response.status_code == 413 and "FLASHJOBS_MAX_UPLOAD_BYTES" in response.json()["detail"]
    assert _stored(service_env) == [] and client.get("/v1/datasets").json()["datasets"] == []


def test_bad_images_are_listed_and_left_out(client, settings_env):
    settings_env(dataset_max_image_pixels=60 * 60)
    tree = {
        **class_tree(TWO_CLASSES),
        "cats/notes.txt": b"not an image",
        "cats/fake.jpg": b"GIF89a but not really",
        "dogs/huge.png": image_bytes(1, size=(80, 80), fmt="PNG"),  # over 60x60 pixels: a "bomb"
        "dogs/truncated.png": image_bytes(1, size=(30, 30), fmt="PNG")[:-30],
        "Thumbs.db": b"litter",
        ".hidden/x.jpg": image_bytes(0),
    }
    dataset = _upload(client, zip_bytes(tree)).json()
    assert dataset["status"] == "ready" and dataset["splits"] == {"train": {"cats": 3, "dogs": 3}}
    reasons = {p["path"]: p["reason"] for p in dataset["problems"]}
    assert set(reasons) == {"cats/notes.txt", "cats/fake.jpg", "dogs/huge.png", "dogs/truncated.png"}
    assert "not an image file name" in reasons["cats/notes.txt"] and "not an image" in reasons["cats/fake.jpg"]
    assert "80x80" in reasons["dogs/huge.png"] and "FLASHJOBS_DATASET_MAX_IMAGE_PIXELS" in reasons["dogs/huge.png"]
    assert "corrupt" in reasons["dogs/truncated.png"]


def test_a_dataset_that_cannot_train_is_invalid_and_keeps_no_files(client, service_env):
    tree = {**class_tree({"cats": 3}), "dogs/broken.jpg": image_bytes(1)[:40]}
    response = _upload(client, zip_bytes(tree))
    assert response.status_code == 201
    dataset = response.json()
    assert dataset["status"] == "invalid"
    assert {"path": "dogs", "reason": "no valid training images left: the class cannot be learned"} in dataset[
        "problems"
    ]
    assert _stored(service_env) == []
    assert client.get(f"/v1/datasets/{dataset['id']}/samples").status_code == 404


def test_wrong_content_type_is_415_naming_what_the_route_takes(client):
    response = client.post("/v1/datasets", content=b"x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "text/plain" in response.json()["detail"] and "application/zip" in response.json()["detail"]


def test_list_is_newest_first_in_cursor_pages(client):
    ids = [_upload(client, zip_bytes(class_tree(TWO_CLASSES, seed=seed))).json()["id"] for seed in range(3)]
    first = client.get("/v1/datasets", params={"limit": 2}).json()
    assert [d["id"] for d in first["datasets"]] == ids[::-1][:2] and first["next_cursor"]
    second = client.get("/v1/datasets", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [d["id"] for d in second["datasets"]] == [ids[0]] and second["next_cursor"] is None


def test_unknown_dataset_is_404(client):
    assert client.get("/v1/datasets/nope").status_code == 404
    assert client.get("/v1/datasets/a%00b").status_code == 404  # never sent to SQL (Postgres text has no NUL)
    assert client.get(f"/v1/datasets/{'0' * 32}").status_code == 404
    assert client.get("/v1/datasets/nope/samples").status_code == 404
    assert client.delete("/v1/datasets/nope").status_code == 404


def _job(dataset_id: str, **dataset) -> dict:
    return {"kind": "train", "dataset": {"id": dataset_id, **dataset}, "trainer": {"max_epochs": 1}}


def test_delete_frees_the_storage_and_is_409_while_a_job_needs_it(client, service_env, redis_url):
    dataset = _upload(client, zip_bytes(class_tree(TWO_CLASSES))).json()
    job = client.post("/v1/jobs", json=_job(dataset["id"])).json()
    assert job["status"] == "queued"
    response = client.delete(f"/v1/datasets/{dataset['id']}")
    assert response.status_code == 409 and "1 waiting, queued or running job" in response.json()["detail"]
    assert client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 202
    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    assert client.get(f"/v1/datasets/{dataset['id']}").status_code == 404 and _stored(service_env) == []


def test_job_specs_name_an_uploaded_dataset(client):
    dataset = _upload(client, zip_bytes(class_tree(TWO_CLASSES, size=(40, 30)))).json()
    job = client.post("/v1/jobs", json=_job(dataset["id"], train_limit=4)).json()
    assert job["status"] == "queued"
    assert job["spec"]["dataset"]["id"] == dataset["id"] and job["spec"]["dataset"]["image_size"] == 30
    pinned = client.post("/v1/jobs", json=_job(dataset["id"], image_size=64)).json()
    assert pinned["spec"]["dataset"]["image_size"] == 64


def test_bad_dataset_references_are_422_naming_the_field(client):
    invalid = _upload(client, zip_bytes({**class_tree({"cats": 2}), "dogs/x.jpg": b"no"})).json()
    assert invalid["status"] == "invalid"
    cases = [
        (_job("missing"), ["body", "dataset", "id"], "no dataset 'missing'"),
        (_job("a\x00b"), ["body", "dataset", "id"], "control characters"),
        (_job(invalid["id"]), ["body", "dataset", "id"], "is invalid"),
        ({"kind": "train", "dataset": {"name": "cifar10", "id": invalid["id"]}}, ["body", "dataset"], "exactly one"),
        (_job(invalid["id"], train_folder="x"), ["body", "dataset"], "train_folder"),
    ]
    for spec, loc, says in cases:
        response = client.post("/v1/jobs", json=spec)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"][0]
        assert detail["loc"] == loc and says in detail["msg"], detail
    chain = {"steps": [_job(invalid["id"])]}
    response = client.post("/v1/chains", json=chain)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "steps", 0, "dataset", "id"]
    assert client.get("/v1/jobs").json()["jobs"] == []


def test_zip_entries_marked_as_symlinks_are_refused(client):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in class_tree(TWO_CLASSES).items():
            archive.writestr(name, data)
        link = zipfile.ZipInfo("cats/link.jpg")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    response = _upload(client, out.getvalue())
    assert response.status_code == 422 and "'cats/link.jpg': a symbolic link" in response.json()["detail"][0]["msg"]
