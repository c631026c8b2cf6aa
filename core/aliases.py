"""Moving an alias, with its history: who moved it, from which version, to which, and why.

MLflow's alias row holds only name, alias and version; ``alias_events`` in the app
database keeps the history. The history row and the registry move succeed or fail
together (see :func:`set_alias`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from mlflow.exceptions import MlflowException
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.auth import Action, Actor, require
from core.config import Settings
from core.db import AliasEvent, get_engine
from core.db.locks import registry_lock
from core.db.text import safe_text
from core.errors import BackendError, InputError, WorkbenchError
from core.registry import _wrap, get_alias_version, get_version
from core.tracking import get_client

log = logging.getLogger(__name__)

FIRST_REASON = "first model: live alias was unset"
"""The reason recorded when training sets an unset live alias (kind ``first``)."""

ALIAS_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""What an alias name may be: letters, digits, ``_`` and ``-``; 1 to 128 of them."""
_RESERVED = re.compile(r"latest|v\d+", re.IGNORECASE)
"""Names MLflow reserves: ``latest`` and ``v<number>`` resolve to versions, not aliases."""


def check_alias_name(alias: object) -> str:
    """An alias name that MLflow takes and means as an alias; returned unchanged.

    Checked before anything is read or written, so a bad name leaves no history row.

    Args:
        alias: the proposed name.

    Returns:
        The name.

    Raises:
        InputError: it is not 1-128 letters, digits, ``_`` or ``-``; or it is ``latest``
            or ``v`` followed by digits, which MLflow reserves.
    """
    if not isinstance(alias, str) or not ALIAS_PATTERN.fullmatch(alias):
        raise InputError(
            f"alias {alias!r} is not a valid name: use 1 to 128 letters, digits, '_' or '-'"
        )
    if _RESERVED.fullmatch(alias):
        raise InputError(
            f"alias {alias!r} is reserved by MLflow ('latest' and 'v' followed by digits "
            "name versions); choose another name"
        )
    return alias


@dataclass(frozen=True)
class AliasMove:
    """A confirmed alias move and its history row."""

    alias: str
    from_version: int | None
    to_version: int
    threshold: float | None
    event_id: int


def set_alias(
    settings: Settings,
    *,
    version: int,
    alias: str | None = None,
    actor: Actor,
    reason: str,
    kind: str,
) -> int | None:
    """Point ``alias`` (default: the live alias) at ``version`` and record the move.

    No gates: :func:`core.lifecycle.promote` is the gated move for people. This one holds
    the alias's lock (``core.db.locks``) around :func:`move_alias`.

    Args:
        kind: what the history calls the move (e.g. ``first`` when training sets an unset
            live alias); required, so an ungated move never passes for a promotion.

    Returns:
        The version the alias pointed at before, or None.

    Raises:
        PermissionDenied: the actor may not move aliases (nothing is written).
        InputError: a bad alias name (nothing is written).
        NotFoundError: no such version.
        BackendError: the registry or the app database failed (nothing moved).
    """
    require(actor, Action.MOVE_ALIAS)
    alias = check_alias_name(settings.live_alias if alias is None else alias)
    with registry_lock(settings, settings.model_name, alias):
        move = move_alias(
            settings, version=version, alias=alias, actor=actor, reason=reason, kind=kind
        )
    return move.from_version


def move_alias(
    settings: Settings,
    *,
    version: int,
    alias: str,
    actor: Actor,
    reason: str,
    kind: str,
    gates: list[dict[str, Any]] | None = None,
) -> AliasMove:
    """Move ``alias`` to ``version`` with its history row; the caller holds the alias's lock.

    The history row and the registry move succeed or fail together: the intent is
    written first (``pending``), then the alias moves, then the row is confirmed. If the
    move raises, the alias is read again and the row settled from what it is (a registry
    may apply a move and fail to answer); if the confirmation fails the alias is moved
    back, unless someone moved it meanwhile, and the row marked ``failed`` where the
    database still takes that write. A ``pending`` row is left behind when the
    outcome cannot be read, or when the process dies between the move and the
    confirmation; it names the intended move, and the registry holds the truth.

    Args:
        kind: what the history calls the move (first, promote, override, rollback).
        gates: the gate results that allowed it, as stored (``GateResult.as_json``).

    Returns:
        The move, with the version the alias pointed at before and the history row's id.

    Raises:
        PermissionDenied: the actor may not move aliases (nothing is written).
        InputError: a bad alias name (nothing is written).
        NotFoundError: no such version.
        BackendError: the registry or the app database failed (nothing moved).
    """
    require(actor, Action.MOVE_ALIAS)
    alias = check_alias_name(alias)
    # NotFoundError before anything moves; the threshold is recorded with the move
    info = get_version(settings, version, with_metrics=False)
    previous = get_alias_version(settings, alias)
    intent = AliasEvent(
        model_name=settings.model_name,
        alias=alias,
        from_version=previous,
        to_version=version,
        status="pending",
        kind=kind,
        role=str(actor.role),
        threshold=info.threshold,
        gates=gates,
        actor=safe_text(actor.name, 128),
        reason=safe_text(reason, 2000),
    )
    record_intent(settings, intent, action="recording the alias move")
    done = AliasMove(
        alias=alias,
        from_version=previous,
        to_version=version,
        threshold=info.threshold,
        event_id=intent.id,
    )
    client = get_client(settings)
    try:
        client.set_registered_model_alias(settings.model_name, alias, str(version))
    except Exception as exc:  # settle the intent from what the alias is now
        # A registry can apply a move and still fail to answer (a timeout, a 5xx): the
        # history follows the alias as it is, not the exception.
        now = _current_version(settings, alias)
        if now == version:
            settle_event(settings, intent.id, "confirmed")
            log.warning(
                "%s@%s moved to %s although the registry said: %s",
                settings.model_name,
                alias,
                now,
                exc,
            )
            return done
        if now != _UNKNOWN:
            settle_event(settings, intent.id, "failed")
        if isinstance(exc, MlflowException):
            raise _wrap(settings, f"setting {alias} to version {version}", exc) from exc
        raise BackendError(f"setting {alias} to version {version} failed: {exc}") from exc
    try:
        settle_event(settings, intent.id, "confirmed", strict=True)
    except BackendError as exc:
        if not _undo_alias_move(settings, alias, previous, moved_to=version):
            raise
        # The move did not stick: the history says so, where the database still lets it.
        settle_event(settings, intent.id, "failed")
        back = "unset" if previous is None else f"version {previous}"
        raise BackendError(f"{exc}; {alias} was moved back ({back})") from exc
    log.info("%s@%s: %s -> %s by %s", settings.model_name, alias, previous, version, actor)
    return done


_UNKNOWN = -1


def _current_version(settings: Settings, alias: str) -> int | None:
    """The version ``alias`` points at now, None when unset, ``_UNKNOWN`` when unreadable."""
    try:
        return get_alias_version(settings, alias)
    except WorkbenchError:
        return _UNKNOWN


def _alias_history(settings: Settings, action: str, work: Any) -> None:
    """Run ``work(session)`` in one transaction on the app database, as a BackendError."""
    try:
        with Session(get_engine(settings), expire_on_commit=False) as session, session.begin():
            work(session)
    except SQLAlchemyError as exc:
        raise BackendError(
            f"{action}: app database failed: {str(exc).splitlines()[0][:300]}"
        ) from exc


def record_intent(settings: Settings, event: AliasEvent, *, action: str) -> None:
    """Write a history row (usually ``pending``) in its own transaction; ``event.id`` is
    set afterwards.

    Raises:
        BackendError: the app database failed (``action`` says what was being done).
    """
    _alias_history(settings, action, lambda s: s.add(event))


def settle_event(settings: Settings, event_id: int, status: str, *, strict: bool = False) -> None:
    """Mark a history row confirmed or failed.

    Raises:
        BackendError: only with ``strict``, when the app database failed (otherwise the
            row stays pending and the failure is logged).
    """

    def settle(session: Session) -> None:
        session.execute(update(AliasEvent).where(AliasEvent.id == event_id).values(status=status))

    try:
        _alias_history(settings, f"marking the alias move {status}", settle)
    except BackendError as exc:
        if strict:
            raise
        log.error("alias event %s stays pending (should be %s): %s", event_id, status, exc)


def _undo_alias_move(
    settings: Settings, alias: str, previous: int | None, *, moved_to: int
) -> bool:
    """Move ``alias`` back to ``previous``, unless someone has moved it since.

    Returns:
        Whether it was moved back.
    """
    if _current_version(settings, alias) != moved_to:
        log.error("%s@%s was moved again meanwhile; not moving it back", settings.model_name, alias)
        return False
    client = get_client(settings)
    try:
        if previous is None:
            client.delete_registered_model_alias(settings.model_name, alias)
        else:
            client.set_registered_model_alias(settings.model_name, alias, str(previous))
    except Exception as exc:
        log.error(
            "%s@%s moved but its history could not be confirmed, and moving it back to %s "
            "failed too (%s): the history row stays pending",
            settings.model_name,
            alias,
            previous,
            exc,
        )
        return False
    return True


def ensure_alias(settings: Settings, *, version: int, actor: Actor) -> str | None:
    """Set the live alias to ``version`` if it is unset; return the alias if it was set.

    Raises:
        BackendError: the registry or the app database failed (nothing moved).
    """
    if get_alias_version(settings, settings.live_alias) is not None:
        return None
    set_alias(
        settings,
        version=version,
        actor=actor,
        reason=FIRST_REASON,
        kind="first",
    )
    return settings.live_alias
