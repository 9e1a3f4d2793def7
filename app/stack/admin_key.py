"""What `flashjobs up` sets up for access: the default project, an admin key in a file only its user reads, and
loopback-only Host names for an API that listens on loopback."""

import os
from pathlib import Path

from app.core.config import Settings

KEY_FILE = "admin.key"
LOOPBACK_ADDRESSES = frozenset({"127.0.0.1", "localhost", "::1"})
LOOPBACK_HOSTS = '["127.0.0.1", "localhost", "[::1]", "::1"]'


def key_file(state_dir: Path) -> Path:
    return state_dir / KEY_FILE


def ensure_admin_key(settings: Settings) -> tuple[Path, bool]:
    """(The key file, whether a key was made now): a new admin key unless the file holds a live one."""
    from app.access import service  # SQL: only `up` needs it
    from app.access.keys import hash_secret
    from app.access.models import DEFAULT_PROJECT
    from app.access.scopes import Scope
    from app.core.db import get_sessionmaker

    path = key_file(settings.state_dir)
    held = path.read_text().strip() if path.is_file() else ""
    with get_sessionmaker()() as session:
        if held and service.find_live_key(session, key_hash=hash_secret(held)) is not None:
            return path, False
        service.ensure_default_project(session)
        _, secret = service.create_key(session, project=DEFAULT_PROJECT, scope=Scope.ADMIN, name="flashjobs up")
        session.commit()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    # Created 0600 (not chmod-ed after): no moment in which another user could read it.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    os.replace(partial, path)
    return path, True


def access_env(host: str) -> dict[str, str]:
    """Settings for the API child: loopback Host names when it listens on loopback and none were configured."""
    if "FLASHJOBS_ALLOWED_HOSTS" in os.environ or host not in LOOPBACK_ADDRESSES:
        return {}
    return {"FLASHJOBS_ALLOWED_HOSTS": LOOPBACK_HOSTS}
