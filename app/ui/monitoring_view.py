"""The monitoring page's parts: one cached call to core.monitoring, and the figures."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.ui.compare_charts import colour
from core.config import Settings
from core.history import HistoryRow
from core.monitoring import MonitoringSummary, monitoring_summary


@st.cache_data(ttl=30, show_spinner="Reading the audit log...")
def summary(
    settings: Settings, start: datetime, end: datetime, bucket: str, newest: int | None
) -> MonitoringSummary:
    """The audit log's summary over [start, end) per hour or day (see core.monitoring);
    ``newest`` (core.drift.latest_event_id) keys the cache, so new traffic shows at once."""
    return monitoring_summary(settings, start=start, end=end, bucket=bucket)


def _mark_moves(figure: go.Figure, moves: list[HistoryRow]) -> go.Figure:
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


BUCKET_MS = {"hour": 3_600_000, "day": 86_400_000}


def plot_volume(volume: pd.DataFrame, moves: list[HistoryRow], bucket: str) -> go.Figure:
    """Rows scored per bucket, stacked by source (columns). Bars are as wide as their
    bucket (on a time axis plotly would draw a lone bucket a millisecond wide)."""
    width = 0.9 * BUCKET_MS.get(bucket, BUCKET_MS["day"])
    figure = go.Figure(
        [
            go.Bar(
                x=volume.index,
                y=volume[source],
                name=str(source),
                marker_color=colour(i),
                width=width,
                xperiod=BUCKET_MS.get(bucket),
                xperiodalignment="start",
            )
            for i, source in enumerate(volume.columns)
        ]
    )
    figure.update_layout(barmode="stack", height=320, yaxis_title="rows scored")
    return _mark_moves(figure, moves)


def plot_alert_rate(
    rate: pd.Series, validation_rate: float | None, moves: list[HistoryRow]
) -> go.Figure:
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


def plot_latency(latency: pd.DataFrame) -> go.Figure:
    """p50 and p95 scoring latency per source (ms, log scale)."""
    kept = latency.dropna(subset=["p50_ms"])
    figure = go.Figure(
        [
            go.Bar(x=kept.index.astype(str), y=kept[column], name=name, marker_color=colour(i))
            for i, (column, name) in enumerate((("p50_ms", "p50"), ("p95_ms", "p95")))
        ]
    )
    figure.update_layout(height=300, yaxis_title="ms per scoring call", yaxis_rangemode="tozero")
    return figure


def plot_share(share: pd.Series) -> go.Figure:
    """The share of rows scored by each model version."""
    figure = go.Figure(
        go.Bar(
            x=[f"v{v}" for v in share.index],
            y=share.to_numpy(),
            marker_color=[colour(i) for i in range(len(share))],
        )
    )
    figure.update_layout(height=300, yaxis_tickformat=".0%", yaxis_title="share of rows")
    return figure


def render_summary(result: MonitoringSummary) -> None:
    """The volume, alert rate, latency, traffic by version and the audit spool."""
    if result.validation_problem:
        st.error(
            result.validation_problem[0].upper() + result.validation_problem[1:],
            icon=":material/error:",
        )
    if result.rows == 0:
        st.info(
            "No scoring in this window: nothing to monitor. Choose a longer window.",
            icon=":material/info:",
        )
    else:
        st.subheader("Volume")
        st.plotly_chart(
            plot_volume(result.volume, result.alias_moves, result.bucket), width="stretch"
        )
        st.subheader("Alert rate")
        st.plotly_chart(
            plot_alert_rate(result.alert_rate, result.validation_rate, result.alias_moves),
            width="stretch",
        )
        if result.validation_rate is None:
            st.caption("The live version's validation alert rate is unknown (no drift reference).")
        if result.alias_moves:
            st.caption("Dashed lines: alias moves (see Alias history).")
        left, right = st.columns(2)
        left.subheader("Scoring latency")
        left.caption(
            "One sample per scoring call (a form submit, a batch file, a CLI run): its whole "
            "time. p50 / p95 read from each event's latency histogram."
        )
        if result.latency["p50_ms"].notna().any():
            left.plotly_chart(plot_latency(result.latency), width="stretch")
        left.dataframe(
            result.latency.rename(
                columns={"samples": "calls", "p50_ms": "p50 (ms)", "p95_ms": "p95 (ms)"}
            ),
            width="stretch",
        )
        right.subheader("Traffic by version")
        right.plotly_chart(plot_share(result.share_by_version), width="stretch")
    st.subheader("Audit spool")
    spooled, set_aside = st.columns(2)
    spooled.metric("Spooled records", result.spooled, help="Waiting for the database")
    set_aside.metric("Set aside", result.set_aside, help="Refused by the database; see Home")
