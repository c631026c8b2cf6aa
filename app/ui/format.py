"""Formatters shared by the pages."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from core.ranking import ScoreRank
from core.schema import count_text, format_brier, format_feature_value, noun_for

HEADLINE_METRICS: list[tuple[str, str]] = [
    ("auprc", "AUPRC"),
    ("roc_auc", "ROC-AUC"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("f1", "F1"),
    ("brier", "Brier"),  # to its significant digits: good models score near 0.001
]


def format_metric(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_headline(key: str, value: float | None) -> str:
    """One of :data:`HEADLINE_METRICS` as the pages show it: three decimals, a Brier score
    to three significant digits (:func:`core.schema.format_brier`, as the command line)."""
    if value is None:
        return "n/a"
    return format_brier(value) if key == "brier" else format_metric(value)


def weighted_caption(fraction: float | None) -> str:
    """What the weighted metrics beside a version's raw ones are, from its sampling fraction."""
    if fraction is None:
        return "No sampling fraction is stored with this version, so no weighted metrics."
    if fraction == 1:
        return "Sampling fraction 1: the metrics weighted to the natural prevalence are these."
    return (
        f"Weighted: at the natural prevalence (legitimate rows sampled at {fraction:.4g}, "
        f"each counted {1 / fraction:,.1f} times)."
    )


def format_time(moment: datetime, *, seconds: bool = False) -> str:
    """Local time to the minute (or second), with its zone: ``2025-03-01 14:02 CET``."""
    return moment.astimezone().strftime(f"%Y-%m-%d %H:%M{':%S' if seconds else ''} %Z")


def text_or_dash(value: object, digits: int | None = None) -> str:
    """A table cell: ``-`` where there is nothing (None), a float to ``digits`` decimals."""
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if digits is not None else str(value)


# Characters that can start markup mid-line (emphasis, links, HTML, tables, LaTeX,
# strikethrough, Streamlit's :icon: and :color[...] directives). CommonMark lets a backslash
# escape any of them.
_MARKDOWN_SPECIAL = "\\`*_[]<>|~$:"


def escape_markdown(text: str) -> str:
    """Text shown as itself inside Streamlit markdown (a name cannot become a link)."""
    return "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in text)


def format_probability(probability: float) -> str:
    """A probability as a percentage, to the digits it has; the same text everywhere.

    The rule, by the distance ``d`` to the nearer end (0 or 1):

    - near 1, ``1 - p < 0.001``: the bound ``"> 99.9%"`` (a model's 0.9999996 is not more
      certain than 0.9995 in any way a person can use; 1.0 is shown the same way);
    - near 0, ``p < 0.001``: two significant digits, ``"0.018%"``, down to the bound
      ``"< 0.0001%"`` below one in a million. Not a bound at 0.1%: a version calibrated
      to the natural prevalence (0.17% fraud) puts real distinctions, and its threshold,
      down there (``"0.0004%"`` beside a gauge's ``"0.00%"`` was the bug, not the digits);
    - ``d < 0.01``: two decimals, ``"0.42%"``, ``"99.58%"``;
    - otherwise one decimal, ``"42.3%"``.

    NaN is ``"n/a"``.
    """
    if probability != probability:  # NaN
        return "n/a"
    if probability < 0.000001:
        return "< 0.0001%"
    if probability < 0.001:
        percent = float(f"{probability * 100:.2g}")
        return np.format_float_positional(percent, precision=2, fractional=False) + "%"
    if probability > 0.999:
        return "> 99.9%"
    digits = 2 if min(probability, 1 - probability) < 0.01 else 1
    return f"{probability * 100:.{digits}f}%"


def _share_text(share: float) -> str:
    """A share in percent: whole above 10%, one decimal above 1%, two significant digits
    below (never in exponent notation)."""
    percent = share * 100
    # Judged on the rounded text, so 9.96% reads "10%" (not "10.0%") and 0.996% "1.0%"
    # (not "1%").
    if round(percent, 1) >= 10:
        return f"{percent:.0f}%"
    if float(f"{percent:.2g}") >= 1:
        return f"{percent:.1f}%"
    return np.format_float_positional(percent, precision=2, fractional=False, trim="-") + "%"


def format_rank(rank: ScoreRank, *, of: str = "the test split") -> str:
    """Where a score stands among reference rows: ``"top 0.2% of the test split (11 of
    5,412 rows score as high or higher)"``, or from the bottom for the lower half, or
    ``"above every row of ..."``."""
    if rank.rows == 0:
        return f"no rows in {of} to rank against"
    rows = count_text(rank.rows, "row")
    if rank.at_or_above == 0:
        return f"above every row of {of} ({rows})"
    if rank.top_share <= 0.5:
        return (
            f"top {_share_text(rank.top_share)} of {of} ({rank.at_or_above:,} of {rows} "
            f"{noun_for(rank.at_or_above, 'scores', 'score')} as high or higher)"
        )
    if rank.at_or_below == 0:
        return f"below every row of {of} ({rows})"
    return (
        f"bottom {_share_text(rank.bottom_share)} of {of} ({rank.at_or_below:,} of {rows} "
        f"{noun_for(rank.at_or_below, 'scores', 'score')} as low or lower)"
    )


def format_value(name: str, value: float) -> str:
    """A feature value (see :func:`core.schema.format_feature_value`): ``Time`` in whole
    seconds, ``Amount`` with two decimals, V1..V28 to at most three decimals."""
    return format_feature_value(name, value)
