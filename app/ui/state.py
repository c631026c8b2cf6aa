"""Cached access to core for the pages: settings, backend status, models, artifacts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.ui.auth import require_actor
from core.artifacts import get_global_explanation, get_reference, get_test_split
from core.auth import Actor
from core.config import Settings, get_settings
from core.errors import NotFoundError, WorkbenchError
from core.explain import GlobalExplanation
from core.reference import ReferenceStats
from core.registry import (
    ModelVersionInfo,
    get_version,
    get_version_by_alias,
    list_versions,
    load_model,
)
from core.scoring import ModelChoice, resolve_model
from core.status import BackendStatus, check_backends


def settings() -> Settings:
    """The process settings (read from the environment once by core); a bad setting
    (an unknown URL scheme, a malformed WORKBENCH_ROLES) is one error, and the run stops."""
    try:
        return get_settings()
    except WorkbenchError as exc:
        st.error(f"The workbench is misconfigured: {exc}", icon=":material/settings:")
        st.stop()
        raise  # st.stop() raises StopException; this line is never reached


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


@st.cache_resource(ttl=10, show_spinner="Loading the live model...")
def live_model(settings: Settings) -> ModelChoice:
    """The live alias's model; re-resolved every 10 s so an alias move is picked up.

    The model object itself is loaded once per version by core.
    """
    return resolve_model(settings)


@st.cache_data(show_spinner=False)
def reference(settings: Settings, run_id: str) -> ReferenceStats:
    return get_reference(settings, run_id)


@st.cache_data(show_spinner="Fetching the test split...")
def test_split(settings: Settings, run_id: str) -> pd.DataFrame:
    return get_test_split(settings, run_id)


@st.cache_data(show_spinner="Explaining a sample of the test split...")
def global_explanation(
    settings: Settings, version: int, may_store: bool, _actor: Actor
) -> GlobalExplanation:
    """Stored with the version; computed on first use for older versions, and stored
    then if ``_actor`` may write into the run (``may_store`` keys the cache on it)."""
    model = load_model(settings, get_version(settings, version, with_metrics=False))
    return get_global_explanation(settings, model, actor=_actor)


def actor() -> Actor:
    """Who uses this session, with their role (app/main.py stops a run with nobody)."""
    return require_actor(settings())


def clear() -> None:
    """Forget cached registry answers (after training or moving an alias)."""
    live_version.clear()
    versions.clear()
    live_model.clear()
