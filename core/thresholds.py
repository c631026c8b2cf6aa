"""Decision thresholds: an ML lead changes a version's threshold, with a reason and a
history row (kind ``threshold``).

The threshold is the version's ``threshold`` tag (``core.registry``); the scoring path
reads it at every call, so a change decides from the next score, in the app and the CLI.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from mlflow.exceptions import MlflowException

from core.aliases import record_intent, settle_event
from core.auth import Action, Actor, require
from core.config import Settings
from core.db import AliasEvent
from core.db.locks import registry_lock
from core.db.text import safe_text
from core.errors import BackendError, InputError, WorkbenchError
from core.pending import settle_pending_thresholds
from core.registry import TAG_THRESHOLD, _wrap, get_version
from core.tracking import get_client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThresholdChange:
    """A version's threshold changed by :func:`set_threshold` (history row ``event_id``)."""

    model_name: str
    version: int
    old_threshold: float | None
    threshold: float
    event_id: int


def check_reason(reason: str) -> str:
    """A reason for the history: non-empty after stripping; returned stripped.

    Raises:
        InputError: it is empty or not text.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise InputError("a reason is required (say why, for the history)")
    return reason.strip()


def check_threshold_value(value: object) -> float:
    """A usable threshold: a finite number strictly between 0 and 1.

    Raises:
        InputError: it is not a number, not finite, or not in (0, 1).
    """
    if isinstance(value, bool):
        raise InputError(f"threshold {value!r} is not a number")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"threshold {value!r} is not a number") from None
    if not math.isfinite(number) or not 0.0 < number < 1.0:
        raise InputError(f"threshold {value!r} must be a number strictly between 0 and 1")
    return number


def set_threshold(
    settings: Settings, *, version: int, value: float, reason: str, actor: Actor
) -> ThresholdChange:
    """Set a version's decision threshold (its ``threshold`` tag) and record the change.

    The scoring path reads the tag at every call, so decisions change from the next
    score, in the app and the CLI. The history row (kind ``threshold``) is written first
    as ``pending``, then the tag, then the row is confirmed; if the confirmation fails
    the old tag is put back, unless someone changed it meanwhile. Rows of the version
    left ``pending`` by a process that died are settled first
    (:func:`core.pending.settle_pending_thresholds`).

    Args:
        settings: which registered model, registry and app database.
        version: the version whose threshold changes.
        value: the new threshold, strictly between 0 and 1.
        reason: why; required.
        actor: who; must be allowed to change thresholds.

    Returns:
        The change, with the old threshold (None when it had no valid one).

    Raises:
        PermissionDenied: the actor may not change thresholds.
        InputError: no reason, or the value is not a finite number in (0, 1).
        NotFoundError: no such version.
        BackendError: the registry or the app database failed (the tag is unchanged).
    """
    require(actor, Action.SET_THRESHOLD)
    reason = check_reason(reason)
    number = check_threshold_value(value)
    with registry_lock(settings, settings.model_name, f"version {version}", "threshold"):
        info = get_version(settings, version, with_metrics=False)
        old_tag = info.tags.get(TAG_THRESHOLD)
        # earlier intents a dead process left pending: settled from the tag as it is now
        settle_pending_thresholds(settings, version=version, tag=old_tag)
        intent = AliasEvent(
            model_name=settings.model_name,
            alias=None,
            from_version=None,
            to_version=version,
            kind="threshold",
            role=str(actor.role),
            threshold=number,
            old_threshold=info.threshold,
            actor=safe_text(actor.name, 128),
            reason=safe_text(reason, 2000),
            status="pending",
        )
        record_intent(settings, intent, action="recording the threshold change")
        _write_threshold_tag(settings, version, new=repr(number), old=old_tag, event_id=intent.id)
    log.info("%s v%s threshold %s -> %s by %s", info.name, version, old_tag, number, actor)
    return ThresholdChange(
        model_name=settings.model_name,
        version=version,
        old_threshold=info.threshold,
        threshold=number,
        event_id=intent.id,
    )


def _read_tag(settings: Settings, version: int) -> str | None:
    """The version's threshold tag now; raises WorkbenchError when it cannot be read."""
    return get_version(settings, version, with_metrics=False).tags.get(TAG_THRESHOLD)


def _write_threshold_tag(
    settings: Settings, version: int, *, new: str, old: str | None, event_id: int
) -> None:
    """Set the tag, then confirm the history row; settle or undo as set_alias does."""
    client = get_client(settings)
    name = settings.model_name
    try:
        client.set_model_version_tag(name, str(version), TAG_THRESHOLD, new)
    except Exception as exc:  # settle from what the tag is now
        try:
            written = _read_tag(settings, version) == new
        except WorkbenchError:
            raise _tag_error(settings, version, exc) from exc  # unknown: the row stays pending
        settle_event(settings, event_id, "confirmed" if written else "failed")
        if written:
            return
        raise _tag_error(settings, version, exc) from exc
    try:
        settle_event(settings, event_id, "confirmed", strict=True)
    except BackendError as exc:
        if not _undo_tag(settings, version, new=new, old=old):
            raise
        settle_event(settings, event_id, "failed")
        raise BackendError(f"{exc}; the threshold was put back ({old or 'no tag'})") from exc


def _undo_tag(settings: Settings, version: int, *, new: str, old: str | None) -> bool:
    """Put the old threshold tag back unless someone changed it since; whether it was."""
    client = get_client(settings)
    try:
        if _read_tag(settings, version) != new:
            log.error("the threshold of version %s changed meanwhile; not putting it back", version)
            return False
        if old is None:
            client.delete_model_version_tag(settings.model_name, str(version), TAG_THRESHOLD)
        else:
            client.set_model_version_tag(settings.model_name, str(version), TAG_THRESHOLD, old)
    except Exception as exc:  # registry errors of any kind: the row stays pending
        log.error("putting the threshold of version %s back failed: %s", version, exc)
        return False
    return True


def _tag_error(settings: Settings, version: int, exc: Exception) -> WorkbenchError:
    if isinstance(exc, MlflowException):
        return _wrap(settings, f"setting the threshold of version {version}", exc)
    return BackendError(f"setting the threshold of version {version} failed: {exc}")
