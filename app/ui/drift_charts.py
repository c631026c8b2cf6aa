"""Plotly figures of the drift page: a feature's bins against its reference, PSI per period.

A feature's bins are its reference's quantiles, so they differ in width: the histogram is
either each bin's share on a bin-by-bin axis (the reference is nearly flat there), or a
density (share / width) on the value axis. The two outer bins are open (everything below
the reference's minimum, everything above its maximum): they have no width, so the density
view leaves them out and says what they hold.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.drift import ColumnDrift

REFERENCE_COLOUR = "#5f6368"
CURRENT_COLOUR = "#1a73e8"
HistogramMode = Literal["shares", "density"]


def _number(x: float) -> str:
    return f"{x:.4g}"


def bin_labels(edges: np.ndarray) -> list[str]:
    """One label per bin: "<= min (e0)", "(e0, e1]", ..., "> max (e_last)".

    The lowest bin is closed at the reference's minimum (it holds values equal to it too).
    """
    inner = [f"({_number(a)}, {_number(b)}]" for a, b in pairwise(edges)]
    return [f"<= min ({_number(edges[0])})", *inner, f"> max ({_number(edges[-1])})"]


def outer_shares(column: ColumnDrift) -> dict[str, tuple[float, float]]:
    """The open outer bins' (reference, current) shares, by label."""
    ref, now = column.reference_share, column.current_share
    return {
        f"<= min ({_number(column.edges[0])})": (float(ref[0]), float(now[0])),
        f"> max ({_number(column.edges[-1])})": (float(ref[-1]), float(now[-1])),
    }


def plot_feature_histogram(column: ColumnDrift, *, mode: HistogramMode = "shares") -> go.Figure:
    """Reference against current for one column.

    ``shares``: each bin's share of rows, bins in order on a categorical axis, the open outer
    bins included. ``density``: share / bin width on the value axis, inner bins only.
    """
    figure = go.Figure()
    edges = column.edges
    if len(edges) < 2:  # a constant reference: one value, nothing to draw but two bins
        mode = "shares"
    if mode == "shares":
        labels = bin_labels(edges)
        for name, share, colour in (
            ("reference", column.reference_share, REFERENCE_COLOUR),
            ("current", column.current_share, CURRENT_COLOUR),
        ):
            figure.add_trace(
                go.Bar(
                    x=labels,
                    y=share,
                    name=name,
                    marker_color=colour,
                    opacity=0.7,
                    hovertemplate="%{x}<br>share %{y:.2%}<extra>" + name + "</extra>",
                )
            )
        figure.update_layout(barmode="overlay", bargap=0.05)
        figure.update_xaxes(title="bin (reference quantiles, in order)", showticklabels=False)
        figure.update_yaxes(title="share of rows", tickformat=".1%")
    else:
        widths = np.diff(edges)
        middles = edges[:-1] + widths / 2
        for name, share, colour in (
            ("reference", column.reference_share, REFERENCE_COLOUR),
            ("current", column.current_share, CURRENT_COLOUR),
        ):
            figure.add_trace(
                go.Bar(
                    x=middles,
                    y=share[1:-1] / widths,
                    width=widths,
                    name=name,
                    marker_color=colour,
                    opacity=0.6,
                    customdata=share[1:-1],
                    hovertemplate="%{x:.4g}<br>density %{y:.4g}<br>share %{customdata:.2%}"
                    "<extra>" + name + "</extra>",
                )
            )
        figure.update_layout(barmode="overlay", bargap=0)
        figure.update_xaxes(title=f"{column.name} (inside the reference's range)")
        figure.update_yaxes(title="density (share / bin width)")
    figure.update_layout(
        height=340,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.12},
        title={"text": column.name, "font": {"size": 14}},
    )
    return figure


def plot_psi_heatmap(frame: pd.DataFrame, *, warn: float, alert: float) -> go.Figure:
    """Features (rows) x periods (columns) of PSI; NaN (too few rows) left blank.

    The colour scale is green under ``warn``, amber to ``alert``, red beyond, capped at
    twice ``alert`` so one extreme cell does not wash out the rest.
    """
    features = [c for c in frame.columns if c != "rows"]
    values = frame[features].to_numpy(dtype=float).T
    top = max(2 * alert, float(np.nanmax(values)) if np.isfinite(values).any() else 0.0)
    top = min(top, 2 * alert)
    scale = [
        [0.0, "#e6f4ea"],
        [warn / top, "#a8dab5"],
        [warn / top, "#fde293"],
        [alert / top, "#f9ab00"],
        [alert / top, "#f28b82"],
        [1.0, "#b3261e"],
    ]
    periods = [f"{t:%Y-%m-%d}" for t in frame.index]
    rows = frame["rows"].to_numpy() if "rows" in frame else np.zeros(len(frame))
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=periods,
            y=features,
            zmin=0.0,
            zmax=top,
            colorscale=scale,
            customdata=np.broadcast_to(rows, values.shape),
            hovertemplate="%{y}, from %{x}<br>PSI %{z:.3f}<br>%{customdata:,.0f} rows"
            "<extra></extra>",
            hoverongaps=False,
            colorbar={"title": "PSI"},
            xgap=1,
            ygap=1,
        )
    )
    figure.update_layout(
        height=max(320, 22 * len(features) + 80),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"type": "category", "title": "period start (UTC)"},
        yaxis={"autorange": "reversed"},
    )
    return figure
