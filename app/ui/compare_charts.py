"""Plotly figures of the compare and history pages: overlaid curves, one colour per version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from core.schema import rate_text

# Plotly's default qualitative palette, fixed here so a version keeps its colour across plots.
PALETTE = ["#1a73e8", "#b3261e", "#188038", "#e37400", "#9334e6", "#12b5cb", "#5f6368"]


@dataclass(frozen=True)
class Curve:
    """One version's curve: x and y arrays, with the operating point (None: no threshold)
    and, for calibration, the rows and frauds in each bin."""

    label: str
    x: np.ndarray
    y: np.ndarray
    point: tuple[float, float] | None = None
    rows: np.ndarray | None = None
    frauds: np.ndarray | None = None


FEW_ROWS = 30
"""A calibration bin with fewer rows is drawn hollow: its observed rate is too noisy to read."""


def _bin_markers(curve: Curve, colour_: str) -> tuple[dict[str, object], np.ndarray | None]:
    """Markers sized by each bin's rows (area ~ rows), hollow below ``FEW_ROWS``, and the
    hover's per-bin counts."""
    if curve.rows is None:
        return {"color": colour_}, None
    rows = np.asarray(curve.rows, dtype=float)
    frauds = np.zeros_like(rows) if curve.frauds is None else np.asarray(curve.frauds, float)
    size = 6 + 14 * np.sqrt(rows / max(rows.max(initial=0.0), 1.0))
    symbol = np.where(rows < FEW_ROWS, "circle-open", "circle")
    return (
        {"color": colour_, "size": size, "symbol": symbol, "line": {"width": 2}},
        np.column_stack([rows, frauds]),
    )


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


PR_TOP = 1.02
"""The top of a PR plot's precision axis."""


def plot_pr_curves(curves: Sequence[Curve], *, prevalence: float | None = None) -> go.Figure:
    """Precision (y) against recall (x) per version, each with its threshold's point.

    ``prevalence``: the evaluation data's fraud rate, drawn as the no-skill line.
    """
    figure = go.Figure()
    for i, curve in enumerate(curves):
        figure.add_trace(
            go.Scatter(
                x=curve.x,
                y=curve.y,
                mode="lines",
                name=curve.label,
                line={"color": colour(i), "width": 2},
                hovertemplate="recall %{x:.3f}<br>precision %{y:.3f}",
            )
        )
        if curve.point is not None:
            figure.add_trace(
                go.Scatter(
                    x=[curve.point[0]],
                    y=[curve.point[1]],
                    mode="markers",
                    marker={"color": colour(i), "size": 11, "symbol": "diamond"},
                    name=f"{curve.label} at its threshold",
                    hovertemplate="at the threshold<br>recall %{x:.3f}<br>precision %{y:.3f}",
                )
            )
    if prevalence is not None:
        figure.add_hline(y=prevalence, line_dash="dot", line_color=PALETTE[-1])
        # At the left, where a PR curve runs high, inside the plot: at the right end the
        # curves fall onto the line at recall 1 (and the label sat under them), and a line
        # near the top would push a label above it out of the plot.
        above = prevalence < 0.9
        figure.add_annotation(
            text=f"no skill ({rate_text(prevalence)} fraud)",
            x=0.01,
            xref="x domain",
            xanchor="left",
            y=prevalence,
            yref="y",
            yanchor="bottom" if above else "top",
            yshift=2 if above else -2,
            showarrow=False,
            bgcolor="rgba(255, 255, 255, 0.8)",
            font={"color": PALETTE[-1]},
        )
    figure.update_layout(
        xaxis={"title": "Recall", "range": [0, 1.01]},
        yaxis={"title": "Precision", "range": [0, PR_TOP]},
        height=420,
        margin={"t": 20, "b": 40},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def plot_calibration(curves: Sequence[Curve]) -> go.Figure:
    """Observed fraud rate (y) against mean predicted probability (x) per bin and version.

    Where a curve has its bins' counts, each marker's area follows the bin's rows, a bin
    of fewer than ``FEW_ROWS`` rows is hollow, and the hover gives rows and frauds.
    """
    figure = go.Figure(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="perfectly calibrated",
            line={"dash": "dot", "color": PALETTE[-1]},
        )
    )
    for i, curve in enumerate(curves):
        marker, counts = _bin_markers(curve, colour(i))
        counted = (
            "" if counts is None else "<br>%{customdata[0]:,.0f} rows, %{customdata[1]:,.0f} frauds"
        )
        figure.add_trace(
            go.Scatter(
                x=curve.x,
                y=curve.y,
                mode="lines+markers",
                name=curve.label,
                line={"color": colour(i)},
                marker=marker,
                customdata=counts,
                hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}" + counted,
            )
        )
    figure.update_layout(
        xaxis={"title": "Mean predicted probability", "range": [0, 1]},
        yaxis={"title": "Observed fraud rate", "range": [0, 1.02]},
        height=420,
        margin={"t": 20, "b": 40},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


KIND_COLOURS = {
    "first": PALETTE[6],
    "promote": PALETTE[2],
    "override": PALETTE[3],
    "rollback": PALETTE[1],
    "external": PALETTE[4],
    "threshold": PALETTE[0],
}


def plot_history_timeline(
    times: Sequence[object], lanes: Sequence[str], kinds: Sequence[str], texts: Sequence[str]
) -> go.Figure:
    """One marker per history row: time across, one lane per alias (and one for threshold
    changes), coloured by kind, labelled with the move (``v3 -> v4``)."""
    figure = go.Figure()
    for kind in dict.fromkeys(kinds):
        chosen = [i for i, k in enumerate(kinds) if k == kind]
        figure.add_trace(
            go.Scatter(
                x=[times[i] for i in chosen],
                y=[lanes[i] for i in chosen],
                mode="markers+text",
                text=[texts[i] for i in chosen],
                textposition="top center",
                marker={"size": 13, "color": KIND_COLOURS.get(kind, PALETTE[-1])},
                name=kind,
                hovertemplate="%{x|%Y-%m-%d %H:%M:%S}<br>%{text}",
            )
        )
    figure.update_layout(
        xaxis_title="Time",
        yaxis={"type": "category", "title": ""},
        height=140 + 60 * len(set(lanes)),
        margin={"t": 20, "b": 40},
        legend={"orientation": "h", "y": -0.3},
    )
    return figure
