"""What the keys and projects routes take and give."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.access.scopes import Scope

PROJECT_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
ProjectName = Annotated[str, Field(pattern=PROJECT_NAME, description="Lower-case letters, digits, - and _")]
Quota = Annotated[int | None, Field(ge=0, le=2**62, description="null: unlimited")]


class Quotas(BaseModel):
    """A project's limits; null (the default) is unlimited."""

    model_config = ConfigDict(extra="forbid")

    max_running: Quota = None
    max_queued: Quota = None
    max_dataset_bytes: Quota = None


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
