"""Formatters shared by the pages."""

from __future__ import annotations

from datetime import datetime

HEADLINE_METRICS: list[tuple[str, str]] = [
    ("auprc", "AUPRC"),
    ("roc_auc", "ROC-AUC"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("f1", "F1"),
    ("brier", "Brier"),  # shown with 4 digits: good models score near 0.001
]


def format_metric(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


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
