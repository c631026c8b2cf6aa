"""Who is using the app, by ``WORKBENCH_AUTH`` mode, and the sidebar that says so.

The mode establishes a name (and groups); core maps it to a role and enforces what the
role may do. This module only reads the identity from Streamlit:

- ``local``: ``WORKBENCH_LOCAL_USER``; ``ml_lead`` by default only while the server
  listens on a loopback address;
- ``oidc``: ``st.user`` after ``st.login`` (the ``[auth]`` section of secrets.toml);
- ``header``: the trusted proxy's headers (``st.context.headers``).
"""

from __future__ import annotations

import streamlit as st

from core.auth import Actor, actor_for, is_loopback, parse_groups
from core.config import Settings
from core.errors import WorkbenchError

MODE_LABELS = {
    "local": "local (one person, no sign-in)",
    "oidc": "signed in with OpenID Connect",
    "header": "signed in by the reverse proxy",
}


def server_address() -> str:
    """The address the Streamlit server listens on ('' = every interface)."""
    return str(st.get_option("server.address") or "")


def current_actor(settings: Settings) -> Actor | None:
    """The person using this session, or None when nobody is signed in (yet).

    Raises:
        InputError: the identity provider or proxy sent an empty user name.
    """
    if settings.auth == "local":
        return actor_for(
            settings,
            name=settings.local_user,
            mode="local",
            loopback=is_loopback(server_address()),
        )
    if settings.auth == "oidc":
        if not st.user.is_logged_in:
            return None
        name = st.user.get(settings.oidc_user_claim) or st.user.get("sub")
        groups = parse_groups(st.user.get(settings.oidc_groups_claim))
        return actor_for(settings, name=str(name or ""), groups=groups, mode="oidc", loopback=False)
    headers = st.context.headers
    name = headers.get(settings.auth_user_header)
    if not name:
        return None
    header_groups = (
        headers.get(settings.auth_groups_header) if settings.auth_groups_header else None
    )
    groups = parse_groups(header_groups)
    return actor_for(settings, name=name, groups=groups, mode="header", loopback=False)


def require_actor(settings: Settings) -> Actor:
    """The signed-in actor; otherwise a sign-in screen (or a clear error), then stop."""
    try:
        actor = current_actor(settings)
    except WorkbenchError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    if actor is not None:
        return actor
    st.title(":material/shield: Fraud Workbench")
    if settings.auth == "oidc":
        if not _oidc_configured():
            st.error(
                "WORKBENCH_AUTH=oidc needs an [auth] section in .streamlit/secrets.toml "
                "(redirect_uri, cookie_secret, client_id, client_secret, "
                "server_metadata_url); see .streamlit/secrets.toml.example.",
                icon=":material/settings:",
            )
            st.stop()
        st.info("Sign in to use the workbench.", icon=":material/lock:")
        if st.button("Sign in", icon=":material/login:", type="primary"):
            st.login()
    else:
        st.error(
            f"No user name arrived in the **{settings.auth_user_header}** header. In header "
            "mode the workbench must be reached through the reverse proxy that signs people "
            "in and sets it.",
            icon=":material/lock:",
        )
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises; this keeps the type checker calm


def _oidc_configured() -> bool:
    """Whether the secrets hold an [auth] section for st.login (no secrets file: no)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no or unreadable secrets.toml: Streamlit raises its own errors
        return False


def render_sidebar(actor: Actor, settings: Settings) -> None:
    """Which mode is active, who you are, your role, and sign-out where it applies."""
    with st.sidebar:
        st.markdown(f":material/account_circle: **{actor.name}**  \nrole **{actor.role}**")
        st.caption(f"Mode: {MODE_LABELS[settings.auth]}")
        if settings.auth == "oidc" and st.button("Sign out", icon=":material/logout:"):
            st.logout()


def exposed_without_sign_in(settings: Settings, actor: Actor) -> str | None:
    """A warning when local mode serves other machines (every visitor acts as one user)."""
    address = server_address()
    if settings.auth != "local" or is_loopback(address):
        return None
    where = address or "every network interface"
    return (
        f"This workbench listens on {where} with no sign-in (WORKBENCH_AUTH=local): every "
        f"visitor acts as **{actor.name}** with the role **{actor.role}**. Set "
        "WORKBENCH_AUTH=oidc or header so that people sign in."
    )
