"""Adopting spooled records that no database will take, into the configured one.

A record belongs to the database it was meant for (``core.audit.spool``), so two kinds wait
for ever unless someone decides otherwise: records spooled before records named their
database (*untagged*), and records meant for a database that will never come back. Adopting
is that decision, made explicitly for the records a user names: :func:`list_adoptable`
shows them and writes nothing; :func:`adopt_spooled` re-tags them for the configured app
database and replays, under the replay lock. Nothing here runs on its own.

Idempotent: a record is written by its event uid and its chunks (``core.audit.writer``), so
one adopted twice (a copy of its file, a second run) is stored once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.audit.replay import _replay, _replay_lock
from core.audit.spool import (
    DatabaseTag,
    SpooledRecord,
    _describe,
    _read_reason,
    _set_aside,
    current_database,
    failed_dir,
    is_untagged,
    retag,
    spool_dir,
)
from core.auth import Action, Actor, require
from core.config import Settings
from core.db import describe_error
from core.errors import BackendError, InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Adoption:
    """The records chosen for adoption and, once adopted, where each ended up.

    ``stored``: in the app database now (written, or found there already: never twice);
    ``set_aside``: refused by the database for their content, with the reason (as with
    replay); ``waiting``: adopted but still in the spool (the database went away midway;
    they are written, into this database, by the next replay).
    """

    database: str
    records: list[SpooledRecord]
    adopted: bool = False
    stored: list[SpooledRecord] = field(default_factory=list)
    set_aside: list[SpooledRecord] = field(default_factory=list)
    waiting: list[SpooledRecord] = field(default_factory=list)


def list_adoptable(
    settings: Settings, *, untagged: bool = False, from_database: str | None = None
) -> Adoption:
    """The spooled records :func:`adopt_spooled` would write, without writing anything.

    Works while the app database is down (nothing is asked of it).

    Args:
        settings: the home (spool) and the app database the records would go to.
        untagged: choose the records spooled before records named their database.
        from_database: choose the records meant for this database: its id, or, for a
            record spooled before that id was known, its address as shown
            (``SpooledRecord.database_key``).

    Raises:
        InputError: neither ``untagged`` nor ``from_database`` was given.
    """
    database = current_database(settings, contact=False)
    chosen = _choose(settings, database, untagged=untagged, from_database=from_database)
    return Adoption(database=database.label, records=[record for _path, record, _tag in chosen])


def adopt_spooled(
    settings: Settings,
    *,
    untagged: bool = False,
    from_database: str | None = None,
    actor: Actor,
) -> Adoption:
    """Write the chosen spooled records into the configured app database.

    Under the replay lock: the app database is reached first (nothing changes if it
    cannot be), the chosen records are re-tagged for it, then the spool is replayed,
    which writes them, in spool order, with any record already waiting for it.

    Args: as :func:`list_adoptable`, and ``actor``: who adopts (``ml_lead``).

    Returns:
        What was chosen and where each record ended up.

    Raises:
        PermissionDenied: the actor may not adopt audit records (nothing changes).
        InputError: neither ``untagged`` nor ``from_database`` was given.
        BackendError: the app database cannot be reached (nothing adopted), or went away
            midway (the adopted records wait for it in the spool; the message says so).
    """
    require(actor, Action.MANAGE_AUDIT)
    try:
        with _replay_lock(settings, wait=True):
            try:
                database = current_database(settings, contact=True)
            except Exception as exc:
                # the reason names the database already
                raise BackendError(f"no record was adopted: {describe_error(exc)}") from exc
            chosen = _choose(settings, database, untagged=untagged, from_database=from_database)
            for path, record, tag in chosen:
                try:
                    retag(path, database, adopted_from=tag)
                except OSError:
                    raise
                except Exception as exc:  # unreadable: it cannot get better by waiting
                    _set_aside(settings, path, f"unreadable spool file: {describe_error(exc)}")
                    continue
                log.info(
                    "audit record %s (meant for %s) adopted by %s",
                    record.event_uid,
                    record.database,
                    database.label,
                )
            if chosen:
                try:
                    _replay(settings, force_sweep=True)
                except BackendError as exc:
                    raise BackendError(
                        f"{len(chosen)} record(s) adopted for {database.label} wait in the "
                        f"spool: {exc}; the next replay writes them there"
                    ) from exc
    except OSError as exc:  # the spool folder itself (permissions, a full disk)
        raise BackendError(f"the audit spool {spool_dir(settings)} cannot be used: {exc}") from exc
    return _outcome(settings, database, [record for _path, record, _tag in chosen])


def _choose(
    settings: Settings,
    database: DatabaseTag,
    *,
    untagged: bool,
    from_database: str | None,
) -> list[tuple[Path, SpooledRecord, DatabaseTag]]:
    """The spool files (not the set-aside ones) the user named, in spool order; never one
    the configured database already owns (replay writes those)."""
    if not untagged and not from_database:
        raise InputError(
            "name the records to adopt: the untagged ones, or those of one database (its id, "
            "or the address shown for records that carry no id)"
        )
    folder = spool_dir(settings)
    chosen = []
    for path in sorted(folder.glob("*.parquet")) if folder.exists() else []:
        try:
            record, tag = _describe(path)
        except Exception:  # gone since the listing, or unreadable: replay sets those aside
            continue
        wanted = untagged if is_untagged(tag) else from_database == record.database_key
        if wanted and not database.owns(tag):
            chosen.append((path, record, tag))
    return chosen


def _outcome(settings: Settings, database: DatabaseTag, records: list[SpooledRecord]) -> Adoption:
    done = Adoption(database=database.label, records=records, adopted=True)
    for record in records:
        if (spool_dir(settings) / record.file).exists():
            done.waiting.append(record)
        elif (failed_dir(settings) / record.file).exists():
            reason = _read_reason(failed_dir(settings) / record.file)
            done.set_aside.append(replace(record, reason=reason))
        else:
            done.stored.append(record)
    return done
