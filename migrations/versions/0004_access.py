"""access: projects, API keys (hashed), and the project of every job, artifact and dataset (existing: `default`)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OWNED = ("jobs", "artifacts", "datasets")
DATASETS = sa.table("datasets", sa.column("id", sa.String), sa.column("sha256", sa.String), sa.column("dedupe_key"))


def upgrade() -> None:
    projects = op.create_table(
        "projects",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("max_running", sa.Integer()),
        sa.Column("max_queued", sa.Integer()),
        sa.Column("max_dataset_bytes", sa.BigInteger()),
    )
    op.bulk_insert(projects, [{"id": "default", "created_at": datetime.now(UTC).replace(tzinfo=None)}])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200)),
        sa.Column("project_id", sa.String(40), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime()),
        sa.Column("revoked_at", sa.DateTime()),
    )
    op.create_index("ix_api_keys_project_id", "api_keys", ["project_id"])
    for table in OWNED:
        # The server default backfills every existing row to the default project in the same statement.
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "project_id",
                    sa.String(40),
                    sa.ForeignKey("projects.id", name=f"fk_{table}_project"),
                    server_default="default",
                    nullable=False,
                )
            )
    op.create_index("ix_jobs_project_created", "jobs", ["project_id", "created_at", "id"])
    op.create_index("ix_jobs_project_status", "jobs", ["project_id", "status"])
    op.create_index("ix_datasets_project_created", "datasets", ["project_id", "created_at", "id"])
    # An upload's dedupe key now names its project (app/datasets/store.py), so two projects' identical bytes
    # make two datasets, and neither learns of the other's.
    connection = op.get_bind()
    uploads = sa.select(DATASETS.c.id, DATASETS.c.sha256).where(DATASETS.c.dedupe_key.is_not(None))
    for dataset_id, sha256 in connection.execute(uploads).all():
        key = hashlib.sha256(f"default:{sha256}".encode()).hexdigest()  # app/datasets/store.py's dedupe_key
        connection.execute(DATASETS.update().where(DATASETS.c.id == dataset_id).values(dedupe_key=key))


def downgrade() -> None:
    op.execute(DATASETS.update().where(DATASETS.c.dedupe_key.is_not(None)).values(dedupe_key=DATASETS.c.sha256))
    op.drop_index("ix_datasets_project_created", "datasets")
    op.drop_index("ix_jobs_project_status", "jobs")
    op.drop_index("ix_jobs_project_created", "jobs")
    for table in OWNED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_project", type_="foreignkey")
            batch_op.drop_column("project_id")
    op.drop_table("api_keys")
    op.drop_table("projects")
