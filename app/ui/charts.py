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
"""How many features the importance bars and the beeswarm show unless all are asked for."""
AMOUNT_LOG_FLOOR = 0.01
"""Where an Amount of 0 sits on a log axis (its hover text keeps the true value)."""


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


def plot_beeswarm(features, contributions, order: list[str]) -> go.Figure:  # type: ignore[no-untyped-def]
    """Each row's contribution per feature (jittered), coloured by the feature's value rank."""
    rng = np.random.default_rng(0)
    figure = go.Figure()
    for position, name in enumerate(order):
        values = features[name].to_numpy()
        rank = values.argsort().argsort() / max(len(values) - 1, 1)
        figure.add_trace(
            go.Scattergl(
                x=contributions[name].to_numpy(),
                y=position + rng.uniform(-0.3, 0.3, len(values)),
                mode="markers",
                marker={
                    "size": 4,
                    "color": rank,
                    "colorscale": "RdBu_r",
                    "cmin": 0,
                    "cmax": 1,
                    "showscale": position == 0,
                    "colorbar": {"title": "feature value<br>(low → high)", "tickvals": []},
                },
                name=name,
                hovertemplate=f"{name}: %{{customdata:.3g}}<br>contribution %{{x:.3f}}",
                customdata=values,
                showlegend=False,
            )
        )
    figure.update_layout(
        xaxis_title="Contribution (log-odds)",
        yaxis={"tickvals": list(range(len(order))), "ticktext": order, "autorange": "reversed"},
        height=60 + 28 * len(order),
        margin={"t": 20, "b": 40},
    )
    return figure


def _amount_label(amount: float) -> str:
    """An Amount on a log colour bar: 0.01, 0.1, 1, 10, 100, 1,000, 10,000."""
    return f"{amount:g}" if amount < 1 else f"{amount:,.0f}"


def colour_scale(values: np.ndarray, name: str) -> tuple[np.ndarray, dict[str, object]]:
    """The marker colours for a feature's values and their colour bar.

    Amount spans orders of magnitude (most rows are small, a few huge): coloured linearly,
    nearly every point gets the same colour. It is coloured by log10(Amount) (0 drawn at
    ``AMOUNT_LOG_FLOOR``) and the bar's ticks are written as amounts: 1, 10, 100, 1,000.
    """
    if name != "Amount":
        return values, {"title": name}
    logs = np.log10(np.maximum(np.asarray(values, dtype=np.float64), AMOUNT_LOG_FLOOR))
    decades = range(int(np.floor(logs.min(initial=0.0))), int(np.ceil(logs.max(initial=0.0))) + 1)
    return logs, {
        "title": "Amount<br>(log scale)",
        "tickvals": list(decades),
        "ticktext": [_amount_label(10.0**k) for k in decades],
    }


def plot_dependence(features, contributions, feature: str, color_by: str) -> go.Figure:  # type: ignore[no-untyped-def]
    """A feature's value against its contribution, coloured by another feature's value.

    Amount spans several orders of magnitude: it gets a log axis, with 0 drawn at
    ``AMOUNT_LOG_FLOOR`` (the hover shows the true value), and as the colour a log colour
    scale (:func:`colour_scale`).
    """
    if feature == color_by:
        raise ValueError("a feature cannot be coloured by itself")
    x = features[feature].to_numpy(dtype=np.float64)
    log_x = feature == "Amount"
    colours, colour_bar = colour_scale(features[color_by].to_numpy(dtype=np.float64), color_by)
    figure = go.Figure(
        go.Scattergl(
            x=np.maximum(x, AMOUNT_LOG_FLOOR) if log_x else x,
            y=contributions[feature],
            customdata=x,
            mode="markers",
            marker={
                "size": 5,
                "color": colours,
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": colour_bar,
            },
            hovertemplate=f"{feature} %{{customdata:.2f}}<br>contribution %{{y:.3f}}"
            "<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis_title=f"{feature} (log axis; 0 drawn at {AMOUNT_LOG_FLOOR})" if log_x else feature,
        xaxis_type="log" if log_x else "linear",
        yaxis_title=f"Contribution of {feature} (log-odds)",
        height=380,
        margin={"t": 20, "b": 40},
    )
    return figure
