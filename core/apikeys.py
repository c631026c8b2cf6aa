"""API keys for the REST sidecar: made, listed and revoked by ML leads; checked in memory.

A key is ``fwb_<key_id>_<secret>``: ``key_id`` is 8 lowercase hex characters, public (it
is shown by ``workbench api-key list`` and finds the key's row), and ``secret`` is 256
random bits (``secrets.token_urlsafe(32)``). The app database keeps the key id and the
SHA-256 of the whole text, never the text: a new key is shown once, to whoever made it.

A plain SHA-256, not bcrypt or argon2: those are made slow on purpose, for passwords
people choose, and would cost 50-100 ms per request. A 256-bit random secret cannot be
guessed, so a fast hash loses nothing. :class:`ApiKeyCache` holds the active keys in
memory and checks a presented key in microseconds: a dict lookup by key id, then
``hmac.compare_digest`` of the hashes (constant time on the secret). The sidecar reloads
it every few seconds, so a revoked key is refused within that interval.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from core.auth import Action, Actor, check_name, require
from core.config import Settings
from core.db import database_label, describe_error, get_engine
from core.db.models import ApiKey
from core.db.text import safe_text
from core.errors import BackendError, InputError, NotFoundError

log = logging.getLogger(__name__)

SCOPES = ("score", "admin")
"""What a key may be used for; ``admin`` implies ``score``."""
KEY_PREFIX = "fwb_"
NAME_LIMIT = 128
_KEY_PATTERN = re.compile(r"fwb_([0-9a-f]{8})_[A-Za-z0-9_-]{32,128}", re.ASCII)
"""What a presented key must look like before it is looked up at all."""
_ID_ATTEMPTS = 5  # a clash of two random 32-bit key ids is rare; several in a row, a bug

T = TypeVar("T")


@dataclass(frozen=True)
class ApiKeyInfo:
    """An API key as shown and checked: everything but the secret and its hash.

    Attributes:
        key_id: the public id, part of the key text, shown by ``list``.
        name: what the key is for, unique among active keys.
        scopes: what the key may be used for (see :data:`SCOPES`).
        created_at: when it was made (UTC).
        created_by: the ML lead who made it.
        revoked_at: when it was revoked (UTC), or None while active.
        revoked_by: who revoked it, or None while active.
    """

    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        """Whether the key may be used for ``scope`` (``admin`` implies ``score``)."""
        return scope in self.scopes or (scope == "score" and "admin" in self.scopes)

    def as_json(self) -> dict[str, Any]:
        """The key as JSON-ready values (times in ISO 8601); no secret, no hash."""
        return {
            "key_id": self.key_id,
            "name": self.name,
            "scopes": list(self.scopes),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revoked_by": self.revoked_by,
        }

    @classmethod
    def from_row(cls, row: Any) -> ApiKeyInfo:
        """From an ``api_keys`` row (an :class:`ApiKey` or a result row with its columns)."""
        return cls(
            key_id=row.key_id,
            name=row.name,
            scopes=_parse_scopes(row.scopes),
            created_at=_utc(row.created_at),
            created_by=row.created_by,
            revoked_at=None if row.revoked_at is None else _utc(row.revoked_at),
            revoked_by=row.revoked_by,
        )


@dataclass(frozen=True)
class NewApiKey:
    """A key just made: its description and the key text, which is never stored or shown
    again (kept out of ``repr`` so a logged object does not leak it)."""

    info: ApiKeyInfo
    key: str = field(repr=False)


def hash_key(key: str) -> str:
    """The SHA-256 (hex) of a key's text, as stored in ``api_keys.key_hash``."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def check_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    """Scopes a key may hold, in :data:`SCOPES` order, each once.

    Args:
        scopes: scope names (case and surrounding spaces ignored); a single string is one
            scope.

    Returns:
        The scopes.

    Raises:
        InputError: none is given, or one is not in :data:`SCOPES` (the message lists
            the valid ones).
    """
    given = [scopes] if isinstance(scopes, str) else list(scopes)
    wanted = {str(s).strip().lower() for s in given}
    unknown = sorted(s for s in wanted if s not in SCOPES)
    if unknown:
        raise InputError(
            f"unknown API key scope(s): {', '.join(map(repr, unknown))}; "
            f"valid scopes are: {', '.join(SCOPES)}"
        )
    if not wanted:
        raise InputError(f"an API key needs at least one scope: {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in wanted)


def _check_key_name(name: object) -> str:
    checked = check_name(name, what="API key name")
    if len(checked) > NAME_LIMIT:
        raise InputError(
            f"the API key name is {len(checked)} characters long; at most {NAME_LIMIT}"
        )
    return checked


def create_api_key(
    settings: Settings, *, name: str, scopes: Sequence[str] = ("score",), actor: Actor
) -> NewApiKey:
    """Make a new API key and store its hash; the key text is returned here only.

    Args:
        name: what the key is for (unique among active keys; at most 128 characters).
        scopes: what it may be used for (see :data:`SCOPES`).
        actor: who makes it; must be an ML lead.

    Returns:
        The key's description and its text.

    Raises:
        PermissionDenied: the actor may not manage API keys (nothing is written).
        InputError: a bad name or scope, or an active key already has this name.
        BackendError: the app database failed.
    """
    require(actor, Action.MANAGE_API_KEYS)
    name = _check_key_name(name)
    chosen = check_scopes(scopes)
    created_by = safe_text(actor.name, 128) or actor.name
    for _ in range(_ID_ATTEMPTS):
        key_id = secrets.token_hex(4)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        row = ApiKey(
            key_id=key_id,
            key_hash=hash_key(key),
            name=name,
            scopes=",".join(chosen),
            created_at=datetime.now(UTC),
            created_by=created_by,
        )
        try:
            _insert(settings, row)
        except IntegrityError as exc:
            if _exists(settings, ApiKey.name == name, ApiKey.revoked_at.is_(None)):
                raise InputError(
                    f"an active API key named {name!r} exists; revoke it first or choose "
                    "another name"
                ) from None
            if _exists(settings, ApiKey.key_id == key_id):
                continue  # the random key id was taken: draw another
            raise BackendError(
                f"creating an API key: app database refused it: {describe_error(exc)}"
            ) from exc
        info = ApiKeyInfo.from_row(row)
        log.info("API key %r (id %s, %s) created by %s", name, key_id, row.scopes, actor)
        return NewApiKey(info=info, key=key)
    raise BackendError(f"creating an API key: no unused key id in {_ID_ATTEMPTS} draws")


def list_api_keys(
    settings: Settings, *, actor: Actor, include_revoked: bool = True
) -> list[ApiKeyInfo]:
    """The API keys, oldest first; never their secrets or hashes.

    Args:
        actor: who asks; must be an ML lead.
        include_revoked: list revoked keys too.

    Returns:
        One description per key.

    Raises:
        PermissionDenied: the actor may not manage API keys.
        BackendError: the app database failed.
    """
    require(actor, Action.MANAGE_API_KEYS)
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return _in_session(
        settings,
        "listing the API keys",
        lambda session: [ApiKeyInfo.from_row(row) for row in session.scalars(query)],
    )


def revoke_api_key(settings: Settings, *, name_or_id: str, actor: Actor) -> ApiKeyInfo:
    """Revoke the active key with this name or key id (a key id wins over a name).

    A running sidecar refuses the key from its next cache refresh (a few seconds).

    Args:
        name_or_id: the key's name or its key id, as ``list`` shows them.
        actor: who revokes it; must be an ML lead.

    Returns:
        The revoked key's description.

    Raises:
        PermissionDenied: the actor may not manage API keys (nothing is written).
        InputError: ``name_or_id`` is empty or holds control characters.
        NotFoundError: no active key has this name or id (none ever had, or it is
            revoked already).
        BackendError: the app database failed.
    """
    require(actor, Action.MANAGE_API_KEYS)
    wanted = check_name(name_or_id, what="API key name or id")
    revoked_by = safe_text(actor.name, 128) or actor.name
    now = datetime.now(UTC)

    def revoke(session: Session) -> ApiKeyInfo | str:
        matches = or_(ApiKey.name == wanted, ApiKey.key_id == wanted)
        active = session.scalars(select(ApiKey).where(matches, ApiKey.revoked_at.is_(None)))
        found = sorted(active, key=lambda row: row.key_id != wanted)  # a key id first
        if found:
            row = found[0]
            done = session.execute(
                update(ApiKey)
                .where(ApiKey.id == row.id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=now, revoked_by=revoked_by)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount == 1:
                info = ApiKeyInfo.from_row(row)
                return replace(info, revoked_at=now, revoked_by=revoked_by)
        last = session.scalars(
            select(ApiKey).where(matches).order_by(ApiKey.revoked_at.desc().nulls_last()).limit(1)
        ).first()
        if last is None or last.revoked_at is None:
            return f"no API key is named {wanted!r} or has that id"
        return (
            f"the API key {wanted!r} (id {last.key_id}) is revoked already: by "
            f"{last.revoked_by} at {_utc(last.revoked_at):%Y-%m-%d %H:%M:%S} UTC"
        )

    outcome = _in_session(settings, "revoking an API key", revoke)
    if isinstance(outcome, str):
        raise NotFoundError(outcome)
    log.info("API key %r (id %s) revoked by %s", outcome.name, outcome.key_id, actor)
    return outcome


class ApiKeyCache:
    """The active API keys in memory, checked without touching the database.

    :meth:`refresh` reloads them (one query); the sidecar calls it every few seconds, so
    a key revoked meanwhile is refused within that interval. :meth:`authenticate` is
    pure memory and CPU, a few microseconds, and never raises. The loaded set is replaced
    whole, so requests in other threads see the old set or the new one, never a mix.

    Attributes:
        loaded_at: ``time.monotonic()`` of the last refresh that succeeded, or None.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._keys: dict[str, tuple[str, ApiKeyInfo]] = {}
        self.loaded_at: float | None = None

    def refresh(self) -> None:
        """Reload every active key from the app database.

        Raises:
            BackendError: the database cannot be reached or read; the last good set
                stays in use.
        """
        columns = (ApiKey.key_id, ApiKey.key_hash, ApiKey.name, ApiKey.scopes)
        columns += (ApiKey.created_at, ApiKey.created_by, ApiKey.revoked_at, ApiKey.revoked_by)
        query = select(*columns).where(ApiKey.revoked_at.is_(None))
        rows = _in_session(
            self._settings,
            "loading the API keys",
            lambda session: session.execute(query).all(),
        )
        self._keys = {row.key_id: (row.key_hash, ApiKeyInfo.from_row(row)) for row in rows}
        self.loaded_at = time.monotonic()

    def authenticate(self, token: str | None) -> ApiKeyInfo | None:
        """The active key ``token`` is, or None (missing, malformed, unknown or revoked).

        Args:
            token: the key text as sent after ``Authorization: Bearer``.

        Returns:
            The key's description, or None.
        """
        if not isinstance(token, str):
            return None
        match = _KEY_PATTERN.fullmatch(token)
        if match is None:
            return None
        entry = self._keys.get(match.group(1))  # the key id is public: a plain lookup
        if entry is None:
            return None
        stored, info = entry
        return info if hmac.compare_digest(hash_key(token), stored) else None


def _in_session(settings: Settings, action: str, work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` in one transaction on the app database.

    An IntegrityError passes through (the caller knows which constraint it meant);
    every other database failure becomes a BackendError saying what was being done.
    """
    try:
        with Session(get_engine(settings), expire_on_commit=False) as session, session.begin():
            return work(session)
    except IntegrityError:
        raise
    except SQLAlchemyError as exc:
        raise BackendError(
            f"{action}: app database {database_label(settings)} failed: {describe_error(exc)}"
        ) from exc


def _insert(settings: Settings, row: ApiKey) -> None:
    _in_session(settings, "creating an API key", lambda session: session.add(row))


def _exists(settings: Settings, *where: Any) -> bool:
    """Whether a row of ``api_keys`` matches ``where`` (after a refused insert)."""
    query = select(ApiKey.id).where(*where).limit(1)
    found = _in_session(settings, "creating an API key", lambda s: s.scalars(query).first())
    return found is not None


def _parse_scopes(text: str) -> tuple[str, ...]:
    """Stored scopes; an unknown one (a row edited by hand) grants nothing."""
    stored = {s.strip() for s in text.split(",")}
    return tuple(s for s in SCOPES if s in stored)


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
