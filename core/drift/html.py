"""A drift report as one self-contained HTML page: for a scheduler to keep, mail or attach.

Nothing is loaded from the network: the styles are inline and the charts are PNG images
embedded as base64 ``data:`` URIs, so the file reads the same offline, years later. Every
string that came from outside (file names, feature names, warnings) is escaped.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

import numpy as np

from core.drift.report import ColumnDrift, DriftReport

MAX_HISTOGRAMS = 8
"""Histograms per report: the flagged features, most drifted first, up to this many."""

_BAND_COLOURS = {
    "alert": "#f8d7da",
    "warn": "#fff3cd",
    "ok": "#d1e7dd",
    "not judged": "#e9ecef",
}
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #212529; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.verdict { padding: 0.8em 1em; border-radius: 6px; font-size: 1.15em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child, td.band { text-align: left; }
.charts img { width: 100%; max-width: 28em; margin: 0.3em; }
.warnings li { color: #664d03; }
.muted { color: #6c757d; }
"""


def render_html(
    reports: Sequence[DriftReport],
    *,
    title: str = "Drift report",
    generated_at: datetime | None = None,
    empty_note: str = "No drift report: there was nothing to judge.",
) -> str:
    """One HTML page for the drift reports (one per version).

    Args:
        reports: the reports, in the order to show them.
        title: the page's heading.
        generated_at: when the reports were made (default: now, UTC).
        empty_note: what the page says when ``reports`` is empty.

    Returns:
        The page, self-contained (inline styles, embedded images).
    """
    moment = (generated_at or datetime.now(UTC)).astimezone(UTC)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="muted">Generated {moment:%Y-%m-%d %H:%M:%S} UTC</p>',
    ]
    if not reports:
        parts.append(f"<p>{escape(empty_note)}</p>")
    parts.extend(_section(report) for report in reports)
    parts.append("</body></html>")
    return "\n".join(parts)


def verdict_sentence(report: DriftReport) -> str:
    """The verdict in one sentence: drift found / no drift / not judged, and why."""
    t = report.thresholds
    judged = [c for c in report.columns if c.band != "not judged"]
    if report.verdict == "drift":
        return (
            f"Drift found: {len(report.flagged)} of {len(judged)} judged features reach PSI "
            f"{t.psi_alert:g} ({', '.join(report.flagged)}); drift share "
            f"{report.drift_share:.1%}"
        )
    if report.verdict == "no drift":
        top = max(judged, key=lambda c: c.psi or 0.0)
        return (
            f"No drift: none of {len(judged)} judged features reaches PSI {t.psi_alert:g} "
            f"(largest: {top.name}, {top.psi:.3f})"
        )
    why = report.warnings[0] if report.warnings else "nothing could be judged"
    return f"Not judged: {why}"


def _section(report: DriftReport) -> str:
    t = report.thresholds
    colour = _BAND_COLOURS[
        {"drift": "alert", "no drift": "ok", "not judged": "not judged"}[report.verdict]
    ]
    excluded = ", ".join(t.excluded) or "none"
    rows = [
        f"<h2>{escape(report.model_name)} version {report.version}</h2>",
        f'<div class="verdict" style="background:{colour}">'
        f"<strong>{escape(verdict_sentence(report))}</strong></div>",
        f"<p>Current: {escape(report.current or 'unnamed')} ({report.rows:,} rows), against "
        f"the version's {escape(report.reference)} reference. PSI warns from {t.psi_warn:g} "
        f"and alerts from {t.psi_alert:g}; at least {t.min_rows:,} rows are needed for a "
        f"verdict; left out: {escape(excluded)}.</p>",
    ]
    if report.queue is not None:
        rows.append(f"<p><strong>Alert queue:</strong> {escape(report.queue.sentence())}</p>")
    if report.warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in report.warnings)
        rows.append(f'<p>Warnings:</p><ul class="warnings">{items}</ul>')
    rows.append(_table(report.columns, report.score))
    rows.append(
        "<p><small>PSI: population stability index on the reference's deciles (the flag). "
        "KS: the largest gap between the two distributions (0 to 1; information only). "
        "Wasserstein / SD: how far values moved, in reference standard "
        "deviations. Outside reference range: the share of current values beyond it. "
        "The score row is the model's own output; it is not counted among the features."
        "</small></p>"
    )
    charts = [c for c in report.columns if c.band == "alert"][:MAX_HISTOGRAMS]
    images = [_img(c, f"{c.name}: PSI {c.psi:.3f}") for c in charts if len(c.edges) > 1]
    if report.score is not None and len(report.score.edges) > 1:
        images.append(_img(report.score, "Score (fraud probability)", log_y=True))
    if images:
        heading = "Flagged features and the score" if charts else "The score"
        rows.append(f'<h3>{heading}: reference against current</h3><div class="charts">')
        rows.extend(images)
        rows.append("</div>")
    return "\n".join(rows)


def _number(value: float | None, form: str) -> str:
    return "" if value is None or not np.isfinite(value) else format(value, form)


def _table(columns: Sequence[ColumnDrift], score: ColumnDrift | None) -> str:
    head = (
        "<table><tr><th>Feature</th><th>Band</th><th>PSI</th><th>KS</th>"
        "<th>Wasserstein / SD</th><th>Outside reference range</th><th>Note</th></tr>"
    )
    body = [head]
    for column in [*columns, *([score] if score is not None else [])]:
        body.append(
            f'<tr style="background:{_BAND_COLOURS[column.band]}">'
            f"<td>{escape(column.name)}</td><td class=band>{escape(column.band)}</td>"
            f"<td>{_number(column.psi, '.3f')}</td><td>{_number(column.ks, '.3f')}</td>"
            f"<td>{_number(column.wasserstein, '.3f')}</td>"
            f"<td>{_number(column.outside, '.2%')}</td>"
            f"<td class=band>{escape(column.note or '')}</td></tr>"
        )
    body.append("</table>")
    return "".join(body)


def _img(column: ColumnDrift, caption: str, *, log_y: bool = False) -> str:
    data = base64.b64encode(plot_histogram_png(column, caption, log_y=log_y)).decode("ascii")
    return f'<img alt="{escape(caption)}" src="data:image/png;base64,{data}">'


def plot_histogram_png(column: ColumnDrift, caption: str, *, log_y: bool = False) -> bytes:
    """Reference against current density on the column's bins, as PNG bytes.

    The inner bins are drawn as densities (share / width: the reference's quantile bins
    have unequal widths); the open outer bins have no width, so their shares are in the
    legend instead.
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: the image goes into a file, never a window
    import matplotlib.pyplot as plt

    edges = column.edges
    width = np.diff(edges)
    reference = column.reference_share[1:-1] / width
    current = column.current_share[1:-1] / width
    outside = (
        f"below/above range: {column.reference_share[0]:.1%}/{column.reference_share[-1]:.1%}",
        f"{column.current_share[0]:.1%}/{column.current_share[-1]:.1%}",
    )
    figure, axis = plt.subplots(figsize=(5.6, 3.0), dpi=90)
    try:
        axis.stairs(reference, edges, label=f"reference ({outside[0]})", color="#6c757d")
        axis.stairs(current, edges, label=f"current ({outside[1]})", color="#dc3545")
        if log_y:
            axis.set_yscale("log")
        axis.set_title(caption, fontsize=10)
        axis.set_ylabel("density", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.legend(fontsize=7)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return buffer.getvalue()
