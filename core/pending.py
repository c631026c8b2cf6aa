"""Settling history rows left ``pending``: intents whose process never confirmed them.

A move or threshold change writes its intent (``pending``), changes the registry, then
confirms the row. A process that dies in between, or whose registry call never happened,
leaves the intent pending. Whoever next holds the same lock settles it: the newest row is
confirmed when the registry shows it done and it is younger than the lock wait; every
other pending row is marked ``abandoned``, so a registry change made later, directly in
MLflow, is recorded as ``external`` instead of being credited to a dead intent.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.config import Settings
from core.db import AliasEvent, get_engine
from core.db.errors import describe_error
from core.db.locks import LOCK_WAIT
from core.errors import BackendError

log = logging.getLogger(__name__)

ABANDONED = "abandoned"
"""The status of an intent no process will confirm: its process died, or its registry
call never happened."""


def _read(settings: Settings, query: object) -> list[AliasEvent]:
    try:
        with Session(get_engine(settings), expire_on_commit=False) as session:
            return list(session.scalars(query).all())  # type: ignore[call-overload]
    except SQLAlchemyError as exc:
        raise BackendError(f"reading the alias history: {describe_error(exc)}") from exc


def _is_young(event: AliasEvent) -> bool:
    """Whether the row is younger than the lock wait: a live process may still confirm it."""
    created = event.created_at
    if created.tzinfo is None:  # SQLite hands back naive datetimes; they were written in UTC
        created = created.replace(tzinfo=UTC)
    return datetime.now(UTC) - created < timedelta(seconds=LOCK_WAIT)


def settle_pending_moves(
    settings: Settings, rows: list[AliasEvent], *, newest: AliasEvent | None, now: int | None
) -> AliasEvent | None:
    """Settle an alias's ``pending`` rows; the caller holds the alias's lock.

    Only the alias's newest row can be confirmed, and only while it is younger than the
    lock wait and the registry shows its move done (its process died between the move
    and the confirmation). Every other pending row is marked ``abandoned``: an old
    intent must not take the blame for a move someone made later, directly in MLflow,
    and an intent whose registry call never happened must not stay pending forever.

    Args:
        settings: which app database.
        rows: the alias's pending move rows.
        newest: the alias's newest history row.
        now: the version the alias points at in the registry.

    Returns:
        The row confirmed, or None.

    Raises:
        BackendError: the app database failed.
    """
    kept = next(
        (
            r
            for r in rows
            if newest is not None and r.id == newest.id and r.to_version == now and _is_young(r)
        ),
        None,
    )
    if kept is not None:
        _set_status(settings, [kept.id], "confirmed")
        log.info("alias move %s was left pending; the registry shows it done", kept.id)
    stale = [r.id for r in rows if r is not kept]
    if stale:
        _set_status(settings, stale, ABANDONED)
        log.warning("alias moves %s were left pending; marked %s", stale, ABANDONED)
    return kept


def settle_pending_thresholds(settings: Settings, *, version: int, tag: str | None) -> None:
    """Settle a version's ``pending`` threshold rows; the caller holds its threshold lock.

    The newest, if younger than the lock wait and equal to the version's ``threshold``
    tag now, is confirmed (its process died before confirming); every other one is marked
    ``abandoned``.

    Args:
        settings: which registered model and app database.
        version: the version whose threshold rows are settled.
        tag: the version's ``threshold`` tag now (None: no tag).

    Raises:
        BackendError: the app database failed.
    """
    query = (
        select(AliasEvent)
        .where(
            AliasEvent.model_name == settings.model_name,
            AliasEvent.kind == "threshold",
            AliasEvent.to_version == version,
        )
        .order_by(AliasEvent.id)
    )
    events = _read(settings, query)
    rows = [e for e in events if e.status == "pending"]
    if not rows:
        return
    newest = events[-1]
    try:
        current = None if tag is None else float(tag)
    except ValueError:
        current = None
    done = newest.status == "pending" and current is not None and newest.threshold == current
    kept = newest if done and _is_young(newest) else None
    if kept is not None:
        _set_status(settings, [kept.id], "confirmed")
    stale = [r.id for r in rows if r is not kept]
    if stale:
        _set_status(settings, stale, ABANDONED)
        log.warning("threshold changes %s were left pending; marked %s", stale, ABANDONED)


def _set_status(settings: Settings, event_ids: list[int], status: str) -> None:
    try:
        with Session(get_engine(settings)) as session, session.begin():
            session.execute(
                update(AliasEvent).where(AliasEvent.id.in_(event_ids)).values(status=status)
            )
    except SQLAlchemyError as exc:
        raise BackendError(f"settling alias events {event_ids}: {describe_error(exc)}") from exc
