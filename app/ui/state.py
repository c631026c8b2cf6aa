"""Cached access to core for the pages: settings, backend status, models, artifacts."""

from __future__ import annotations

import importlib
import logging
import threading
import time

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

log = logging.getLogger(__name__)

PREWARM_MODULES = (
    "app.ui.charts",
    "app.ui.compare_view",
    "app.ui.drift_view",
    "app.ui.explain_view",  # matplotlib, for the beeswarm
    "app.ui.monitoring_view",
    "app.ui.lifecycle_view",
    "scipy.stats",
    "core.training.train",  # the package alone loads it on first use
)
"""Imported in the background after the first page (see :func:`prewarm`): what the other
pages need and Home does not."""
PREWARM_DELAY = 2.0
"""Seconds after the first page's script run before :func:`prewarm` starts importing."""
_prewarm_lock = threading.Lock()
_prewarmed: list[threading.Thread] = []


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


def prewarm(settings: Settings, *, delay: float | None = None) -> threading.Thread:
    """Once per server process, load the live model and import what the other pages need
    in a background thread, so that a first visit of Score, Explain, Compare or Drift finds
    them ready instead of paying ~4 s for them. ``app/serve.py`` starts it before the server
    answers (``delay=0``, and waits for it a while); ``app/main.py`` calls it after each
    page, for ``streamlit run app/main.py``, so it starts ``delay`` seconds (default
    :data:`PREWARM_DELAY`) after the first.
    Returns the thread (the one already started, on later calls).

    Nothing here is needed for correctness: a page that asks first simply waits for the
    module (Python's import lock) or loads the model itself (core loads each version once).
    A failure is left for the page that needs the thing to report.
    """
    with _prewarm_lock:
        if _prewarmed:
            return _prewarmed[0]
        thread = threading.Thread(
            target=_prewarm,
            args=(settings, PREWARM_DELAY if delay is None else delay),
            name="prewarm",
            daemon=True,
        )
        _prewarmed.append(thread)
    thread.start()
    return thread


def _prewarm(settings: Settings, delay: float) -> None:
    # after a first page: its last messages go out, and the browser draws it, first
    time.sleep(delay)
    try:
        resolve_model(settings)  # LightGBM (and scikit-learn behind it) and the live model
    except Exception as exc:  # no live model yet, a store down: the pages say so
        log.info("prewarm: the live model was not loaded: %s", exc)
    for name in PREWARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # an import error shows where the page imports it
            log.info("prewarm: %s was not imported: %s", name, exc)


def clear() -> None:
    """Forget cached registry answers (after training or moving an alias)."""
    live_version.clear()
    versions.clear()
    live_model.clear()
