"""What tests and benchmarks share: free ports, job specs, throwaway Postgres databases.

Plain functions without pytest, so that bench/ imports them too (it runs from the repository root).
"""

import os
import socket
import uuid

POSTGRES_ADMIN_URL = os.environ.get("FLASHJOBS_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# A train job that fails fast in an empty data dir (no CIFAR, downloads off), and a finetune step after it.
TRAIN = {"kind": "train", "dataset": {"name": "cifar10", "train_limit": 100}, "trainer": {"max_epochs": 2}}
FINETUNE_STEP = {
    "kind": "finetune",
    "dataset": {"name": "cifar100"},
    "init_from": {"step": 0},
    "finetune": {"strategy": "freeze"},
}
# A job whose three epochs the metrics tests record by hand through the service functions.
TRAIN_THREE_EPOCHS = {"kind": "train", "dataset": {"name": "cifar10"}, "trainer": {"max_epochs": 3}}


def make_key(scope: str = "submit", project: str = "default", name: str | None = None) -> str:
    """A new API key in the database the settings name (the project is made if missing); the secret itself."""
    from app.access import service
    from app.access.models import Project
    from app.access.schemas import Quotas
    from app.access.scopes import Scope
    from app.core.db import session_scope

    with session_scope() as session:
        if session.get(Project, project) is None:
            service.create_project(session, name=project, quotas=Quotas())
        _, secret = service.create_key(session, project=project, scope=Scope(scope), name=name)
    return secret


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_reachable(admin_url: str = POSTGRES_ADMIN_URL) -> bool:
    """Whether the server of `admin_url` accepts TCP connections."""
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((url.host or "127.0.0.1", url.port or 5432)) == 0


def create_postgres_database(prefix: str = "flashjobs_test", *, admin_url: str = POSTGRES_ADMIN_URL) -> tuple[str, str]:
    """A fresh, empty database on the server of `admin_url`; returns (its URL, its name)."""
    import sqlalchemy as sa

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


def drop_postgres_database(name: str, *, admin_url: str = POSTGRES_ADMIN_URL) -> None:
    """Drop the database `name`, closing whatever connections still use it."""
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def write_tiny_model(path, *, class_names: list[str], image_size: int = 16, seed: int = 0, diverged: bool = False):
    """A real model.pt (worker/training/artifacts.py's export) of a small random conv net: seconds to load, not
    minutes to train (diverged: its head's weights NaN, as a run whose loss blew up leaves them). Returns the path."""
    import torch
    from torch import nn

    from worker.training.artifacts import save_torchscript_model
    from worker.training.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess

    torch.manual_seed(seed)
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 16, 3))
    head = nn.Linear(16, len(class_names))
    if diverged:
        head.weight.data.fill_(float("nan"))
    preprocess = Preprocess(image_size, IMAGENET_MEAN, IMAGENET_STD).as_dict()
    return save_torchscript_model(path, backbone, head, class_names=class_names, preprocess=preprocess)


def png_bytes(width: int, height: int, seed: int = 0, mode: str = "RGB") -> bytes:
    """A PNG of random pixels."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, len(mode)), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels.squeeze(-1) if mode == "L" else pixels, mode).save(out, format="PNG")
    return out.getvalue()
