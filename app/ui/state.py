"""Cached access to core for the pages: settings, backend status, the live model."""

from __future__ import annotations

import streamlit as st

from core.config import Settings, get_settings
from core.errors import NotFoundError
from core.registry import ModelVersionInfo, get_version_by_alias, list_versions
from core.status import BackendStatus, check_backends


def settings() -> Settings:
    """The process settings (read from the environment once by core)."""
    return get_settings()


@st.cache_data(ttl=15, show_spinner="Checking backends...")
def backend_status(settings: Settings) -> list[BackendStatus]:
    return check_backends(settings)


@st.cache_data(ttl=10, show_spinner=False)
def live_version(settings: Settings) -> ModelVersionInfo | None:
    """The version behind the live alias, or None when the alias is unset."""
    try:
        return get_version_by_alias(settings)
    except NotFoundError:
        return None


@st.cache_data(ttl=10, show_spinner=False)
def versions(settings: Settings) -> list[ModelVersionInfo]:
    return list_versions(settings)


def clear() -> None:
    """Forget cached registry answers (after training or moving an alias)."""
    live_version.clear()
    versions.clear()
