"""Writing one event to the database, one short transaction per chunk.

The contract (README, "Scoring and the audit trail"):

- the event row is inserted first, ``status = in_progress``, ``chunks_done = 0``;
- chunk ``k`` is written in its own transaction, which first moves ``chunks_done`` from
  ``k`` to ``k + 1`` (a guarded update: if another writer already wrote chunk ``k`` the
  update matches nothing and the chunk is skipped) and then inserts its rows;
- the last step sets the totals and ``status = complete``;
- readers count complete events only; :func:`sweep_interrupted` marks an event still
  ``in_progress`` after ``WORKBENCH_AUDIT_STALE_AFTER`` seconds ``interrupted`` (a killed
  process cannot mark its own).

So no write transaction outlives one chunk, and a record written again (replay after a
crash) resumes after its last committed chunk: idempotent per chunk, not only per event.
"""

from __future__ import annotations

import io
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.audit.records import (
    PREDICTION_COLUMNS,
    TRANSACTION_ID_CHARS,
    ScoringEventRecord,
    safe_text_array,
)
from core.config import Settings
from core.db import Prediction, ScoringEvent, get_engine

log = logging.getLogger(__name__)

IN_PROGRESS, COMPLETE, INTERRUPTED = "in_progress", "complete", "interrupted"
_COLUMN_LIST = ", ".join(("event_id", *PREDICTION_COLUMNS))
_TOTALS = ("rows_in", "rows_scored", "rows_rejected", "alerts", "drift_counts", "latency_ms")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StoredEvent:
    """An event row as the database holds it."""

    event_id: int
    status: str
    chunks_done: int


def find_event(engine: Engine, event_uid: str) -> StoredEvent | None:
    """The stored state of one event, or None when it is not in the database."""
    with engine.connect() as connection:
        row = connection.execute(
            select(ScoringEvent.id, ScoringEvent.status, ScoringEvent.chunks_done).where(
                ScoringEvent.event_uid == event_uid
            )
        ).first()
    return None if row is None else StoredEvent(int(row[0]), str(row[1]), int(row[2]))


def begin_event(engine: Engine, event: ScoringEventRecord) -> StoredEvent:
    """Insert ``event`` as in progress (its own transaction), or return the stored one.

    Raises:
        SQLAlchemyError: the database failed (see ``core.db.classify_error``).
    """
    stored = find_event(engine, event.event_uid)
    if stored is not None:
        return stored
    values = {**event.safe_values(), "status": IN_PROGRESS, "chunks_done": 0, "updated_at": _now()}
    try:
        with engine.begin() as connection:
            statement = insert(ScoringEvent).values(**values).returning(ScoringEvent.id)
            event_id = int(connection.execute(statement).scalar_one())
    except IntegrityError:  # another writer inserted it between our look and our insert
        stored = find_event(engine, event.event_uid)
        if stored is None:
            raise
        return stored
    return StoredEvent(event_id, IN_PROGRESS, 0)


def write_chunk(engine: Engine, event_id: int, index: int, predictions: pa.Table) -> bool:
    """Write chunk ``index`` of an event in one transaction.

    Returns:
        False when that chunk was already written (nothing is written twice).

    Raises:
        Exception: the driver's or SQLAlchemy's error (see ``core.db.classify_error``).
    """
    with engine.begin() as connection:
        # The update comes first: it takes the write lock at once (SQLite) and claims the
        # chunk, so two writers of the same record never both insert it.
        moved = connection.execute(
            update(ScoringEvent)
            .where(
                ScoringEvent.id == event_id,
                ScoringEvent.chunks_done == index,
                ScoringEvent.status != COMPLETE,
            )
            .values(chunks_done=index + 1, updated_at=_now())
        )
        if moved.rowcount != 1:
            return False
        _insert_predictions(connection, event_id, predictions)
    return True


def complete_event(engine: Engine, event_id: int, event: ScoringEventRecord) -> None:
    """Set the final totals and mark the event complete (its own transaction)."""
    totals = {name: getattr(event, name) for name in _TOTALS}
    with engine.begin() as connection:
        connection.execute(
            update(ScoringEvent)
            .where(ScoringEvent.id == event_id)
            .values(**totals, status=COMPLETE, updated_at=_now())
        )


def mark_interrupted(settings: Settings, event_uid: str) -> None:
    """Best effort: mark an event this process gave up on as interrupted."""
    try:
        with get_engine(settings).begin() as connection:
            connection.execute(
                update(ScoringEvent)
                .where(ScoringEvent.event_uid == event_uid, ScoringEvent.status == IN_PROGRESS)
                .values(status=INTERRUPTED, updated_at=_now())
            )
    except Exception as exc:  # the sweeper will do it later
        log.info("could not mark event %s interrupted: %s", event_uid, exc)


def write_event(engine: Engine, event: ScoringEventRecord, chunks: list[pa.Table]) -> bool:
    """Write a whole record, resuming after the chunks the database already holds.

    Returns:
        False when the event was already complete (nothing written).

    Raises:
        Exception: the database failed (see ``core.db.classify_error``).
    """
    stored = begin_event(engine, event)
    if stored.status == COMPLETE:
        return False
    for index in range(stored.chunks_done, len(chunks)):
        write_chunk(engine, stored.event_id, index, chunks[index])
    complete_event(engine, stored.event_id, event)
    return True


_swept: dict[str, float] = {}
_swept_lock = threading.Lock()
SWEEP_EVERY = 60.0  # seconds between sweeps per process and database


def sweep_interrupted(settings: Settings, *, force: bool = False) -> int:
    """Mark events still in progress after ``settings.audit_stale_after`` as interrupted.

    Runs at most once a minute per process and database unless ``force``.

    Returns:
        How many events were marked.

    Raises:
        SQLAlchemyError: the database failed.
    """
    key = str(settings.database_url)
    with _swept_lock:
        if not force and time.monotonic() - _swept.get(key, -SWEEP_EVERY) < SWEEP_EVERY:
            return 0
        _swept[key] = time.monotonic()
    cutoff = _now() - timedelta(seconds=settings.audit_stale_after)
    with get_engine(settings).begin() as connection:
        marked = connection.execute(
            update(ScoringEvent)
            .where(ScoringEvent.status == IN_PROGRESS, ScoringEvent.updated_at < cutoff)
            .values(status=INTERRUPTED, updated_at=_now())
        ).rowcount
    if marked:
        log.warning("%d audit event(s) stopped midway are marked interrupted", marked)
    return int(marked)


def count_predictions(settings: Settings, event_uid: str) -> int:
    """How many predictions the database holds for one *complete* event (0 otherwise).

    Raises:
        BackendError: the database cannot be reached.
        SQLAlchemyError: the query failed.
    """
    with get_engine(settings).connect() as connection:
        return int(
            connection.execute(
                select(func.count(Prediction.id))
                .join(ScoringEvent, ScoringEvent.id == Prediction.event_id)
                .where(ScoringEvent.event_uid == event_uid, ScoringEvent.status == COMPLETE)
            ).scalar_one()
        )


def _insert_predictions(connection: Connection, event_id: int, predictions: pa.Table) -> None:
    if predictions.num_rows == 0:
        return
    # Spooled before ids were made safe, or built elsewhere: safe again (a no-op if so).
    ids = predictions.column("transaction_id").combine_chunks()
    predictions = predictions.set_column(
        PREDICTION_COLUMNS.index("transaction_id"),
        "transaction_id",
        safe_text_array(ids, TRANSACTION_ID_CHARS),
    )
    if connection.dialect.name == "postgresql":
        _copy_predictions(connection, event_id, predictions)
        return
    # sqlite3's executemany straight from column lists, in this connection's transaction
    # (SQLAlchemy's would want a materialised list of row tuples first).
    columns = [predictions.column(c).to_pylist() for c in PREDICTION_COLUMNS]
    placeholders = ", ".join("?" * (len(PREDICTION_COLUMNS) + 1))
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(
            f"INSERT INTO predictions ({_COLUMN_LIST}) VALUES ({placeholders})",
            zip(itertools.repeat(event_id), *columns),
        )
    finally:
        cursor.close()


def _copy_predictions(connection: Connection, event_id: int, predictions: pa.Table) -> None:
    ids = pa.array(np.full(predictions.num_rows, event_id, dtype=np.int64))
    buffer = io.BytesIO()
    pacsv.write_csv(predictions.add_column(0, "event_id", ids), buffer)
    sql = f"COPY predictions ({_COLUMN_LIST}) FROM STDIN WITH (FORMAT csv, HEADER true)"
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        if hasattr(cursor, "copy_expert"):  # psycopg2
            buffer.seek(0)
            cursor.copy_expert(sql, buffer)
        else:  # psycopg 3
            with cursor.copy(sql) as copy:
                copy.write(buffer.getvalue())
