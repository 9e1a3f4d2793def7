"""jobs.priority: a free worker claims the highest-priority queued job, then the oldest (app/jobs/claim.py)

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="1"))  # normal
        batch_op.create_index("ix_jobs_claim", ["status", "priority", "created_at", "id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("ix_jobs_claim")
        batch_op.drop_column("priority")
