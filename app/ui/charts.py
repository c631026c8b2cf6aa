"""Plotly figures shared by the pages."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

FRAUD_RED = "#b3261e"
LEGIT_GREY = "#5f6368"


def plot_probability_gauge(probability: float, *, threshold: float) -> go.Figure:
    """A 0-100% gauge with the decision threshold marked."""
    figure = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=probability * 100,
            number={"suffix": "%", "valueformat": ".2f"},
            gauge={
                "axis": {"range": [0, 100]},
                "bar": {"color": FRAUD_RED if probability >= threshold else LEGIT_GREY},
                "threshold": {"line": {"color": "black", "width": 3}, "value": threshold * 100},
                "steps": [{"range": [threshold * 100, 100], "color": "#fbe9e7"}],
            },
            title={"text": "Fraud probability"},
        )
    )
    figure.update_layout(height=260, margin={"t": 50, "b": 10, "l": 30, "r": 30})
    return figure


def plot_score_histogram(probability: np.ndarray, *, threshold: float) -> go.Figure:
    """Histogram of fraud probabilities (log count axis) with the threshold marked."""
    figure = go.Figure(
        go.Histogram(
            x=probability,
            xbins={"start": 0, "end": 1, "size": 0.02},
            marker_color=LEGIT_GREY,
            name="rows",
        )
    )
    figure.add_vline(
        x=threshold,
        line_color=FRAUD_RED,
        line_width=2,
        annotation_text=f"threshold {threshold:.3f}",
    )
    figure.update_layout(
        xaxis_title="Fraud probability",
        yaxis_title="Rows (log scale)",
        yaxis_type="log",
        height=320,
        margin={"t": 30, "b": 40},
        bargap=0.05,
    )
    return figure
