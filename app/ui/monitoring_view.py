"""The monitoring page's parts: one cached call to core.monitoring, and the figures.

core/monitoring.py (``monitoring_summary``) is being written alongside this page and is not
in this build yet; until it is, :data:`monitoring_summary` is None and the page says so
rather than drawing anything. The attribute names used in :func:`render_summary` follow the
issue's description of the summary and may need adapting when the module lands.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.ui.compare_charts import colour
from core.config import Settings

try:  # not on main yet (issue 11): the page shows MISSING until it is
    from core.monitoring import monitoring_summary
except ImportError:
    monitoring_summary = None

MISSING = (
    "**Not built yet.** The monitoring summary (volume, alert rate, latency, traffic by "
    "version, audit spool) comes from `core/monitoring.py`, which is not in this build; "
    "nothing is shown rather than made-up numbers."
)


@st.cache_data(ttl=30, show_spinner="Reading the audit log...")
def summary(settings: Settings, start: datetime, end: datetime, bucket: str) -> Any:
    """The audit log's summary over [start, end) per hour or day (see core.monitoring)."""
    if monitoring_summary is None:  # the page checks first; this is for other callers
        raise RuntimeError("core.monitoring is not in this build")
    return monitoring_summary(settings, start=start, end=end, bucket=bucket)


def _mark_moves(figure: go.Figure, moves: Any) -> go.Figure:
    """A dashed vertical line per alias move, labelled "@alias -> vN"."""
    for move in moves:
        figure.add_vline(x=move.time, line_dash="dash", line_color="#5f6368")
        figure.add_annotation(
            x=move.time,
            y=1,
            yref="paper",
            text=f"@{move.alias} -> v{move.to_version}",
            showarrow=False,
            yanchor="bottom",
            font={"size": 11},
        )
    return figure


def plot_volume(volume: pd.DataFrame, moves: Any) -> go.Figure:
    """Rows scored per bucket, stacked by source (columns)."""
    figure = go.Figure(
        [
            go.Bar(x=volume.index, y=volume[source], name=str(source), marker_color=colour(i))
            for i, source in enumerate(volume.columns)
        ]
    )
    figure.update_layout(barmode="stack", height=320, yaxis_title="rows scored")
    return _mark_moves(figure, moves)


def plot_alert_rate(rate: pd.Series, validation_rate: float | None, moves: Any) -> go.Figure:
    """Alert rate per bucket, with the validation rate as a horizontal line."""
    figure = go.Figure(
        go.Scatter(x=rate.index, y=rate.to_numpy(), mode="lines+markers", name="alert rate")
    )
    if validation_rate is not None:
        figure.add_hline(
            y=validation_rate, line_dash="dot", annotation_text=f"validation {validation_rate:.3%}"
        )
    figure.update_layout(height=320, yaxis_tickformat=".2%", yaxis_title="alert rate")
    return _mark_moves(figure, moves)


def render_summary(result: Any) -> None:
    """Draw a summary: the attribute names are those the issue describes (adapt on merge)."""
    st.subheader("Volume")
    st.plotly_chart(plot_volume(result.volume, result.alias_moves), width="stretch")
    st.subheader("Alert rate")
    st.plotly_chart(
        plot_alert_rate(result.alert_rate, result.validation_rate, result.alias_moves),
        width="stretch",
    )
    left, right = st.columns(2)
    left.subheader("Scoring latency")
    left.dataframe(result.latency, width="stretch")
    right.subheader("Traffic by version")
    right.dataframe(result.share_by_version, width="stretch")
    st.subheader("Audit spool")
    spooled, set_aside = st.columns(2)
    spooled.metric("Spooled records", result.spooled)
    set_aside.metric("Set aside", result.set_aside)
