"""Writing one event's predictions as they arrive, on a background thread.

The writer commits per chunk (see ``core.audit.writer``), so a long batch never holds a
write lock for longer than one chunk. If the database cannot be used the whole record
goes to the spool (its replay skips the chunks already committed); if the database
refuses the record for its content it is set aside with its reason, and the records
after it are written as usual.
"""

from __future__ import annotations

import logging
import queue
import threading

import pyarrow as pa

from core.audit.records import AuditReceipt, ScoringEventRecord
from core.audit.replay import flush_spool
from core.audit.spool import DatabaseTag, current_database, pending_spool, spool_record
from core.audit.writer import (
    begin_event,
    complete_event,
    mark_interrupted,
    sweep_interrupted,
    write_chunk,
)
from core.config import Settings
from core.db import classify_error, describe_error, get_engine

log = logging.getLogger(__name__)


def log_scoring(
    settings: Settings, event: ScoringEventRecord, predictions: pa.Table
) -> AuditReceipt:
    """Store one scoring event and its predictions; spool them if the database fails.

    Spooled records from earlier are replayed first, so the log keeps its order. For
    predictions that arrive chunk by chunk use :class:`AuditStream`.

    Args:
        settings: the app database and the home folder (for the spool).
        event: what the call did.
        predictions: per-row audit columns (see ``make_predictions_table``).

    Returns:
        Where the record went; never raises for a database failure.
    """
    stream = AuditStream(settings, event)
    stream.add(predictions)
    return stream.finish(event)


class AuditStream:
    """One event's predictions written chunk by chunk on a background thread.

    The writer thread inserts the event (in progress), then each chunk as it arrives in
    its own short transaction (COPY on PostgreSQL, executemany on SQLite), then the final
    totals (complete). Database work thus overlaps with parsing, scoring and writing
    output in the caller's thread. The caller's chunks are kept until :meth:`finish`, so
    a failure at any point spools (or sets aside) the whole record.
    """

    _DONE = object()

    def __init__(self, settings: Settings, header: ScoringEventRecord) -> None:
        self._settings = settings
        self._header = header
        self._parts: list[pa.Table] = []
        self._queue: queue.Queue[object] = queue.Queue(maxsize=4)
        self._error: Exception | None = None
        self._replayed = 0
        self._database_id: str | None = None
        self._final: ScoringEventRecord | None = None
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def add(self, predictions: pa.Table) -> None:
        """Queue one chunk of predictions (blocks briefly if the writer is behind)."""
        self._parts.append(predictions)
        if self._error is None:
            self._queue.put(predictions)

    def finish(self, event: ScoringEventRecord) -> AuditReceipt:
        """Complete with the final totals in ``event`` (same ``event_uid``), or spool all."""
        self._final = event
        self._queue.put(self._DONE)
        self._thread.join()
        rows = sum(part.num_rows for part in self._parts)
        if self._error is None:
            message = f"{rows:,} predictions recorded in the audit log"
            if self._replayed:
                message += f"; {self._replayed} spooled event(s) replayed first"
            return AuditReceipt(event.event_uid, "database", self._replayed, 0, message)
        return self._keep(event, rows, self._error)

    def _keep(self, event: ScoringEventRecord, rows: int, error: Exception) -> AuditReceipt:
        settings = self._settings
        reason = describe_error(error)
        known = current_database(settings, contact=False)
        tag = DatabaseTag(self._database_id or known.database_id, known.address, known.label)
        if classify_error(error) == "content":
            mark_interrupted(settings, event.event_uid)
            path = spool_record(settings, event, self._parts, tag, reason=reason)
            log.error("audit record %s refused, set aside: %s", event.event_uid, reason)
            return AuditReceipt(
                event_uid=event.event_uid,
                stored="set_aside",
                replayed=self._replayed,
                pending=pending_spool(settings),
                message=(
                    f"The audit database refused this record ({reason}). Its {rows:,} "
                    f"prediction records were set aside in {path.parent}; see "
                    "`workbench audit status` or Home, and `workbench audit retry-failed`."
                ),
            )
        spool_record(settings, event, self._parts, tag)
        pending = pending_spool(settings)
        log.warning("audit write failed, spooled event %s: %s", event.event_uid, reason)
        return AuditReceipt(
            event_uid=event.event_uid,
            stored="spool",
            replayed=self._replayed,
            pending=pending,
            message=(
                f"The audit database could not be written ({reason}). "
                f"{rows:,} prediction records were saved to the local spool "
                f"({pending} event(s) waiting) and will be written, in order, when it is back."
            ),
        )

    def _run(self) -> None:
        done = False
        try:
            # Another process replaying: do not wait for it, write this record now.
            self._replayed = flush_spool(self._settings, wait=False)
            engine = get_engine(self._settings)
            self._database_id = current_database(self._settings, contact=True).database_id
            sweep_interrupted(self._settings)  # at most once a minute per process
            stored = begin_event(engine, self._header)
            index = 0
            while (item := self._queue.get()) is not self._DONE:
                write_chunk(engine, stored.event_id, index, item)  # type: ignore[arg-type]
                index += 1
            done = True
            complete_event(engine, stored.event_id, self._final or self._header)
        except Exception as exc:  # any failure: spool or set aside everything in finish()
            self._error = exc
            # Keep the producer from blocking on a full queue, unless the end was already
            # seen (a failed final update): then nothing more will come.
            while not done and self._queue.get() is not self._DONE:
                pass
