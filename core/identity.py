"""Who is acting: a name (and groups) from a sign-in or the command line, mapped to a role.

The roles and what they may do are in :mod:`core.auth` (a leaf that config imports); this
module sits above config because it reads the role map and the mode from the settings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping

from core.auth import Actor, Role, RoleMap, check_name, name_key, parse_groups
from core.config import Settings
from core.errors import InputError


def is_loopback(address: str | None) -> bool:
    """Whether a server bound to ``address`` is reachable from this machine only.

    An empty address means every interface (Streamlit's and uvicorn's default).
    """
    if not address:
        return False
    host = address.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_role(
    name: str,
    groups: tuple[str, ...] | list[str],
    role_map: RoleMap,
    *,
    fallback: Role,
) -> Role:
    """A user's own entry, else the highest role among their mapped groups, else
    ``fallback``."""
    own = role_map.users.get(name_key(name))
    if own is not None:
        return own
    keys = [name_key(g) for g in groups]
    mapped = [role_map.groups[k] for k in keys if k in role_map.groups]
    return max(mapped, key=lambda r: r.rank) if mapped else fallback


def default_role(mode: str, *, loopback: bool) -> Role:
    """The role of anyone not mapped, when ``WORKBENCH_DEFAULT_ROLE`` is not set:
    ``ml_lead`` for one person on their own machine (local mode, loopback), else analyst."""
    return Role.ML_LEAD if mode == "local" and loopback else Role.ANALYST


def actor_for(
    settings: Settings,
    *,
    name: object,
    groups: tuple[str, ...] | list[str] = (),
    mode: str,
    loopback: bool,
) -> Actor:
    """The actor ``name`` (with ``groups``) gets under ``settings``' role map.

    Args:
        name: the user name as established by ``mode``.
        groups: groups sent by the identity provider or the proxy.
        mode: ``local``, ``oidc``, ``header`` or ``cli`` (recorded on the actor).
        loopback: whether the interface is reachable from this machine only; with
            ``WORKBENCH_AUTH=local`` it makes unmapped users ``ml_lead`` by default.

    Raises:
        InputError: the name is not text, is empty, or holds control characters.
    """
    name = check_name(name)
    fallback = settings.default_role or default_role(settings.auth, loopback=loopback)
    role = resolve_role(name, groups, settings.role_map, fallback=fallback)
    return Actor(name=name, role=role, mode=mode, groups=tuple(groups))


def cli_actor(settings: Settings, name: str | None = None) -> Actor:
    """The actor of a command-line run: ``--actor``, else ``WORKBENCH_LOCAL_USER`` (whose
    default is the OS user); the role comes from the same map as the app's.

    This is accountability, not security: anyone with a shell and the database
    credentials can name themselves anyone. The command line runs on this machine, so
    it counts as loopback (``ml_lead`` by default in local mode only).
    """
    chosen = settings.local_user if name is None else name
    return actor_for(settings, name=chosen, mode="cli", loopback=True)


def oidc_actor(settings: Settings, claims: Mapping[str, object]) -> Actor:
    """The actor an OpenID Connect sign-in names: ``WORKBENCH_OIDC_USER_CLAIM`` (``sub``
    when the token has no such claim), groups from ``WORKBENCH_OIDC_GROUPS_CLAIM``.

    Raises:
        InputError: the name claim is not usable text, or is an e-mail address the
            provider says is not verified (anyone could have typed it).
    """
    claim = settings.oidc_user_claim
    name = claims.get(claim)
    if name is None:
        name = claims.get("sub")
    elif claim == "email" and claims.get("email_verified") is False:
        raise InputError(
            f"the provider says the e-mail {name!r} is not verified; it cannot name you"
        )
    groups = parse_groups(claims.get(settings.oidc_groups_claim))
    return actor_for(settings, name=name, groups=groups, mode="oidc", loopback=False)


def header_actor(settings: Settings, get_all: Callable[[str], list[str]]) -> Actor | None:
    """The actor a trusted proxy names in its headers, or None without the user header.

    Args:
        get_all: every value the request carries for a header name (Streamlit's
            ``st.context.headers.get_all``).

    Raises:
        InputError: a header arrived more than once (a proxy that appends instead of
            replacing lets the client choose), or the name is not usable.
    """
    users = _one_value(get_all, settings.auth_user_header)
    if users is None:
        return None
    groups: tuple[str, ...] = ()
    if settings.auth_groups_header:
        groups = parse_groups(_one_value(get_all, settings.auth_groups_header))
    return actor_for(settings, name=users, groups=groups, mode="header", loopback=False)


def _one_value(get_all: Callable[[str], list[str]], header: str) -> str | None:
    values = get_all(header)
    if len(values) > 1:
        raise InputError(
            f"the {header} header arrived {len(values)} times; the proxy must replace it, "
            "not add to what the client sent"
        )
    return values[0] if values else None
