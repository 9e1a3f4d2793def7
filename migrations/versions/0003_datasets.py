"""datasets: uploaded and imported image datasets; jobs.dataset_id names the one a job trains on

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64)),
        sa.Column("dedupe_key", sa.String(64), unique=True),
        sa.Column("bytes", sa.BigInteger()),
        sa.Column("source_url", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime()),
        sa.Column("heartbeat_at", sa.DateTime()),
        sa.Column("summary", sa.JSON(), nullable=False),
    )
    op.create_index("ix_datasets_sha256", "datasets", ["sha256"])
    op.create_index("ix_datasets_created", "datasets", ["created_at", "id"])
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("dataset_id", sa.String(32)))
        batch_op.create_index("ix_jobs_dataset_id", ["dataset_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("ix_jobs_dataset_id")
        batch_op.drop_column("dataset_id")
    op.drop_table("datasets")
