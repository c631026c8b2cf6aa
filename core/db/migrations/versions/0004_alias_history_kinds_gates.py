"""alias_events becomes the history of every move and threshold change

- ``kind`` (first / promote / override / rollback / external / threshold): existing rows
  are ``first`` where the training's first alias wrote them, ``promote`` otherwise;
- ``role`` (the actor's role; unknown for existing rows), ``threshold`` (the version's,
  at the move), ``old_threshold`` (threshold changes), ``gates`` (JSON gate results);
- ``alias`` and ``to_version`` nullable (a threshold change has no alias; a move made
  outside the workbench may remove an alias);
- ``dedupe_key`` with a UNIQUE constraint: a move noticed by several processes is
  recorded once.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# What core.aliases.ensure_alias wrote as the reason of a training's first alias.
FIRST_REASON = "first model: live alias was unset"


def upgrade() -> None:
    with op.batch_alter_table("alias_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="promote", nullable=False)
        )
        batch_op.add_column(sa.Column("role", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("threshold", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("old_threshold", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("gates", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=64), nullable=True))
        batch_op.alter_column("alias", existing_type=sa.String(length=128), nullable=True)
        batch_op.alter_column("to_version", existing_type=sa.Integer(), nullable=True)
        batch_op.create_unique_constraint("uq_alias_events_dedupe_key", ["dedupe_key"])
    op.execute(
        sa.text("UPDATE alias_events SET kind = 'first' WHERE reason = :first").bindparams(
            first=FIRST_REASON
        )
    )
    # Every later row names its kind; no default could be right for all of them.
    with op.batch_alter_table("alias_events", schema=None) as batch_op:
        batch_op.alter_column(
            "kind", existing_type=sa.String(length=16), server_default=None, nullable=False
        )


def downgrade() -> None:
    op.execute("DELETE FROM alias_events WHERE alias IS NULL OR to_version IS NULL")
    with op.batch_alter_table("alias_events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_alias_events_dedupe_key", type_="unique")
        batch_op.alter_column("to_version", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("alias", existing_type=sa.String(length=128), nullable=False)
        batch_op.drop_column("dedupe_key")
        batch_op.drop_column("gates")
        batch_op.drop_column("old_threshold")
        batch_op.drop_column("threshold")
        batch_op.drop_column("role")
        batch_op.drop_column("kind")
