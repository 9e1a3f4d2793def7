"""transfer: jobs.warnings (leakage along a chain), the control-run link both ways, jobs.result (recommendations)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("warnings", sa.JSON()))
        batch_op.add_column(sa.Column("control_id", sa.String(32)))
        batch_op.add_column(sa.Column("control_of", sa.String(32)))
        batch_op.add_column(sa.Column("result", sa.JSON()))
        batch_op.create_index("ix_jobs_control_of", ["control_of"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("ix_jobs_control_of")
        batch_op.drop_column("result")
        batch_op.drop_column("control_of")
        batch_op.drop_column("control_id")
        batch_op.drop_column("warnings")
