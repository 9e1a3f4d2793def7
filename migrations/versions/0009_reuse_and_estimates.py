"""jobs.spec_fingerprint (reuse of an identical succeeded job) and jobs.estimate (the duration it started with)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Jobs created before have no fingerprint: they are never reused (app/jobs/fingerprint.py).
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("spec_fingerprint", sa.String(64)))
        batch_op.add_column(sa.Column("estimate", sa.JSON()))
        batch_op.create_index("ix_jobs_project_fingerprint", ["project_id", "spec_fingerprint"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("ix_jobs_project_fingerprint")
        batch_op.drop_column("estimate")
        batch_op.drop_column("spec_fingerprint")
