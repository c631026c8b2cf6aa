"""Locks across processes for the registry changes the app database keeps a history of.

A promotion reads the alias, checks it against what the lead saw, runs its gates, moves
the alias and records the move. Two of those on the same alias must not interleave, or
both would pass the check and the history would claim two moves from the same version.
:func:`registry_lock` serialises them per key (a registered model and an alias, or a
version): on PostgreSQL a transaction-level advisory lock, held by a connection of its own
until the block ends (a crashed process releases it with its connection); on SQLite a
file lock beside the database file, as the migrations do (``core.db.engine``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings
from core.db.engine import database_label, get_engine, hold_file_lock
from core.db.errors import describe_error
from core.errors import BackendError

LOCK_WAIT = 120.0
"""Seconds a process waits for another one's promotion (its gates load two models)."""


def lock_key(*parts: str) -> int:
    """A signed 64-bit advisory-lock key for ``parts`` (sha256, first 8 bytes).

    Prefixed so it never equals the migrations' key (``core.db.engine``).
    """
    digest = hashlib.sha256("\0".join(("fraud-workbench registry", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def registry_lock(settings: Settings, *parts: str, wait: float = LOCK_WAIT) -> Iterator[None]:
    """Hold the lock named by ``parts`` (e.g. model name and alias) for the block.

    Args:
        settings: which app database holds the lock.
        parts: what is locked; the same parts name the same lock in every process.
        wait: seconds to wait for another holder before giving up.

    Raises:
        BackendError: the database cannot be reached, or another process held the lock
            for ``wait`` seconds.
    """
    engine = get_engine(settings)
    key = lock_key(*parts)
    what = "/".join(parts)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":  # one process only: nothing to share
            yield
            return
        with hold_file_lock(
            f"{database}.registry-{key & 0xFFFFFFFFFFFFFFFF:016x}.lock",
            wait=wait,
            busy=f"{what}: another process has held the lock for {wait:.0f} s; try again",
            failed=f"app database sqlite:{database}: lock failed",
        ):
            yield
        return
    try:
        connection = engine.connect()
    except SQLAlchemyError as exc:
        raise BackendError(
            f"app database {database_label(settings)} is not reachable: {describe_error(exc)}"
        ) from exc
    try:
        try:
            transaction = connection.begin()
            connection.execute(
                text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": f"{wait:.0f}s"}
            )
            # The transaction idles while the gates run; a server-wide
            # idle_in_transaction_session_timeout would end the session and silently drop
            # the lock. Off for this transaction only.
            connection.execute(
                text("SELECT set_config('idle_in_transaction_session_timeout', '0', true)")
            )
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        except SQLAlchemyError as exc:
            raise BackendError(
                f"{what}: the lock on app database {database_label(settings)} failed: "
                f"{describe_error(exc)}"
            ) from exc
        try:
            yield
        finally:
            # Ending the transaction releases the lock; a dead connection holds none.
            with suppress(SQLAlchemyError):
                transaction.rollback()
    finally:
        connection.close()
