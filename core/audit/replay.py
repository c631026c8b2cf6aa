"""Replaying the spool: in order, once, into the right database, without crashing.

One replayer at a time across processes (a file lock next to the spool); each record is
written chunk by chunk, resuming after what the database already holds. A record the
database refuses for its content is set aside with its reason; one meant for another
database stays where it is. Only a database that cannot be used stops a replay, and that
is a ``BackendError``, never a driver traceback.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from core.audit.spool import (
    REPLAY_WAIT,
    SpooledRecord,
    SpoolStatus,
    _describe,
    _read_chunks,
    _read_reason,
    _read_tag,
    _reason_path,
    _set_aside,
    current_database,
    failed_dir,
    spool_dir,
)
from core.audit.writer import mark_interrupted, sweep_interrupted, write_event
from core.auth import Action, Actor, require
from core.config import Settings
from core.db import classify_error, describe_error, get_engine
from core.errors import BackendError

log = logging.getLogger(__name__)


@contextmanager
def _replay_lock(settings: Settings, *, wait: bool) -> Iterator[bool]:
    """Hold the spool's replay lock; yields False when ``wait`` is off and it is taken."""
    folder = spool_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / ".replay.lock")
    try:
        lock.acquire(timeout=REPLAY_WAIT if wait else 0)
    except Timeout:
        if wait:
            raise BackendError(
                f"another process has been replaying the audit spool for {REPLAY_WAIT:.0f} s; "
                "try again when it is done"
            ) from None
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def replay_spool(settings: Settings, *, actor: Actor) -> int:
    """Replay the spool now, on a person's request (``ml_lead``): see :func:`flush_spool`.

    Raises:
        PermissionDenied: the actor may not replay audit records.
        BackendError: the database cannot be used (the rest stays spooled).
    """
    require(actor, Action.MANAGE_AUDIT)
    return flush_spool(settings, wait=True)


def flush_spool(settings: Settings, *, wait: bool = True) -> int:
    """Write spooled records meant for the configured database, in the order made.

    Every audit stream calls this before its own record (so records keep their order);
    people ask for it through :func:`replay_spool`.

    A record already stored is dropped from the spool; a partly stored one is completed.
    A record the database refuses for its content is set aside in ``spool/failed/`` with
    its reason and does not block the records behind it. A record meant for another
    database is left where it is (see :func:`spool_status`).

    Args:
        settings: the app database and the home folder.
        wait: wait for another replayer (else return 0 at once if one is running).

    Returns:
        How many records were written.

    Raises:
        BackendError: the database cannot be used (the rest stays spooled).
    """
    folder = spool_dir(settings)
    try:
        if not folder.exists() or not any(folder.glob("*.parquet")):
            return 0
        with _replay_lock(settings, wait=wait) as held:
            return _replay(settings, force_sweep=wait) if held else 0
    except OSError as exc:  # the spool folder itself (permissions, a full disk)
        raise BackendError(f"the audit spool {folder} cannot be used: {exc}") from exc


def _replay(settings: Settings, *, force_sweep: bool) -> int:
    try:
        database = current_database(settings, contact=True)
        engine = get_engine(settings)
        sweep_interrupted(settings, force=force_sweep)
    except Exception as exc:
        raise BackendError(f"audit database still unreachable: {describe_error(exc)}") from exc
    written = 0
    for path in sorted(spool_dir(settings).glob("*.parquet")):
        try:
            event, tag, _rows = _read_tag(path)
            if not database.owns(tag):
                continue
            chunks = _read_chunks(path)
        except FileNotFoundError:
            continue  # gone since the listing: nothing to do
        except Exception as exc:  # an unreadable file cannot get better by waiting
            _set_aside(settings, path, f"unreadable spool file: {describe_error(exc)}")
            continue
        try:
            stored = write_event(engine, event, chunks)
        except Exception as exc:
            if classify_error(exc) == "connection":
                raise BackendError(
                    f"audit database still unreachable: {describe_error(exc)}"
                ) from exc
            mark_interrupted(settings, event.event_uid)
            _set_aside(settings, path, describe_error(exc))
            continue
        if stored:
            written += 1
        else:
            log.info("spooled event %s was already stored; dropping it", event.event_uid)
        path.unlink(missing_ok=True)
    return written


def retry_failed(settings: Settings, *, actor: Actor) -> int:
    """Move every set-aside record back into the spool and replay (``ml_lead``).

    Returns:
        How many records were written (a record refused again is set aside again, with
        the new reason).

    Raises:
        PermissionDenied: the actor may not retry audit records.
        BackendError: the database cannot be used (the records wait in the spool).
    """
    require(actor, Action.MANAGE_AUDIT)
    folder = failed_dir(settings)
    if not folder.exists():
        return 0
    with _replay_lock(settings, wait=True):
        for path in sorted(folder.glob("*.parquet")):
            _reason_path(path).unlink(missing_ok=True)
            os.replace(path, spool_dir(settings) / path.name)
    return flush_spool(settings)


def spool_status(settings: Settings) -> SpoolStatus:
    """What waits for the configured database, what waits for another, and what was set
    aside (each with its reason). Never raises for an unreachable database.
    """
    try:
        database = current_database(settings, contact=True)
        reachable = True
    except Exception:  # status must work while the database is down
        database = current_database(settings, contact=False)
        reachable = False
    status = SpoolStatus(database=database.label, database_reachable=reachable)
    folder = spool_dir(settings)
    for path in sorted(folder.glob("*.parquet")) if folder.exists() else []:
        try:
            record, tag = _describe(path)
        except FileNotFoundError:
            continue
        except Exception as exc:
            status.waiting.append(_unreadable(path, exc))
            continue
        (status.waiting if database.owns(tag) else status.other_database).append(record)
    failed = failed_dir(settings)
    for path in sorted(failed.glob("*.parquet")) if failed.exists() else []:
        try:
            status.set_aside.append(_describe(path, reason=_read_reason(path))[0])
        except FileNotFoundError:
            continue
        except Exception as exc:
            status.set_aside.append(_unreadable(path, exc, reason=_read_reason(path)))
    return status


def _unreadable(path: Path, exc: Exception, *, reason: str | None = None) -> SpooledRecord:
    return SpooledRecord(
        file=path.name,
        event_uid="?",
        created_at="?",
        rows=0,
        database="?",
        reason=reason or f"unreadable spool file: {describe_error(exc)}",
    )
