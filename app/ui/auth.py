"""Who is using the app, by ``WORKBENCH_AUTH`` mode, and the sidebar that says so.

The mode establishes a name (and groups); core maps it to a role (``core.identity``) and
enforces what the role may do. This module only reads the identity from Streamlit:

- ``local``: ``WORKBENCH_LOCAL_USER``; ``ml_lead`` by default only while the server
  listens on a loopback address;
- ``oidc``: ``st.user`` after ``st.login`` (the ``[auth]`` section of secrets.toml);
- ``header``: the trusted proxy's headers (``st.context.headers``).
"""

from __future__ import annotations

import streamlit as st

from app.ui.format import escape_markdown
from core.auth import Actor
from core.config import Settings
from core.errors import WorkbenchError
from core.identity import actor_for, header_actor, is_loopback, oidc_actor

MODE_LABELS = {
    "local": "local (one person, no sign-in)",
    "oidc": "signed in with OpenID Connect",
    "header": "signed in by the reverse proxy",
}
OIDC_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")


def server_address() -> str:
    """The address the Streamlit server listens on ('' = every interface)."""
    return str(st.get_option("server.address") or "")


def current_actor(settings: Settings) -> Actor | None:
    """The person using this session, or None when nobody is signed in (yet).

    Raises:
        InputError: the identity provider or proxy sent an unusable user name.
    """
    if settings.auth == "local":
        return actor_for(
            settings,
            name=settings.local_user,
            mode="local",
            loopback=is_loopback(server_address()),
        )
    if settings.auth == "oidc":
        # st.user raises on is_logged_in until an [auth] section exists: check it first
        if oidc_problem() is not None or not st.user.is_logged_in:
            return None
        return oidc_actor(settings, st.user.to_dict())
    return header_actor(settings, st.context.headers.get_all)


def oidc_problem() -> str | None:
    """What is missing from the secrets' [auth] section for st.login, or None."""
    try:
        section = st.secrets.get("auth")
    except Exception:  # no or unreadable secrets.toml: Streamlit raises its own errors
        section = None
    if not section:
        return "an [auth] section in .streamlit/secrets.toml"
    missing = [key for key in OIDC_KEYS if not section.get(key)]
    return f"{', '.join(missing)} in its [auth] section" if missing else None


def require_actor(settings: Settings) -> Actor:
    """The signed-in actor; otherwise a sign-in screen (or a clear error), then stop."""
    try:
        actor = current_actor(settings)
    except WorkbenchError as exc:
        st.error(f"You cannot be signed in: {exc}", icon=":material/error:")
        if settings.auth == "oidc" and st.button("Sign out", icon=":material/logout:"):
            st.logout()
        st.stop()
    if actor is not None:
        return actor
    st.title(":material/shield: Fraud Workbench")
    if settings.auth == "oidc":
        _sign_in()
    else:
        st.error(
            f"No user name arrived in the **{settings.auth_user_header}** header. In header "
            "mode the workbench must be reached through the reverse proxy that signs people "
            "in and sets it.",
            icon=":material/lock:",
        )
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises; this keeps the type checker calm


def _sign_in() -> None:
    problem = oidc_problem()
    if problem is not None:
        st.error(
            f"WORKBENCH_AUTH=oidc needs {problem} (redirect_uri, cookie_secret, client_id, "
            "client_secret, server_metadata_url); see .streamlit/secrets.toml.example.",
            icon=":material/settings:",
        )
        return
    st.info("Sign in to use the workbench.", icon=":material/lock:")
    if st.button("Sign in", icon=":material/login:", type="primary"):
        try:
            st.login()
        except Exception as exc:  # Streamlit's own auth errors (provider unreachable, ...)
            st.error(f"Sign-in could not start: {exc}", icon=":material/error:")


def render_sidebar(actor: Actor, settings: Settings) -> None:
    """Which mode is active, who you are, your role, and sign-out where it applies."""
    with st.sidebar:
        st.markdown(
            f":material/account_circle: **{escape_markdown(actor.name)}**  \nrole **{actor.role}**"
        )
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
        f"visitor acts as **{escape_markdown(actor.name)}** with the role **{actor.role}**. "
        "Set WORKBENCH_AUTH=oidc or header so that people sign in."
    )
