"""Plotly figures shared by the pages."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from app.ui.format import format_probability, format_value
from core.explain import LOG_ODDS, RAW_LOG_ODDS
from core.registry import format_threshold

FRAUD_RED = "#b3261e"
LEGIT_BLUE = "#1a73e8"
LEGIT_GREY = "#5f6368"
TOP_FEATURES = 12
"""How many features the importance bars and the beeswarm (``app.ui.explain_images``) show
unless all are asked for."""


def plot_probability_gauge(probability: float, *, threshold: float) -> go.Figure:
    """A 0-100% gauge with the decision threshold marked.

    The number under the gauge is :func:`format_probability`'s text, the same as the page's,
    not plotly's own rounding (which showed "0.00%" beside "0.0004%").
    """
    figure = go.Figure(
        go.Indicator(
            mode="gauge",
            value=probability * 100,
            gauge={
                "axis": {"range": [0, 100]},
                "bar": {"color": FRAUD_RED if probability >= threshold else LEGIT_GREY},
                "threshold": {"line": {"color": "black", "width": 3}, "value": threshold * 100},
                "steps": [{"range": [threshold * 100, 100], "color": "#fbe9e7"}],
            },
            title={"text": "Fraud probability"},
        )
    )
    figure.add_annotation(
        text=f"<b>{format_probability(probability)}</b>",
        x=0.5,
        y=0.08,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 30},
    )
    figure.update_layout(height=260, margin={"t": 50, "b": 10, "l": 30, "r": 30})
    return figure


def _count_label(count: float) -> str:
    """1, 10, 100, 1k, 10k, 100k, 1M: a log axis a person reads at a glance."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= size:
            return f"{count / size:g}{suffix}"
    return f"{count:g}"


def plot_score_histogram(probability: np.ndarray, *, threshold: float, bins: int = 50) -> go.Figure:
    """Histogram of fraud probabilities on a log count axis, with the threshold marked.

    The counts are made here (numpy), so the browser gets ``bins`` bars, not every score.
    The axis ticks are powers of ten written 1, 10, 100, 1k...; it starts below 1, so a
    bin holding a single row is still a visible bar; every bar's hover gives its count.
    """
    counts, edges = np.histogram(np.asarray(probability, dtype=np.float64), bins=bins, range=(0, 1))
    centres = (edges[:-1] + edges[1:]) / 2
    top = max(int(counts.max(initial=0)), 1)
    decades = max(1, int(np.ceil(np.log10(top))))  # the top tick is >= the tallest bar
    ticks = [10.0**k for k in range(decades + 1)]
    figure = go.Figure(
        go.Bar(
            x=centres,
            y=np.where(counts > 0, counts, np.nan),  # an empty bin draws nothing
            width=(edges[1] - edges[0]) * 0.9,
            marker_color=[FRAUD_RED if c >= threshold else LEGIT_GREY for c in centres],
            customdata=np.stack([edges[:-1], edges[1:]], axis=1),
            hovertemplate="%{customdata[0]:.2f}-%{customdata[1]:.2f}: %{y:,} rows<extra></extra>",
            name="rows",
        )
    )
    figure.add_vline(
        x=threshold,
        line_color=FRAUD_RED,
        line_width=2,
        annotation_text=f"threshold {format_threshold(threshold)}",
    )
    figure.update_layout(
        xaxis={"title": "Fraud probability", "range": [0, 1]},
        yaxis={
            "title": "Rows (log scale)",
            "type": "log",
            # log10(0.5): a count of 1 rises from below the axis's first tick
            "range": [np.log10(0.5), np.log10(ticks[-1] * 1.5)],
            "tickvals": ticks,
            "ticktext": [_count_label(t) for t in ticks],
        },
        height=320,
        margin={"t": 30, "b": 40},
        showlegend=False,
    )
    return figure


def plot_waterfall(
    contributions: np.ndarray,
    base: float,
    values: np.ndarray,
    *,
    names: list[str],
    top: int = 10,
    scale: str = "log-odds",
) -> go.Figure:
    """Waterfall of one row's contributions (on ``scale``): base -> features -> total.

    The ``top`` largest by |contribution| are shown; the rest are summed into one bar. The
    total bar names its scale; on the log-odds scale (raw or Platt-calibrated versions) it
    also shows the probability it is, so the chart ties to the probability on the page.
    """
    order = np.argsort(-np.abs(contributions))
    shown, rest = order[:top], order[top:]
    labels = [f"{names[j]} = {format_value(names[j], float(values[j]))}" for j in shown]
    steps = [float(contributions[j]) for j in shown]
    if len(rest):
        labels.append(f"{len(rest)} other features")
        steps.append(float(contributions[rest].sum()))
    total = base + sum(steps)
    total_text = f"{total:.3f}"
    if scale == LOG_ODDS:
        total_text += f" = {format_probability(1.0 / (1.0 + np.exp(-total)))}"
    total_label = "total (uncalibrated log-odds)" if scale == RAW_LOG_ODDS else f"total ({scale})"
    # Bars start at the base value (the model's average log-odds), as SHAP waterfalls do,
    # so the features' pushes are not dwarfed by a bar from zero to the base.
    figure = go.Figure(
        go.Waterfall(
            orientation="h",
            base=base,
            y=[*labels, total_label],
            x=[*steps, 0.0],
            measure=[*(["relative"] * len(steps)), "total"],
            increasing={"marker": {"color": FRAUD_RED}},
            decreasing={"marker": {"color": LEGIT_BLUE}},
            totals={"marker": {"color": LEGIT_GREY}},
            text=[*(f"{c:+.3f}" for c in steps), total_text],
            textposition="auto",
        )
    )
    figure.add_vline(
        x=base,
        line_dash="dot",
        line_color=LEGIT_GREY,
        annotation_text=f"base {base:.2f}",
        annotation_position="top",
    )
    figure.update_layout(
        xaxis_title=f"Contribution to the fraud score ({scale})",
        yaxis={"autorange": "reversed"},
        height=100 + 34 * (len(labels) + 1),
        margin={"t": 20, "b": 40, "l": 10, "r": 10},
        showlegend=False,
    )
    return figure


def plot_importance(importance, *, top: int = TOP_FEATURES) -> go.Figure:  # type: ignore[no-untyped-def]
    """Mean |SHAP| per feature as horizontal bars, largest on top."""
    shown = importance.head(top)
    figure = go.Figure(
        go.Bar(x=shown.to_numpy(), y=shown.index, orientation="h", marker_color=FRAUD_RED)
    )
    figure.update_layout(
        xaxis_title="Mean |contribution| (log-odds)",
        yaxis={"autorange": "reversed"},
        height=60 + 24 * len(shown),
        margin={"t": 20, "b": 40},
    )
    return figure
