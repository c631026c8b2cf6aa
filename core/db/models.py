"""SQLAlchemy 2 models of the app database. Alembic migrations build the same schema."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class ScoringEvent(Base):
    """One scoring call (a form submit, a batch file, a CLI run, an API request)."""

    __tablename__ = "scoring_events"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    # Made by the caller, so a spooled event replayed twice is recognised and skipped.
    event_uid: Mapped[str] = mapped_column(String(36), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    source: Mapped[str] = mapped_column(String(16))  # ui / cli / api
    actor: Mapped[str] = mapped_column(String(128))
    model_name: Mapped[str] = mapped_column(String(256))
    model_version: Mapped[int] = mapped_column(Integer)
    alias: Mapped[str | None] = mapped_column(String(128))
    threshold: Mapped[float] = mapped_column(Float)
    rows_in: Mapped[int] = mapped_column(Integer)
    rows_scored: Mapped[int] = mapped_column(Integer)
    rows_rejected: Mapped[int] = mapped_column(Integer)
    alerts: Mapped[int] = mapped_column(Integer)
    input_name: Mapped[str | None] = mapped_column(String(512))  # file name, "form", ...
    # Written chunk by chunk (migration 0003): in_progress until the last chunk, then
    # complete; the sweeper marks a stale in_progress event interrupted. Readers count
    # complete events only.
    status: Mapped[str] = mapped_column(String(16), server_default="complete", index=True)
    chunks_done: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # Migration 0005: the rows on the version's drift bins (core.drift.DriftCounts JSON)
    # and the scoring latency histogram (core.monitoring, JSON); NULL on older events.
    drift_counts: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[str | None] = mapped_column(Text)


class Prediction(Base):
    """One scored row of a scoring event."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(
        BigIntKey, ForeignKey("scoring_events.id", ondelete="CASCADE"), index=True
    )
    row_number: Mapped[int | None] = mapped_column(Integer)
    # Indexed where present only (migration 0002): most files carry no transaction id.
    transaction_id: Mapped[str | None] = mapped_column(String(128))
    input_hash: Mapped[str] = mapped_column(String(64))
    probability: Mapped[float] = mapped_column(Float)
    decision: Mapped[int] = mapped_column(Integer)  # 1 = alert
    reasons: Mapped[list | None] = mapped_column(JSON)

    __table_args__ = (
        Index(
            "ix_predictions_transaction_id",
            "transaction_id",
            postgresql_where=text("transaction_id IS NOT NULL"),
            sqlite_where=text("transaction_id IS NOT NULL"),
        ),
    )


class AliasEvent(Base):
    """One history row: an alias move (first alias, promotion, override, rollback, a move
    made outside the workbench) or a change of a version's decision threshold."""

    __tablename__ = "alias_events"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    model_name: Mapped[str] = mapped_column(String(256))
    # None for a threshold change, which concerns a version, not an alias (migration 0004)
    alias: Mapped[str | None] = mapped_column(String(128))
    from_version: Mapped[int | None] = mapped_column(Integer)
    # The version the alias points at afterwards (None: a move outside the workbench removed
    # the alias); for a threshold change, the version whose threshold changed.
    to_version: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(2000))
    # The intent is written first (pending), then the alias moves, then it is confirmed
    # (or marked failed): the history and the registry agree (migration 0003).
    status: Mapped[str] = mapped_column(String(16), server_default="confirmed")
    # Migration 0004: first / promote / override / rollback / external / threshold.
    kind: Mapped[str] = mapped_column(String(16))
    role: Mapped[str | None] = mapped_column(String(16))  # None: before roles were recorded
    threshold: Mapped[float | None] = mapped_column(Float)  # the version's, at the move
    old_threshold: Mapped[float | None] = mapped_column(Float)  # threshold changes only
    gates: Mapped[list | None] = mapped_column(JSON)  # [{name, passed, detail}, ...]
    # Set on rows that several processes may write for the same fact (a move noticed in
    # the registry): the UNIQUE constraint keeps one.
    dedupe_key: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_alias_events_dedupe_key"),)


class DatabaseIdentity(Base):
    """The one row naming this database: a random id made by migration 0003.

    Spooled audit records carry it, so a record is only ever written to the database it
    was meant for, whatever URL reaches that database now.
    """

    __tablename__ = "workbench_database"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    database_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ApiKey(Base):
    """One API key of the REST sidecar (migration 0006): never the key, only its SHA-256.

    The key text is ``fwb_<key_id>_<secret>`` (see ``core.apikeys``); ``key_id`` is public
    and finds the row, ``key_hash`` is the SHA-256 (hex) of the whole text. A name is
    unique among active keys only, so a revoked key's name may be given to a new one.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[str] = mapped_column(Text)  # comma-joined, e.g. "score,admin"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        UniqueConstraint("key_id", name="uq_api_keys_key_id"),
        Index(
            "ux_api_keys_active_name",
            "name",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
            sqlite_where=text("revoked_at IS NULL"),
        ),
    )
