"""The local spool: audit records that could not be written yet, kept until they can.

Layout under ``<home>/spool``:

- ``<time>-<event uid>.parquet``: a record waiting for its database (the predictions,
  with the event, the chunk sizes and the database it belongs to in the file metadata);
- ``failed/<same name>.parquet`` and ``.reason.json``: a record the database refused for
  its content, set aside with the reason (``workbench audit status``, Home), until
  ``workbench audit retry-failed``;
- ``databases.json``: the database id last seen at each database address, so a record
  spooled while its database is down still names it;
- ``.replay.lock``: one replayer at a time, across processes.

A record belongs to the database whose id (``workbench_database``, made by the
migration) it carries, and is never written to another. A record spooled before this
home ever reached its database carries no id: it belongs to the database at the same
address (URL without password, query and driver) and to no other. Only an explicit
adoption (``core.audit.adopt``) gives a record another database.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from core.audit.records import PREDICTION_COLUMNS, PREDICTION_SCHEMA, ScoringEventRecord
from core.config import Settings
from core.db import (
    database_address,
    database_label,
    get_database_id,
)
from core.errors import BackendError

log = logging.getLogger(__name__)

_EVENT_KEY = b"workbench_event"
_CHUNKS_KEY = b"workbench_chunks"
_DATABASE_KEY = b"workbench_database"
_ADOPTED_KEY = b"workbench_adopted_from"
UNTAGGED_LABEL = "unknown (spooled before records named their database)"
REPLAY_WAIT = 60.0  # seconds an explicit replay waits for another replayer


@dataclass(frozen=True)
class DatabaseTag:
    """Which database a record belongs to: its id when known, and its address."""

    database_id: str | None
    address: str
    label: str

    def owns(self, record: DatabaseTag) -> bool:
        """Whether a record tagged ``record`` belongs to this (the configured) database."""
        if record.database_id and self.database_id:
            return record.database_id == self.database_id
        return record.address == self.address


@dataclass(frozen=True)
class SpooledRecord:
    """One record in the spool, as ``workbench audit status`` shows it."""

    file: str
    event_uid: str
    created_at: str
    rows: int
    database: str
    reason: str | None = None
    database_id: str | None = None
    untagged: bool = False
    """Spooled before records named their database (``workbench audit adopt --untagged``)."""

    @property
    def database_key(self) -> str:
        """How ``workbench audit adopt --from-database`` names this record's database: its
        id, or its address (as shown) for a record spooled before the id was known."""
        return self.database_id or self.database


@dataclass(frozen=True)
class SpoolStatus:
    """What waits in the spool, what was set aside (with reasons), what is not ours."""

    database: str
    database_reachable: bool
    waiting: list[SpooledRecord] = field(default_factory=list)
    other_database: list[SpooledRecord] = field(default_factory=list)
    set_aside: list[SpooledRecord] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "database_reachable": self.database_reachable,
            "waiting": len(self.waiting),
            "set_aside": len(self.set_aside),
            "other_database": len(self.other_database),
            "records": {
                "waiting": [asdict(r) for r in self.waiting],
                "set_aside": [asdict(r) for r in self.set_aside],
                "other_database": [asdict(r) for r in self.other_database],
            },
        }


def spool_dir(settings: Settings) -> Path:
    return settings.home / "spool"


def failed_dir(settings: Settings) -> Path:
    return spool_dir(settings) / "failed"


def pending_spool(settings: Settings) -> int:
    """How many records wait in the spool (for this database or another)."""
    folder = spool_dir(settings)
    return len(list(folder.glob("*.parquet"))) if folder.exists() else 0


# --------------------------------------------------------------------------- identity


def _known_ids_path(settings: Settings) -> Path:
    return spool_dir(settings) / "databases.json"


def _known_ids(settings: Settings) -> dict[str, str]:
    try:
        return dict(json.loads(_known_ids_path(settings).read_text()))
    except (OSError, ValueError, TypeError):
        return {}


def remember_database(settings: Settings, database_id: str) -> None:
    """Record the id seen at the configured address (for records spooled while down)."""
    address = database_address(settings)
    known = _known_ids(settings)
    if known.get(address) == database_id:
        return
    known[address] = database_id
    path = _known_ids_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    # pid and thread: two threads of one process (the app) must not share a temporary name
    partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.partial")
    partial.write_text(json.dumps(known, indent=1))
    os.replace(partial, path)


def current_database(settings: Settings, *, contact: bool) -> DatabaseTag:
    """The configured database's tag: its id from the database itself when ``contact``
    (raising BackendError when unreachable), else the id last seen at its address."""
    if contact:
        database_id: str | None = get_database_id(settings)
        remember_database(settings, database_id)  # type: ignore[arg-type]
    else:
        database_id = _known_ids(settings).get(database_address(settings))
    return DatabaseTag(database_id, database_address(settings), database_label(settings))


# --------------------------------------------------------------------------- files


def spool_record(
    settings: Settings,
    event: ScoringEventRecord,
    chunks: list[pa.Table],
    database: DatabaseTag,
    *,
    reason: str | None = None,
) -> Path:
    """Write a record to the spool (or, with a ``reason``, set it aside in ``failed/``).

    The whole record is kept, chunk sizes included: a replay skips the chunks the
    database already holds.
    """
    folder = spool_dir(settings) if reason is None else failed_dir(settings)
    table = pa.concat_tables(chunks) if chunks else PREDICTION_SCHEMA.empty_table()
    metadata = {
        _EVENT_KEY: _event_to_json(event).encode(),
        _CHUNKS_KEY: json.dumps([c.num_rows for c in chunks]).encode(),
        _DATABASE_KEY: json.dumps(asdict(database)).encode(),
    }
    table = table.replace_schema_metadata(metadata)
    # Names sort in creation order; write-then-rename so a reader never sees half a file.
    name = f"{time.time_ns():020d}-{event.event_uid}"
    partial = folder / f"{name}.partial"
    path = folder / f"{name}.parquet"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, partial)
        if reason is not None:
            _write_reason(path, reason)
        os.replace(partial, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise BackendError(
            f"the audit record could not be stored, and the local spool {folder} cannot be "
            f"written either ({exc.strerror or exc}); nothing was delivered"
        ) from exc
    return path


def _reason_path(path: Path) -> Path:
    return path.with_suffix(".reason.json")


def _write_reason(path: Path, reason: str) -> None:
    payload = {"reason": reason, "set_aside_at": datetime.now(UTC).isoformat()}
    _reason_path(path).write_text(json.dumps(payload))


def _read_reason(path: Path) -> str:
    try:
        return str(json.loads(_reason_path(path).read_text())["reason"])
    except (OSError, ValueError, KeyError):
        return "no reason recorded"


def _set_aside(settings: Settings, path: Path, reason: str) -> None:
    folder = failed_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    _write_reason(target, reason)
    os.replace(path, target)
    log.error("spooled audit record %s refused (%s); set aside in %s", path.name, reason, folder)


def _event_to_json(event: ScoringEventRecord) -> str:
    payload = asdict(event)
    payload["created_at"] = event.created_at.isoformat()
    return json.dumps(payload)


def _read_tag(path: Path) -> tuple[ScoringEventRecord, DatabaseTag, int]:
    """A spool file's event, database and row count, from its metadata only."""
    meta = pq.read_metadata(path)
    kv = meta.metadata or {}
    payload = json.loads(kv[_EVENT_KEY])
    payload["created_at"] = datetime.fromisoformat(payload["created_at"])
    raw = kv.get(_DATABASE_KEY)
    # Spooled by an older version, which did not say: the address it was meant for is
    # unknown, so it is only replayed where nothing else can claim it (see module doc).
    tag = DatabaseTag(**json.loads(raw)) if raw else DatabaseTag(None, "", UNTAGGED_LABEL)
    return ScoringEventRecord(**payload), tag, meta.num_rows


def _read_chunks(path: Path) -> list[pa.Table]:
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(_CHUNKS_KEY)
    table = table.select(list(PREDICTION_COLUMNS)).replace_schema_metadata(None)
    sizes = json.loads(raw) if raw else [table.num_rows]
    chunks, start = [], 0
    for size in sizes:
        chunks.append(table.slice(start, size))
        start += size
    return chunks


def _describe(path: Path, *, reason: str | None = None) -> tuple[SpooledRecord, DatabaseTag]:
    """A spool file as ``workbench audit status`` shows it, and its database: one read of
    its metadata."""
    event, tag, rows = _read_tag(path)
    record = SpooledRecord(
        file=path.name,
        event_uid=event.event_uid,
        created_at=event.created_at.isoformat(),
        rows=rows,
        database=tag.label if tag.database_id is None else f"{tag.label} (id {tag.database_id})",
        reason=reason,
        database_id=tag.database_id,
        untagged=is_untagged(tag),
    )
    return record, tag


def is_untagged(tag: DatabaseTag) -> bool:
    """Whether a record was spooled before records named their database (no id, no address)."""
    return tag.database_id is None and not tag.address


def retag(path: Path, database: DatabaseTag, *, adopted_from: DatabaseTag) -> None:
    """Make a spool file belong to ``database`` (adoption), keeping where it was meant to go.

    Rewritten under a temporary name and renamed over the original: a reader sees the old
    file or the new one, never half of either; the name (the spool order) is unchanged.
    """
    table = pq.read_table(path)
    metadata = dict(table.schema.metadata or {})
    metadata[_DATABASE_KEY] = json.dumps(asdict(database)).encode()
    origin = {**asdict(adopted_from), "adopted_at": datetime.now(UTC).isoformat()}
    metadata[_ADOPTED_KEY] = json.dumps(origin).encode()
    partial = path.with_suffix(".adopting")
    try:
        pq.write_table(table.replace_schema_metadata(metadata), partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
