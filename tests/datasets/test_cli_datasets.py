"""`flashjobs datasets ...` and Flash Zero's command line: the folder archive made on the fly, the option map."""

from pathlib import Path

import pytest

from app.cli.client import Api, Failure
from app.cli.datasets import folder_files, tar_stream, upload
from app.cli.flash_zero import job_spec, parse
from tests.datasets.archives import hymenoptera_tree


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_folder_upload_is_a_tar_made_on_the_fly_and_the_same_folder_gives_the_same_dataset(client, tmp_path):
    root = _write(tmp_path / "unpacked", hymenoptera_tree()) / "hymenoptera_data"
    (root / "train" / "ants" / "link.jpg").symlink_to("/etc/passwd")
    names = [name for _, name in folder_files(root)]
    assert ".DS_Store" not in names and "train/ants/link.jpg" not in names and "train/ants/000.jpg" in names
    assert b"".join(tar_stream(folder_files(root))) == b"".join(tar_stream(folder_files(root)))

    api = Api("http://testserver")
    api.http = client  # the real app, in process
    dataset = upload(api, [("", root)], name="hymenoptera")
    assert dataset["status"] == "ready" and dataset["name"] == "hymenoptera"
    assert dataset["splits"] == {"train": {"ants": 12, "bees": 12}, "val": {"ants": 4, "bees": 4}}
    assert upload(api, [("", root)], name="again")["id"] == dataset["id"]
    split = upload(api, [("train/", root / "train"), ("val/", root / "val")], name=None)
    assert split["id"] == dataset["id"]  # the same names and bytes: the same archive
    train_only = upload(api, [("", root / "train")], name=None)
    assert train_only["layout"] == "class_folders" and train_only["splits"] == {"train": {"ants": 12, "bees": 12}}


def test_flash_zero_options_map_onto_the_job_spec(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    run = parse(
        [
            "--trainer.max_epochs",
            "10",
            "--model.backbone=resnet34",
            "--model.learning_rate",
            "0.01",
            "--model.optimizer",
            "Adam",
            "--seed_everything",
            "7",
            "--trainer.precision",
            "16-mixed",
            "--model.pretrained",
            "false",
            "from_folders",
            "--train_folder",
            str(tmp_path / "train"),
            "--val_folder",
            str(tmp_path / "val"),
            "--batch_size",
            "8",
            "--num_workers",
            "0",
            "--transform_kwargs",
            '{"image_size": [64, 64]}',
        ]
    )
    assert run.builder == "from_folders" and run.folders == {
        "train_folder": tmp_path / "train",
        "val_folder": tmp_path / "val",
    }
    assert job_spec(run, "d1") == {
        "kind": "train",
        "dataset": {"id": "d1", "image_size": 64},
        "model": {"backbone": "resnet34", "cifar_stem": False},
        "trainer": {
            "max_epochs": 10,
            "learning_rate": 0.01,
            "optimizer": "adam",
            "seed": 7,
            "precision": "16",
            "batch_size": 8,
            "num_workers": 0,
        },
    }
    assert job_spec(parse(["from_hymenoptera"]), "d2")["trainer"] == {"max_epochs": 3}  # Flash Zero's default


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--model.pretrained", "true", "from_hymenoptera"], "random weights"),
        (["from_folders", "--train_folder", ".", "--test_folder", "."], "no test stage"),
        (["from_folders", "--train_folder", ".", "--val_split", "0.2"], "fixed, seeded 10%"),
        (["--trainer.fast_dev_run", "true", "from_hymenoptera"], "--trainer.fast_dev_run has no meaning"),
        (["from_movie_posters"], "single-label image folders"),
        (["from_folders"], "needs --train_folder"),
        (["from_folders", "--train_folder", "no/such/folder"], "no such folder"),
        (["--trainer.max_epochs"], "needs a value"),
        (["--trainer.max_epochs", "many", "from_hymenoptera"], "--trainer.max_epochs many"),
        (["from_folders", "--train_folder", ".", "--transform_kwargs", '{"image_size": [64, 32]}'], "squares"),
        (["--trainer.max_epochs", "2"], "name the data"),
    ],
)
def test_flash_zero_options_without_a_meaning_here_are_refused_saying_why(args, says):
    with pytest.raises(Failure) as refused:
        parse(args)
    assert says in str(refused.value)
