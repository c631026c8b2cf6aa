"""audit written per chunk, a database identity, alias moves with a status

- ``scoring_events``: ``status`` (in_progress / complete / interrupted), ``chunks_done``
  (the per-chunk progress marker) and ``updated_at``; existing rows are complete.
- ``alias_events.status`` (pending / confirmed / failed); existing rows are confirmed.
- ``workbench_database``: one row with a random id, so spooled records are only ever
  written to the database they were meant for.

Revision ID: 0003
Revises: 0002
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scoring_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="complete", nullable=False)
        )
        batch_op.add_column(
            sa.Column("chunks_done", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_scoring_events_status"), ["status"], unique=False)
    op.execute("UPDATE scoring_events SET updated_at = created_at")
    with op.batch_alter_table("scoring_events", schema=None) as batch_op:
        batch_op.alter_column(
            "updated_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )

    with op.batch_alter_table("alias_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="confirmed", nullable=False)
        )

    identity = op.create_table(
        "workbench_database",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("database_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(
        identity, [{"id": 1, "database_id": str(uuid.uuid4()), "created_at": datetime.now(UTC)}]
    )


def downgrade() -> None:
    op.drop_table("workbench_database")
    with op.batch_alter_table("alias_events", schema=None) as batch_op:
        batch_op.drop_column("status")
    with op.batch_alter_table("scoring_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scoring_events_status"))
        batch_op.drop_column("updated_at")
        batch_op.drop_column("chunks_done")
        batch_op.drop_column("status")
