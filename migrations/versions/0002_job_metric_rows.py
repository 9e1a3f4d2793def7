"""jobs.metric_rows: the number of metric rows a job has, so a curve's revision is one primary-key read

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("metric_rows", sa.Integer(), server_default="0", nullable=False))
    # Existing jobs: count what they have (one pass; record_epoch keeps it current from now on).
    op.execute("UPDATE jobs SET metric_rows = (SELECT count(*) FROM metrics WHERE metrics.job_id = jobs.id)")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("metric_rows")
