"""Compare's rows on which the versions decide differently, as people read them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.ui.format import format_probability
from core.compare import Comparison
from core.config import Settings
from core.schema import LABEL, ROW, count_text, format_threshold


def decision_diff_table(result: Comparison, *, limit: int = 1000) -> pd.DataFrame:
    """The first ``limit`` rows on which the versions decide differently, as people read
    them: each version's probability as :func:`format_probability` writes it and its
    decision in words, under a header naming its threshold (:func:`format_threshold`).
    The download keeps the raw numbers."""
    diff = result.decision_diff.head(limit)
    table = pd.DataFrame(
        {
            ROW: diff[ROW].to_numpy(),
            "Time": diff["Time"].to_numpy(),
            "Amount": diff["Amount"].to_numpy(),
            "label": [label_word(v) for v in diff[LABEL]],
        }
    )
    for c in result.versions:
        if c.threshold is None or f"decision_v{c.version}" not in diff:
            continue
        name = f"version {c.version} (alert at ≥ {format_threshold(c.threshold)})"
        table[f"{name}: probability"] = [
            format_probability(float(p)) for p in diff[f"probability_v{c.version}"]
        ]
        table[f"{name}: decision"] = [
            "alert" if d == 1 else "no alert" for d in diff[f"decision_v{c.version}"]
        ]
    return table


def label_word(value: object) -> str:
    """A ``Class`` value in words: fraud, legitimate, or unlabelled."""
    if value is None or pd.isna(value):
        return "unlabelled"
    return "fraud" if int(value) == 1 else "legitimate"


def render_decision_diff(settings: Settings, result: Comparison) -> None:
    """The count of differing rows, the first 1,000 of them and the download (raw)."""
    diff = result.decision_diff
    st.subheader(f"Decisions that differ: {len(diff):,} of {count_text(result.rows, 'row')}")
    if len(diff):
        st.dataframe(
            decision_diff_table(result),
            hide_index=True,
            width="stretch",
            column_config={
                "Time": st.column_config.NumberColumn(format="%d"),
                "Amount": st.column_config.NumberColumn(format="%.2f"),
            },
        )
        st.download_button(
            "Download the rows (CSV)",
            result.decision_diff_csv(),
            file_name=f"{settings.model_name}-decision-diff.csv",
            mime="text/csv",
            icon=":material/download:",
        )
    elif sum(c.threshold is not None for c in result.versions) < 2:
        st.caption("At least two versions with a threshold are needed to compare decisions.")
