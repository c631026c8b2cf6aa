"""scoring events carry their drift counts and latency histogram

- ``drift_counts``: the event's rows summarised on the version's drift-sketch bins
  (``core.drift.DriftCounts`` as JSON); NULL where the version has no drift reference, and
  on events written before this;
- ``latency_ms``: a small histogram of scoring latency in milliseconds (JSON, see
  ``core.monitoring``); NULL on events written before this.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scoring_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("drift_counts", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("latency_ms", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scoring_events", schema=None) as batch_op:
        batch_op.drop_column("latency_ms")
        batch_op.drop_column("drift_counts")
