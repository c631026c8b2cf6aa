"""Explain's beeswarm and dependence plot, drawn on the server as PNG images.

Both draw a point per row of the global explanation's sample (2,000 rows; the beeswarm a
point per row and feature: 24,000 points for 12 features, 60,000 for all 30). Drawn in
the browser they made every visit to Explain slow without a GPU: Plotly's ``Scattergl``
sets up WebGL per chart, its SVG ``Scatter`` lays out 2,000 nodes, and Vega-Lite runs
Streamlit's expression interpreter per point; about 1.5 s each in headless chromium. As
images they cost the browser nothing, and the page caches them per version and choice.
The importance bars stay interactive. bench/README.md, "Explain warm", has the figures.

:func:`beeswarm_figure` and :func:`dependence_figure` build matplotlib figures (tests read
their axes); :func:`to_png` draws one.
"""

from __future__ import annotations

import io
import threading

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure  # not pyplot: its global state is not thread-safe
from matplotlib.ticker import FuncFormatter
from scipy.stats import rankdata

from core.schema import format_feature_value

DPI = 100
WIDTH_INCHES = 6.4
INCHES_PER_FEATURE = 0.32
POINT_AREA = 3.0
"""Beeswarm marker area in points squared: small, so 2,000 points per feature stay apart."""
AMOUNT_LOG_FLOOR = 0.01
"""Where an Amount of 0 sits on a log axis or a log colour scale."""
LOG_ODDS = "(log-odds)"
_drawing = threading.Lock()
"""Matplotlib keeps some state per process (its font cache, the mathtext parser): one
figure is drawn at a time. Images are cached, so sessions rarely wait on it."""


def to_png(figure: Figure) -> bytes:
    out = io.BytesIO()
    with _drawing:
        figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def value_rank(values: np.ndarray) -> np.ndarray:
    """Each value's rank in 0..1 for the beeswarm's colour; equal values share their rank
    (a constant feature is one colour), a missing value stays NaN (its point is not drawn;
    the loader rejects missing features, so none reach a global explanation)."""
    ranks = rankdata(values, method="average", nan_policy="omit")
    known = np.count_nonzero(~np.isnan(values))
    return (ranks - 1.0) / max(known - 1, 1)


def beeswarm_figure(
    features: pd.DataFrame, contributions: pd.DataFrame, order: list[str]
) -> Figure:
    """Each row's contribution per feature in ``order`` (top first), jittered within the
    feature's band, coloured by the rank of the row's value of that feature (blue low, red
    high). The jitter is seeded: the same data gives the same image."""
    if not order:
        raise ValueError("no feature to draw")
    rng = np.random.default_rng(0)
    figure = Figure(
        figsize=(WIDTH_INCHES, 0.9 + INCHES_PER_FEATURE * len(order)), dpi=DPI, layout="tight"
    )
    axes = figure.subplots()
    for position, name in enumerate(order):
        values = features[name].to_numpy(dtype=np.float64)
        rank = value_rank(values)
        points = axes.scatter(
            contributions[name].to_numpy(dtype=np.float64),
            position + rng.uniform(-0.3, 0.3, len(values)),
            c=rank,
            cmap="RdBu_r",
            vmin=0.0,
            vmax=1.0,
            s=POINT_AREA,
            linewidths=0,
            rasterized=True,
        )
    axes.set_yticks(range(len(order)), order)
    axes.set_ylim(len(order) - 0.5, -0.5)  # the top feature on top
    axes.axvline(0.0, color="#9e9e9e", linewidth=0.8, zorder=0)
    axes.set_xlabel(f"Contribution {LOG_ODDS}")
    axes.spines[["top", "right"]].set_visible(False)
    bar = figure.colorbar(points, ax=axes, ticks=[0.0, 1.0], fraction=0.04, pad=0.02)
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("feature value")
    return figure


def _amount_tick(value: float, _position: object = None) -> str:
    """An Amount on a log axis or colour bar: 0.01, 0.1, 1, 10, 100, 1,000."""
    return f"{value:g}" if value < 1 else f"{value:,.0f}"


def _amount_ticks(axis, values: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """Ticks written as amounts on a log axis: the decades; the ticks between them too when
    the values span less than a decade (else the axis would have no label at all)."""
    axis.set_major_formatter(FuncFormatter(_amount_tick))
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    within_a_decade = high < low * 10
    axis.set_minor_formatter(FuncFormatter(_amount_tick if within_a_decade else lambda v, p: ""))


def dependence_figure(
    features: pd.DataFrame, contributions: pd.DataFrame, feature: str, color_by: str
) -> Figure:
    """A feature's value against its contribution, coloured by another feature's value.

    Amount spans orders of magnitude (most rows small, a few huge): as the axis or the
    colour it gets a log scale, 0 drawn at ``AMOUNT_LOG_FLOOR``, ticks written as amounts.
    """
    if feature == color_by:
        raise ValueError("a feature cannot be coloured by itself")
    x = features[feature].to_numpy(dtype=np.float64)
    colour = features[color_by].to_numpy(dtype=np.float64)
    figure = Figure(figsize=(WIDTH_INCHES * 1.6, 4.0), dpi=DPI, layout="tight")
    axes = figure.subplots()
    norm: Normalize
    clipped = False
    if not len(x):
        raise ValueError("no rows to draw")
    low, high = float(np.nanmin(colour, initial=np.inf)), float(np.nanmax(colour, initial=-np.inf))
    if color_by == "Amount":
        colour = np.maximum(colour, AMOUNT_LOG_FLOOR)
        low = max(low, AMOUNT_LOG_FLOOR) if np.isfinite(low) else AMOUNT_LOG_FLOOR
        norm = LogNorm(vmin=low, vmax=high if np.isfinite(high) and high > low else low * 10)
    elif np.isfinite(low):
        # a few outliers would paint every other row one colour: the scale spans the 5th to
        # the 95th percentile, values beyond take its end colours (as SHAP's plots do)
        p5, p95 = (float(v) for v in np.nanpercentile(colour, [5, 95]))
        clipped = p95 > p5
        norm = Normalize(vmin=p5, vmax=p95, clip=True) if clipped else Normalize(low, high)
    else:
        norm = Normalize(0.0, 1.0)
    points = axes.scatter(
        np.maximum(x, AMOUNT_LOG_FLOOR) if feature == "Amount" else x,
        contributions[feature].to_numpy(dtype=np.float64),
        c=colour,
        cmap="viridis",
        norm=norm,
        s=9,
        linewidths=0,
        rasterized=True,
    )
    if feature == "Amount":
        axes.set_xscale("log")
        _amount_ticks(axes.xaxis, np.maximum(x, AMOUNT_LOG_FLOOR))
        zeros = bool((x <= 0).any())
        axes.set_xlabel(
            "Amount (log axis" + (f"; 0 drawn at {AMOUNT_LOG_FLOOR})" if zeros else ")")
        )
    else:
        axes.xaxis.set_major_formatter(
            FuncFormatter(lambda v, _p: format_feature_value(feature, v))
        )
        axes.set_xlabel(feature)
    axes.axhline(0.0, color="#9e9e9e", linewidth=0.8, zorder=0)
    axes.set_ylabel(f"Contribution of {feature} {LOG_ODDS}")
    axes.spines[["top", "right"]].set_visible(False)
    bar = figure.colorbar(points, ax=axes, fraction=0.04, pad=0.02)
    if color_by == "Amount":
        _amount_ticks(bar.ax.yaxis, colour)
        bar.set_label("Amount (log scale)")
    else:
        bar.set_label(f"{color_by} (5th-95th percentile)" if clipped else color_by)
    return figure
