"""A version's test split with its scores (as training stored them), cached: the Score
page's picker and every page's "top 0.2% of the test split"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app.ui.format import format_rank
from core.config import Settings
from core.errors import WorkbenchError
from core.operating import load_scored_test_split
from core.ranking import compute_rank, sort_scores
from core.registry import get_version
from core.schema import FEATURES, LABEL, ROW
from core.scoring import ID_COLUMNS, PROBABILITY


@st.cache_data(show_spinner="Fetching the test split...")
def scored_test_split(settings: Settings, version: int) -> pd.DataFrame:
    """The version's test split with ``row`` (1-based position), its transaction id column
    where the training data had one (``ID_COLUMNS``), and its probability.

    Raises:
        NotFoundError: the version has no test split (trained elsewhere).
        BackendError: the stores cannot be reached.
    """
    test, proba = load_scored_test_split(
        settings, get_version(settings, version, with_metrics=False)
    )
    return scored_frame(test, proba)


def scored_frame(test: pd.DataFrame, proba: np.ndarray) -> pd.DataFrame:
    """A test split as the pickers show it: ``row`` (1-based position), the features, the
    label, the first transaction id column it has (``ID_COLUMNS``: a passthrough column of
    the training data) and the probability; other passthrough columns are left out."""
    ids = [name for name in ID_COLUMNS if name in test.columns][:1]
    scored = test.loc[:, [*FEATURES, *([LABEL] if LABEL in test else []), *ids]]
    scored.insert(0, ROW, np.arange(1, len(test) + 1))
    scored[PROBABILITY] = proba
    return scored


@st.cache_data(show_spinner=False)
def sorted_test_scores(settings: Settings, version: int) -> np.ndarray:
    """The version's test-split probabilities, ascending (sorted once per version)."""
    return sort_scores(scored_test_split(settings, version)[PROBABILITY].to_numpy())


def rank_text(settings: Settings, version: int, probability: float) -> str | None:
    """ "top 0.2% of the test split (...)" for ``probability``; None when the version has
    no test split to rank against (or it cannot be fetched now), or no score (NaN)."""
    if np.isnan(probability):
        return None
    try:
        scores = sorted_test_scores(settings, version)
    except WorkbenchError:
        return None
    return format_rank(compute_rank(scores, probability), of=f"version {version}'s test split")
