"""What the keys and projects routes take and give."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.access.scopes import Scope
from app.core.bounds import SQL_INT_MAX

PROJECT_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
ProjectName = Annotated[str, Field(pattern=PROJECT_NAME, description="Lower-case letters, digits, - and _")]


def _not_a_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a number, or null for unlimited")
    return value


Count = Annotated[int, Field(ge=0, le=SQL_INT_MAX), BeforeValidator(_not_a_bool)]
# Bytes in a BIGINT, below 2^53 so that every bound a JSON client writes as a float is still exact.
Bytes = Annotated[int, Field(ge=0, le=2**53), BeforeValidator(_not_a_bool)]
Quota = Annotated[Count | None, Field(description="null: unlimited")]
ByteQuota = Annotated[Bytes | None, Field(description="null: unlimited")]


class Quotas(BaseModel):
    """A project's limits; null (the default) is unlimited. `false` is no number of bytes."""

    model_config = ConfigDict(extra="forbid")

    max_running: Quota = None
    max_queued: Quota = None
    max_dataset_bytes: ByteQuota = None


class ProjectIn(Quotas):
    name: ProjectName


class ProjectOut(Quotas):
    name: str
    created_at: datetime


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: ProjectName
    scope: Scope
    name: Annotated[str | None, Field(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] = None


class KeyOut(BaseModel):
    id: str
    name: str | None
    project: str
    scope: Scope
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself: shown this once, stored only as its hash")


class KeyPage(BaseModel):
    keys: list[KeyOut]


class ProjectPage(BaseModel):
    projects: list[ProjectOut]
