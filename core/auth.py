"""Who is acting, and what they may do: identities, two roles, and the check core makes.

Every action that changes what others rely on (training, moving an alias, changing a
threshold, replaying audit records, storing artifacts into a finished run, managing API
keys) takes an :class:`Actor` and calls :func:`require` first, so no interface (page,
CLI, API) can skip the check. Pages hide what a role may not use; core refuses it anyway.

Roles come from ``WORKBENCH_ROLES`` (:func:`parse_role_map`), e.g.
``alice=ml_lead,bob=analyst,group:fraud-leads=ml_lead``:

- a user's own entry beats any group entry;
- among several mapped groups, the highest role wins;
- anyone not mapped gets ``WORKBENCH_DEFAULT_ROLE``, or by default ``ml_lead`` in
  ``local`` mode on a loopback address and ``analyst`` everywhere else.

Names and groups match with ASCII letters case-insensitive (see :func:`name_key`).

This module is a leaf (config imports it); who someone is, from a sign-in or the command
line, is worked out in :mod:`core.identity`.
"""

from __future__ import annotations

import getpass
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum

from core.errors import ConfigError, InputError, PermissionDenied


class Role(StrEnum):
    """A role; later members may do everything earlier ones may."""

    ANALYST = "analyst"
    ML_LEAD = "ml_lead"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class Action(StrEnum):
    """Something a person may be allowed to do; the value reads in a sentence."""

    SCORE = "score transactions"
    EXPLAIN = "explain scores"
    VIEW = "view pages"
    RUN_DRIFT = "run drift reports"
    TRAIN = "train a model"
    MOVE_ALIAS = "promote or roll back a model (move an alias)"
    SET_THRESHOLD = "change a decision threshold"
    MANAGE_AUDIT = "replay, retry or adopt audit records"
    STORE_ARTIFACTS = "store artifacts into a finished MLflow run"
    MANAGE_API_KEYS = "manage API keys"


PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ANALYST: frozenset({Action.SCORE, Action.EXPLAIN, Action.VIEW, Action.RUN_DRIFT}),
    Role.ML_LEAD: frozenset(Action),
}
"""What each role may do. ``ml_lead`` may do everything."""

AUTH_MODES = ("local", "oidc", "header")


@dataclass(frozen=True)
class Actor:
    """A person (or process) acting through an interface.

    Attributes:
        name: who, as recorded in every audit record and history row.
        role: what they may do.
        mode: how the name was established: ``local``, ``oidc``, ``header`` or ``cli``.
        groups: the groups the identity provider or proxy sent, if any.
    """

    name: str
    role: Role
    mode: str = "local"
    groups: tuple[str, ...] = field(default=())

    def can(self, action: Action) -> bool:
        """Whether this actor's role allows ``action``."""
        return action in PERMISSIONS[self.role]

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


def require(actor: Actor, action: Action) -> None:
    """Refuse ``action`` unless ``actor``'s role allows it.

    Raises:
        PermissionDenied: the role does not allow it (exit code 3).
    """
    if not actor.can(action):
        needed = min((r for r in Role if action in PERMISSIONS[r]), key=lambda r: r.rank)
        raise PermissionDenied(
            f"{actor.name} (role {actor.role}) may not {action}: that needs the role "
            f"{needed}. An administrator grants it in WORKBENCH_ROLES, e.g. "
            f"'{actor.name}={needed}'."
        )


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def name_key(name: str) -> str:
    """How names and groups are compared: ASCII letters case-insensitively, everything
    else exactly. Unicode case folding would let another account in (the Kelvin sign
    folds to 'k', 'ß' to 'ss')."""
    return name.strip().translate(_ASCII_LOWER)


def check_name(name: object, *, what: str = "user name") -> str:
    """A usable user name: a non-empty string without control or format characters.

    Raises:
        InputError: the name is not text, is empty, or holds control characters.
    """
    if not isinstance(name, str):
        raise InputError(f"the {what} is not text ({type(name).__name__})")
    name = name.strip()
    if not name:
        raise InputError(f"the {what} is empty")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        raise InputError(f"the {what} {name!r} holds control or format characters")
    return name


@dataclass(frozen=True)
class RoleMap:
    """Parsed ``WORKBENCH_ROLES``: user and group entries, keyed by :func:`name_key`."""

    users: dict[str, Role] = field(default_factory=dict)
    groups: dict[str, Role] = field(default_factory=dict)


def parse_role_map(text: str) -> RoleMap:
    """Parse ``name=role`` and ``group:name=role`` entries separated by commas.

    Raises:
        ConfigError: an entry is malformed, names an unknown role, or is given twice.
    """
    users: dict[str, Role] = {}
    groups: dict[str, Role] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, role_text = entry.rpartition("=")
        name, role_text = name.strip(), role_text.strip()
        is_group = name.lower().startswith("group:")
        if is_group:
            name = name[len("group:") :].strip()
        if not sep or not name:
            raise ConfigError(f"WORKBENCH_ROLES: {entry!r} is not 'user=role' or 'group:name=role'")
        try:
            role = Role(role_text.lower())
        except ValueError:
            raise ConfigError(
                f"WORKBENCH_ROLES: {entry!r} names the role {role_text!r}; roles are: "
                f"{', '.join(Role)}"
            ) from None
        target = groups if is_group else users
        key = name_key(name)
        if key in target and target[key] != role:
            kind = "group" if is_group else "user"
            raise ConfigError(f"WORKBENCH_ROLES: the {kind} {name!r} is given two roles")
        target[key] = role
    return RoleMap(users=users, groups=groups)


def os_user() -> str:
    """The operating-system user, or ``local-user`` where it cannot be told."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers), no LOGNAME
        return "local-user"


def parse_groups(value: object) -> tuple[str, ...]:
    """Groups from a claim or a header: a list, or a comma-separated string."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        return ()
    return tuple(str(g).strip() for g in items if str(g).strip())
