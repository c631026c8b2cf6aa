"""The history of alias moves and threshold changes: reading it, exporting it, and
noticing moves made outside the workbench.

Every row of ``alias_events`` is one fact: an alias moved (``first``, ``promote``,
``override``, ``rollback``, ``external``) or a version's threshold changed
(``threshold``). MLflow keeps no such history, and anyone with write access to the
registry can move an alias directly; :func:`sync_alias_history` compares the registry
with our last confirmed row per alias and records the difference as ``external``, with
an unknown actor, once even when several processes notice it at the same moment.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlflow.exceptions import MlflowException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from core.config import Settings
from core.db import AliasEvent, get_engine
from core.db.errors import describe_error
from core.errors import BackendError, InputError
from core.gates import GateResult
from core.pending import settle_pending_moves
from core.registry import _wrap, get_version
from core.tracking import get_client

log = logging.getLogger(__name__)

EXTERNAL_ACTOR = "unknown (outside the workbench)"
EXTERNAL_REASON = "moved outside the workbench (noticed in the registry)"
MOVE_KINDS = ("first", "promote", "override", "rollback", "external")
"""History kinds that move an alias (the other kind is ``threshold``)."""
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet reads a cell as a formula by (CSV injection)."""

CSV_COLUMNS = (
    "time",
    "actor",
    "role",
    "kind",
    "alias",
    "from_version",
    "to_version",
    "threshold",
    "old_threshold",
    "reason",
    "gates",
    "status",
)


@dataclass(frozen=True)
class HistoryRow:
    """One history row, as shown and exported.

    ``to_version`` is the version the alias points at after the move (None: removed
    outside the workbench), or for a ``threshold`` row the version whose threshold
    changed. ``role`` is None for rows written before roles were recorded and for
    ``external`` moves. ``time`` is when the workbench wrote the row (for ``external``,
    when it noticed the move).
    """

    id: int
    time: datetime
    actor: str
    role: str | None
    kind: str
    alias: str | None
    from_version: int | None
    to_version: int | None
    threshold: float | None
    old_threshold: float | None
    reason: str
    status: str
    gates: tuple[GateResult, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """The row as JSON-ready values (``time`` in ISO 8601)."""
        return {
            "id": self.id,
            "time": self.time.isoformat(),
            "actor": self.actor,
            "role": self.role,
            "kind": self.kind,
            "alias": self.alias,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "threshold": self.threshold,
            "old_threshold": self.old_threshold,
            "reason": self.reason,
            "gates": [g.as_json() for g in self.gates],
            "status": self.status,
        }

    @classmethod
    def from_event(cls, event: AliasEvent) -> HistoryRow:
        return cls(
            id=event.id,
            # SQLite hands back naive datetimes; they were written in UTC
            time=event.created_at
            if event.created_at.tzinfo
            else event.created_at.replace(tzinfo=UTC),
            actor=event.actor,
            role=event.role,
            kind=event.kind,
            alias=event.alias,
            from_version=event.from_version,
            to_version=event.to_version,
            threshold=event.threshold,
            old_threshold=event.old_threshold,
            reason=event.reason,
            status=event.status,
            gates=tuple(GateResult.from_json(g) for g in event.gates or ()),
        )


def _read(settings: Settings, query: Any) -> list[AliasEvent]:
    try:
        with Session(get_engine(settings), expire_on_commit=False) as session:
            return list(session.scalars(query).all())
    except SQLAlchemyError as exc:
        raise BackendError(f"reading the alias history: {describe_error(exc)}") from exc


def _read_ids(settings: Settings, query: Any) -> list[int]:
    try:
        with Session(get_engine(settings)) as session:
            return list(session.scalars(query).all())
    except SQLAlchemyError as exc:
        raise BackendError(f"reading the alias history: {describe_error(exc)}") from exc


def list_alias_history(
    settings: Settings, *, alias: str | None = None, limit: int | None = None
) -> list[HistoryRow]:
    """The registered model's history, newest first.

    Args:
        settings: which registered model and app database.
        alias: only this alias's moves (threshold changes have no alias); None for all rows.
        limit: at most this many rows.

    Returns:
        The rows, newest first (pending and failed ones included, with their status).

    Raises:
        InputError: ``limit`` is not positive.
        BackendError: the app database failed.
    """
    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1, not {limit}")
    query = (
        select(AliasEvent)
        .where(AliasEvent.model_name == settings.model_name)
        .order_by(AliasEvent.id.desc())
    )
    if alias is not None:
        query = query.where(AliasEvent.alias == alias)
    if limit is not None:
        query = query.limit(limit)
    return [HistoryRow.from_event(e) for e in _read(settings, query)]


def last_move(settings: Settings, alias: str) -> HistoryRow | None:
    """The alias's last confirmed move in our history, or None when it has none.

    Raises:
        BackendError: the app database failed.
    """
    query = (
        select(AliasEvent)
        .where(
            AliasEvent.model_name == settings.model_name,
            AliasEvent.alias == alias,
            AliasEvent.kind.in_(MOVE_KINDS),
            AliasEvent.status == "confirmed",
        )
        .order_by(AliasEvent.id.desc())
        .limit(1)
    )
    found = _read(settings, query)
    return HistoryRow.from_event(found[0]) if found else None


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a leading ``'`` defuses a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def history_csv(rows: list[HistoryRow]) -> bytes:
    """The rows as UTF-8 CSV with a header (``CSV_COLUMNS``); gates as JSON text.

    Text a person typed (reason, actor, alias) may start like a formula (``=``, ``+``,
    ``-``, ``@``, tab, carriage return); such cells are prefixed with ``'`` so a
    spreadsheet opening the file shows them instead of running them. Lines end in CRLF
    (RFC 4180), which also makes the writer quote a field holding a lone CR.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = row.as_json()
        values["gates"] = json.dumps(values["gates"]) if row.gates else ""
        writer.writerow([_cell(values[c]) for c in CSV_COLUMNS])
    return buffer.getvalue().encode("utf-8")


def _registry_aliases(settings: Settings) -> dict[str, int]:
    """Every alias of the registered model and its version ({} when it does not exist)."""
    try:
        model = get_client(settings).get_registered_model(settings.model_name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise _wrap(settings, f"reading the aliases of {settings.model_name}", exc) from exc
    return {name: int(version) for name, version in (model.aliases or {}).items()}


def sync_alias_history(
    settings: Settings, *, alias: str | None = None, settle_pending: bool = False
) -> list[HistoryRow]:
    """Record as ``external`` every alias move made outside the workbench.

    An alias whose registry version differs from our last confirmed row for it (or that
    exists with no row at all, or that was removed) moved outside the workbench. The
    registry is read before and after our history: an alias that changed meanwhile is
    being moved by someone now and is left for the next sync, and (without
    ``settle_pending``) an alias whose latest row is a ``pending`` move to where it is
    now is a workbench move in flight. Each external row carries a dedupe key (the
    alias, our last row's id, the version now); its UNIQUE constraint keeps one row when
    several processes notice the same move.

    Args:
        settings: which registered model and app database.
        alias: only this alias (default: every alias, in the registry or our history).
        settle_pending: the caller holds ``alias``'s lock, so every ``pending`` row of
            it is settled first (:func:`core.pending.settle_pending_moves`); then a
            registry that differs from the last confirmed row is an external move.

    Returns:
        The external rows this call wrote.

    Raises:
        InputError: ``settle_pending`` without an ``alias``.
        BackendError: the registry or the app database failed.
    """
    if settle_pending and alias is None:
        raise InputError("settling pending moves needs the alias whose lock is held")
    before = _registry_aliases(settings)
    query = (
        select(AliasEvent)
        .where(AliasEvent.model_name == settings.model_name, AliasEvent.kind.in_(MOVE_KINDS))
        .order_by(AliasEvent.id)
    )
    if alias is not None:
        query = query.where(AliasEvent.alias == alias)
    confirmed: dict[str, AliasEvent] = {}
    latest: dict[str, AliasEvent] = {}
    pending: dict[str, list[AliasEvent]] = {}
    for event in _read(settings, query):
        if event.alias is None:
            continue
        latest[event.alias] = event
        if event.status == "confirmed":
            confirmed[event.alias] = event
        elif event.status == "pending":
            pending.setdefault(event.alias, []).append(event)
    after = _registry_aliases(settings)
    names = {alias} if alias is not None else set(before) | set(after) | set(confirmed)
    written = []
    for name in sorted(names):
        now = after.get(name)
        if before.get(name) != now:
            continue  # being moved right now: the next sync sees where it settles
        last = confirmed.get(name)
        newest = latest.get(name)
        if settle_pending:
            kept = settle_pending_moves(settings, pending.get(name, []), newest=newest, now=now)
            last = kept or last
        elif newest is not None and newest.status == "pending" and newest.to_version == now:
            continue  # a workbench move in flight: its process confirms it
        if (last.to_version if last else None) == now:
            continue
        row = _record_external(settings, name, last, now)
        if row is not None:
            written.append(row)
    return written


def _record_external(
    settings: Settings, alias: str, last: AliasEvent | None, now: int | None
) -> HistoryRow | None:
    """Write one external move; None when another process wrote it first."""
    fact = f"external\0{settings.model_name}\0{alias}\0{last.id if last else 0}\0{now}"
    threshold = None if now is None else get_version(settings, now, with_metrics=False).threshold
    event = AliasEvent(
        model_name=settings.model_name,
        alias=alias,
        from_version=last.to_version if last else None,
        to_version=now,
        actor=EXTERNAL_ACTOR,
        role=None,
        reason=EXTERNAL_REASON,
        status="confirmed",
        kind="external",
        threshold=threshold,
        dedupe_key=hashlib.sha256(fact.encode()).hexdigest(),
    )
    try:
        with Session(get_engine(settings), expire_on_commit=False) as session, session.begin():
            session.add(event)
    except IntegrityError as exc:
        # The UNIQUE dedupe key: another process recorded this very move first. Any other
        # integrity error is not that, and is not swallowed.
        taken = select(AliasEvent.id).where(AliasEvent.dedupe_key == event.dedupe_key)
        if not _read_ids(settings, taken):
            raise BackendError(f"recording an external alias move: {describe_error(exc)}") from exc
        log.info("%s@%s: the external move was recorded by another process", alias, now)
        return None
    except SQLAlchemyError as exc:
        raise BackendError(f"recording an external alias move: {describe_error(exc)}") from exc
    log.info(
        "%s@%s moved outside the workbench: %s -> %s",
        settings.model_name,
        alias,
        event.from_version,
        now,
    )
    return HistoryRow.from_event(event)
