"""The drift page's parts: cached core calls, the window choice, the report and the heatmap.

Drift over production traffic is a sum of stored counts (cheap, cached for a minute); a
file's drift reads and scores the file once per upload digest.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler
from streamlit.delta_generator import DeltaGenerator

from app.ui.drift_charts import (
    HistogramMode,
    outer_shares,
    plot_feature_histogram,
    plot_psi_heatmap,
)
from app.ui.format import escape_markdown
from core.config import Settings
from core.drift import ColumnDrift, DriftReport, file_drift, psi_by_period, window_drift
from core.errors import NotFoundError
from core.registry import get_alias_version
from core.schema import count_text, noun_for

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
WINDOW_NAMES = {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days"}
BAND_COLOURS = {  # light backgrounds, dark text stays readable in both themes' tables
    "alert": "background-color: #f9d2ce; color: #3c0d0a",
    "warn": "background-color: #feefc3; color: #3c2a00",
    "ok": "background-color: #e6f4ea; color: #0d3a1a",
    "not judged": "background-color: #eceff1; color: #3c4043",
}
VERDICTS = {
    "drift": (":red-badge[:material/warning: Drift found]"),
    "no drift": (":green-badge[:material/check_circle: No drift]"),
    "not judged": (":gray-badge[:material/help: Not judged]"),
}


@st.cache_data(ttl=60, show_spinner="Summing the scoring events' drift counts...")
def window_reports(
    settings: Settings, start: datetime, end: datetime, newest: int | None
) -> list[DriftReport]:
    """``newest`` (core.drift.latest_event_id) keys the cache: new traffic is read at once."""
    return window_drift(settings, start=start, end=end)


@st.cache_resource(ttl=600, max_entries=4, show_spinner="Reading and scoring the file...")
def file_report(settings: Settings, digest: str, _data: bytes, name: str) -> DriftReport:
    """An uploaded CSV's drift against the live version (``digest`` keys the cache)."""
    buffer = io.BytesIO(_data)
    buffer.name = name
    return file_drift(settings, buffer, name=name)


@st.cache_data(ttl=60, show_spinner="Computing PSI per period...")
def psi_periods(
    settings: Settings,
    start: datetime,
    end: datetime,
    version: int,
    period: str,
    newest: int | None = None,
) -> pd.DataFrame:
    return psi_by_period(settings, start=start, end=end, version=version, period=period)  # type: ignore[arg-type]


def live_version(settings: Settings) -> int | None:
    """The version the live alias points at, None when unset.

    Raises:
        BackendError: the registry cannot be read (the page shows it: an upload is
            judged against the live version, and traffic is listed live first).
    """
    try:
        return get_alias_version(settings, settings.live_alias)
    except NotFoundError:
        return None


def pick_window(left: DeltaGenerator, right: DeltaGenerator) -> tuple[datetime, datetime, str]:
    """The window picker of the Drift and Monitoring pages: last 24 hours / 7 days / 30
    days, or a range of UTC days (the date input in ``right``). Returns (start, end, label)."""
    choice = left.selectbox(
        "Window",
        [*WINDOWS, "range"],
        index=1,
        format_func=lambda c: WINDOW_NAMES.get(c, "Date range"),
    )
    dates: tuple[date, ...] = ()
    if choice == "range":
        today = datetime.now(UTC).date()
        picked = right.date_input(
            "From and to (UTC days)", value=(today - timedelta(days=7), today)
        )
        dates = tuple(picked) if isinstance(picked, tuple | list) else (picked,)
    return window_bounds(choice, dates)


def window_bounds(
    choice: str, dates: tuple[date, ...] = (), *, now: datetime | None = None
) -> tuple[datetime, datetime, str]:
    """(start, end, label) of a window choice: ``24h``/``7d``/``30d`` ending now (to the
    minute, so reruns within a minute share the cache), or ``range``: whole UTC days from
    the first to the last of ``dates`` (one date: that day)."""
    if choice == "range":
        first, last = (dates[0], dates[-1]) if dates else (date.today(), date.today())
        start = datetime.combine(first, time(), tzinfo=UTC)
        end = datetime.combine(last, time(), tzinfo=UTC) + timedelta(days=1)
        return start, end, f"{first:%Y-%m-%d} to {last:%Y-%m-%d} (UTC days)"
    end = (now or datetime.now(UTC)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return end - WINDOWS[choice], end, WINDOW_NAMES[choice].lower()


def feature_table(columns: list[ColumnDrift]) -> pd.DataFrame:
    """One row per feature, in the report's order (band, then PSI, highest first)."""
    return pd.DataFrame.from_records(
        [
            {
                "feature": c.name,
                "band": c.band,
                "PSI": c.psi,
                "KS": c.ks,
                "KS p-value": c.ks_pvalue,
                "Wasserstein / SD": c.wasserstein,
                "outside reference range": c.outside,
                "rows": c.rows,
                "note": c.note or "",
            }
            for c in columns
        ]
    )


def style_bands(table: pd.DataFrame) -> Styler:
    """Each row coloured by its band."""
    return table.style.apply(
        lambda row: [BAND_COLOURS.get(row["band"], "")] * len(row), axis=1
    ).format(
        {
            "PSI": "{:.3f}",
            "KS": "{:.3f}",
            "KS p-value": "{:.2g}",
            "Wasserstein / SD": "{:.3f}",
            "outside reference range": "{:.2%}",
            "rows": "{:,}",
        },
        na_rep="",
    )


def table_config() -> dict[str, object]:
    return {
        "PSI": st.column_config.NumberColumn(help="Population stability index on deciles"),
        "KS p-value": st.column_config.NumberColumn(
            "KS p-value (information only)",
            help="At production sizes every p-value is tiny: it does not flag anything.",
        ),
        "Wasserstein / SD": st.column_config.NumberColumn(
            help="Wasserstein distance divided by the reference's standard deviation"
        ),
        "outside reference range": st.column_config.NumberColumn(
            help="Share of current rows below the reference's minimum or above its maximum"
        ),
    }


def render_report(report: DriftReport, *, key: str) -> None:
    """One report: verdict, queue impact, score drift, warnings, features, a histogram."""
    st.markdown(
        f"{VERDICTS[report.verdict]} **{escape_markdown(report.model_name)}** version "
        f"**{report.version}** · {count_text(report.rows, 'row')} · "
        f"{escape_markdown(report.current)} · "
        f"reference: {escape_markdown(report.reference)}"
    )
    if report.queue is not None:
        change = report.queue.change
        icon = ":material/trending_up:" if (change or 0) > 0 else ":material/trending_flat:"
        st.markdown(f"#### {icon} {escape_markdown(report.queue.sentence())}")
    else:
        st.caption("No queue impact: the version has no threshold or no reference alert rate.")
    thresholds = report.thresholds
    share = "n/a" if report.drift_share is None else f"{report.drift_share:.0%}"
    flagged = ", ".join(report.flagged) or "none"
    left, middle, right = st.columns(3)
    left.metric("Drift share", share, help="Share of judged features past the alert PSI")
    middle.metric("Flagged features", len(report.flagged))
    score = report.score
    right.metric(
        "Score PSI",
        "n/a" if score is None or score.psi is None else f"{score.psi:.3f}",
        help="The model's score distribution against the reference's validation scores",
    )
    st.markdown(f"**Flagged** (PSI >= {thresholds.psi_alert:g}): {escape_markdown(flagged)}")
    for warning in report.warnings:
        st.warning(warning, icon=":material/warning:")

    table = feature_table(report.columns)
    st.dataframe(style_bands(table), hide_index=True, width="stretch", column_config=table_config())
    st.caption(
        f"Bands: ok under PSI {thresholds.psi_warn:g}, warn from {thresholds.psi_warn:g}, "
        f"alert from {thresholds.psi_alert:g}; not judged under "
        f"{count_text(thresholds.min_rows, 'row')} "
        f"or for the reason in the note. Left out: {', '.join(thresholds.excluded) or 'none'}."
    )
    if score is not None and len(score.edges):
        st.markdown(
            f"**Score distribution**: PSI {_format(score.psi, '.3f')}, "
            f"KS {_format(score.ks, '.3f')}, {score.band}"
            + (f" ({escape_markdown(score.note)})" if score.note else "")
        )
        render_histogram(score, key=f"{key}_score", mode="shares")
    by_name = {c.name: c for c in report.columns if len(c.edges)}
    if not by_name:
        return
    left, right = st.columns([2, 1])
    chosen = left.selectbox("Feature", list(by_name), key=f"{key}_feature")
    mode = right.radio(
        "Show",
        ["shares", "density"],
        format_func={"shares": "Share per bin", "density": "Density on the value axis"}.get,
        key=f"{key}_mode",
        horizontal=True,
    )
    render_histogram(by_name[chosen], key=f"{key}_feature", mode=mode)


def _format(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def render_histogram(column: ColumnDrift, *, key: str, mode: HistogramMode) -> None:
    """A column's reference-vs-current histogram, with what the open outer bins hold."""
    st.plotly_chart(plot_feature_histogram(column, mode=mode), width="stretch", key=f"{key}_hist")
    outer = "; ".join(
        f"{label}: {ref:.2%} of the reference, {now:.2%} now"
        for label, (ref, now) in outer_shares(column).items()
    )
    st.caption(
        "Bins are the reference's quantiles, so they differ in width. "
        + (
            "Each bar is a bin's share of rows; the outer bins are open-ended. "
            if mode == "shares"
            else "Bars are share / width inside the reference's range; the open outer bins "
            "have no width and are not drawn. "
        )
        + outer
    )


def render_heatmap(
    settings: Settings,
    start: datetime,
    end: datetime,
    versions: list[int],
    *,
    newest: int | None,
    key: str,
) -> None:
    """PSI per feature and day (or week) of one version's traffic in the window."""
    left, right = st.columns(2)
    version = left.selectbox("Version", versions, key=f"{key}_version")
    period = right.radio("Period", ["day", "week"], horizontal=True, key=f"{key}_period")
    frame = psi_periods(settings, start, end, version, period, newest)
    if frame.empty:
        st.info("No scoring events with drift counts for this version in the window.")
        return
    thresholds_warn, thresholds_alert = settings.drift_psi_warn, settings.drift_psi_alert
    st.plotly_chart(
        plot_psi_heatmap(frame, warn=thresholds_warn, alert=thresholds_alert),
        width="stretch",
        key=f"{key}_heatmap",
    )
    features = [c for c in frame.columns if c != "rows"]
    blank = int(np.isnan(frame[features].to_numpy(dtype=float)).all(axis=1).sum())
    note = (
        f" {count_text(blank, 'period')} {noun_for(blank, 'is', 'are')} blank: under "
        f"{count_text(settings.drift_min_rows, 'row')}, too few to judge."
        if blank
        else ""
    )
    st.caption(f"PSI per {period} (period start, UTC); rows per period on hover.{note}")
