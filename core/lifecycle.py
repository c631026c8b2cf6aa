"""The model lifecycle an ML lead drives: promote through gates, roll back, change a threshold.

Every action here takes the acting :class:`~core.auth.Actor`, checks the role first, needs
a reason, and leaves one history row (``core.history``) written the way
``core.aliases.move_alias`` writes it: the intent first, then the registry change, then
the confirmation. Moves are compare-and-set under a lock per registered model and alias
(``core.db.locks``): a lead names the version they saw the alias at, and if it moved
meanwhile the action is refused (:class:`~core.errors.StaleAliasError`, exit code 3)
instead of overwriting someone else's move.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Final

from core.aliases import check_alias_name, move_alias
from core.auth import Action, Actor, require
from core.compare import Evaluation
from core.config import Settings
from core.db.locks import registry_lock
from core.errors import (
    GateFailed,
    InputError,
    NotFoundError,
    StaleAliasError,
)
from core.gates import GateResult, check_artifact, check_threshold, run_gates
from core.history import HistoryRow, last_move, sync_alias_history
from core.registry import get_alias_version, get_version
from core.thresholds import ThresholdChange, check_reason, set_threshold

__all__ = [
    "UNSET",
    "MoveResult",
    "PromoteResult",
    "RollbackResult",
    "ThresholdChange",
    "promote",
    "rollback",
    "set_threshold",
]

log = logging.getLogger(__name__)


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
"""``expected`` not given: the move is not compare-and-set (the CLI without --expected)."""


@dataclass(frozen=True)
class MoveResult:
    """An alias move made by :func:`promote` or :func:`rollback`.

    Attributes:
        kind: ``promote``, ``override`` (gates failed, forced) or ``rollback``.
        threshold: the new version's threshold at the move (None when it has none).
        gates: every gate's result, as recorded in the history row ``event_id``.
    """

    model_name: str
    alias: str
    from_version: int | None
    to_version: int
    kind: str
    threshold: float | None
    gates: tuple[GateResult, ...]
    event_id: int


PromoteResult = MoveResult
RollbackResult = MoveResult


def _version_text(version: int | None) -> str:
    return "unset" if version is None else f"version {version}"


def _stale(settings: Settings, alias: str, *, now: int | None, expected: str) -> StaleAliasError:
    """A compare-and-set refusal naming who moved the alias last, and when."""
    last = last_move(settings, alias)
    if last is not None and last.to_version == now:
        who = (
            f"moved by {last.actor} ({last.kind}, {last.time:%Y-%m-%d %H:%M:%S} UTC, "
            f"history row {last.id})"
        )
    else:
        who = "moved outside the workbench; it is not in the history yet"
    return StaleAliasError(
        f"{settings.model_name}@{alias} is at {_version_text(now)}, not {expected} as you "
        f"saw it: {who}. Nothing was moved; look again and retry"
    )


def promote(
    settings: Settings,
    *,
    version: int,
    alias: str,
    reason: str,
    actor: Actor,
    expected: int | _Unset | None = UNSET,
    force: bool = False,
    evaluation: Evaluation | None = None,
) -> MoveResult:
    """Move ``alias`` to ``version`` if it passes the gates (``core.gates``).

    Under the alias's lock: moves made outside the workbench are recorded first, the
    alias is compared with ``expected``, the gates run, then the alias moves with its
    history row (kind ``promote``, or ``override`` when ``force`` moved it past failed
    gates; the gate results are stored either way).

    Args:
        settings: which registered model, registry and app database.
        version: the version to promote.
        alias: the alias to move (``champion``, ``challenger``, ...).
        reason: why; required.
        actor: who; must be allowed to move aliases.
        expected: the version the lead saw the alias at (None: unset); omitted, the
            alias is not compared.
        force: move even when gates fail (recorded as ``override``).
        evaluation: the rows to judge both versions on (``core.compare.load_evaluation``,
            e.g. a labelled CSV with its sampling fraction). Both AUPRCs (weighted to the
            natural prevalence) and the leakage check are computed here, under the lock;
            by default on the current version's test split, or the candidate's when the
            current version has none.

    Returns:
        The move, with every gate's result.

    Raises:
        PermissionDenied: the actor may not move aliases (nothing is read or written).
        InputError: no reason, a bad alias name, or the alias already points at ``version``.
        TypeError: ``evaluation`` is not an :class:`~core.compare.Evaluation`.
        NotFoundError: no such version.
        StaleAliasError: the alias is not at ``expected`` (nothing moves).
        GateFailed: a gate failed and ``force`` is off (nothing moves).
        BackendError: the registry, artifact store or app database failed.
    """
    require(actor, Action.MOVE_ALIAS)
    reason = check_reason(reason)
    alias = check_alias_name(alias)
    if evaluation is not None and not isinstance(evaluation, Evaluation):
        # ready-made AUPRCs are not taken on trust: core computes them from the rows
        raise TypeError(
            f"evaluation must be the rows (core.compare.Evaluation), not {type(evaluation)}"
        )
    with registry_lock(settings, settings.model_name, alias):
        sync_alias_history(settings, alias=alias, settle_pending=True)
        candidate = get_version(settings, version, with_metrics=False)
        now = get_alias_version(settings, alias)
        if expected is not UNSET and now != expected:
            raise _stale(settings, alias, now=now, expected=_version_text(expected))
        if now == version:
            raise InputError(f"{settings.model_name}@{alias} already points at version {version}")
        current = None if now is None else get_version(settings, now, with_metrics=False)
        gates = run_gates(
            settings,
            candidate=candidate,
            current=current,
            evaluation=evaluation,
            tolerance=settings.promote_auprc_tolerance,
        )
        failed = [g for g in gates if not g.passed]
        if failed and not force:
            raise GateFailed(
                f"version {version} was not promoted to {alias}: "
                + "; ".join(f"{g.name} gate failed: {g.detail}" for g in failed)
                + ". An ML lead may override with --force and a reason",
                results=tuple(gates),
            )
        kind = "override" if failed else "promote"
        move = move_alias(
            settings,
            version=version,
            alias=alias,
            actor=actor,
            reason=reason,
            kind=kind,
            gates=[g.as_json() for g in gates],
        )
    return MoveResult(
        model_name=settings.model_name,
        alias=alias,
        from_version=move.from_version,
        to_version=version,
        kind=kind,
        threshold=move.threshold,
        gates=tuple(gates),
        event_id=move.event_id,
    )


def rollback(
    settings: Settings,
    *,
    alias: str,
    reason: str,
    actor: Actor,
    expected_event: int | None = None,
) -> MoveResult:
    """Return ``alias`` to the version it pointed at before its last confirmed move.

    From our history, not "version minus one"; a rollback is itself a move (kind
    ``rollback``), so a second rollback undoes the first. The version is first checked
    to exist, load, match the schema and have a threshold.

    Args:
        settings: which registered model, registry and app database.
        alias: the alias to roll back.
        reason: why; required.
        actor: who; must be allowed to move aliases.
        expected_event: the history row id the lead saw as the alias's last move;
            another last move refuses the rollback.

    Returns:
        The move.

    Raises:
        PermissionDenied: the actor may not move aliases.
        InputError: no reason; a bad alias name; no history for the alias; or it was
            unset before.
        NotFoundError: the version to return to no longer exists.
        StaleAliasError: the last move is not ``expected_event``, or the alias moved.
        GateFailed: the version to return to does not load, or has no threshold.
        BackendError: the registry, artifact store or app database failed.
    """
    require(actor, Action.MOVE_ALIAS)
    reason = check_reason(reason)
    alias = check_alias_name(alias)
    with registry_lock(settings, settings.model_name, alias):
        sync_alias_history(settings, alias=alias, settle_pending=True)
        last = last_move(settings, alias)
        if last is None:
            raise InputError(
                f"{settings.model_name}@{alias} has no history to roll back (no confirmed move)"
            )
        now = get_alias_version(settings, alias)
        if (expected_event is not None and last.id != expected_event) or now != last.to_version:
            raise _stale(settings, alias, now=now, expected=_seen(expected_event, last))
        target = last.from_version
        if target is None:
            raise InputError(
                f"before its last move ({_describe(last)}) {settings.model_name}@{alias} was "
                "unset; a rollback would remove it. Promote the version you want instead"
            )
        try:
            info = get_version(settings, target, with_metrics=False)
        except NotFoundError as exc:
            raise NotFoundError(
                f"cannot roll {alias} back to version {target}: it no longer exists ({exc})"
            ) from exc
        gates = [*check_artifact(settings, info), check_threshold(info)]
        failed = [g for g in gates if not g.passed]
        if failed:
            raise GateFailed(
                f"{alias} was not rolled back to version {target}: "
                + "; ".join(f"{g.name}: {g.detail}" for g in failed)
                + ". Promote another version, or this one with --force",
                results=tuple(gates),
            )
        move = move_alias(
            settings,
            version=target,
            alias=alias,
            actor=actor,
            reason=reason,
            kind="rollback",
            gates=[g.as_json() for g in gates],
        )
    return MoveResult(
        model_name=settings.model_name,
        alias=alias,
        from_version=move.from_version,
        to_version=target,
        kind="rollback",
        threshold=move.threshold,
        gates=tuple(gates),
        event_id=move.event_id,
    )


def _describe(row: HistoryRow) -> str:
    return (
        f"{row.kind} {_version_text(row.from_version)} -> {_version_text(row.to_version)} "
        f"by {row.actor} at {row.time:%Y-%m-%d %H:%M:%S} UTC"
    )


def _seen(expected_event: int | None, last: HistoryRow) -> str:
    if expected_event is None:
        return f"{_version_text(last.to_version)} (its last move in the history)"
    return f"where history row {expected_event} left it"
