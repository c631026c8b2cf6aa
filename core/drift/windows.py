"""Drift over a window of production traffic: the sum of its scoring events' counts.

Each complete scoring event stores its rows summarised on the version's drift bins
(``scoring_events.drift_counts``), so a week costs what a day costs: no row is read again.
A window that spans an alias move is reported per version.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from core.audit.writer import COMPLETE
from core.config import Settings
from core.db.engine import get_engine
from core.db.errors import describe_error
from core.db.models import ScoringEvent
from core.drift.counts import DriftCounts
from core.drift.current import drift_thresholds
from core.drift.report import DriftReport, DriftThresholds, compute_drift
from core.drift.sketch import ReferenceSketch, get_reference_sketch
from core.drift.stats import compute_psi
from core.errors import BackendError, InputError, NotFoundError
from core.registry import get_version

Period = Literal["day", "week"]


@dataclass(frozen=True)
class WindowEvent:
    """One complete scoring event with drift counts, as read from the audit log."""

    created_at: datetime
    version: int
    rows: int
    alerts: int
    threshold: float
    counts: DriftCounts


def parse_window(text: str, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """``7d``, ``24h``, ``2w`` or ``30m`` -> (start, end=now), timezone-aware UTC.

    Raises:
        InputError: not a positive number followed by m, h, d or w.
    """
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    value, unit = text.strip()[:-1], text.strip()[-1:].lower()
    problem = f"window {text!r}: expected a number and a unit, e.g. 7d, 24h, 2w, 30m"
    try:
        amount = float(value)
    except ValueError:
        amount = float("nan")
    if text.strip()[-1:] == "M" or unit not in units or not np.isfinite(amount):
        raise InputError(problem)  # "1M" is not read as a minute: months are not a unit
    if amount <= 0:
        raise InputError(f"{problem}; the window must be longer than zero")
    end = now or datetime.now(UTC)
    try:
        return end - timedelta(**{units[unit]: amount}), end
    except OverflowError:
        raise InputError(f"{problem} (at most {datetime.min:%Y} years back)") from None


def as_utc(moment: datetime) -> datetime:
    """In UTC: a naive time is taken as UTC, an aware one converted (SQLite compares the
    stored UTC text, so a bound in another zone must be converted first)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def list_window_events(
    settings: Settings, *, start: datetime, end: datetime, version: int | None = None
) -> list[WindowEvent]:
    """The registered model's complete scoring events in [start, end) that carry drift
    counts, oldest first.

    Raises:
        BackendError: the app database failed.
    """
    query = (
        select(
            ScoringEvent.created_at,
            ScoringEvent.model_version,
            ScoringEvent.rows_scored,
            ScoringEvent.alerts,
            ScoringEvent.threshold,
            ScoringEvent.drift_counts,
        )
        .where(
            ScoringEvent.model_name == settings.model_name,
            ScoringEvent.status == COMPLETE,
            ScoringEvent.created_at >= as_utc(start),
            ScoringEvent.created_at < as_utc(end),
            ScoringEvent.drift_counts.is_not(None),
        )
        .order_by(ScoringEvent.created_at)
    )
    if version is not None:
        query = query.where(ScoringEvent.model_version == version)
    try:
        with get_engine(settings).connect() as connection:
            rows = connection.execute(query).all()
    except SQLAlchemyError as exc:
        raise BackendError(f"reading the scoring events: {describe_error(exc)}") from exc
    return [
        WindowEvent(
            created_at=as_utc(r.created_at),
            version=int(r.model_version),
            rows=int(r.rows_scored),
            alerts=int(r.alerts),
            threshold=float(r.threshold),
            counts=DriftCounts.from_json(r.drift_counts),
        )
        for r in rows
    ]


def latest_event_id(settings: Settings) -> int | None:
    """The newest complete scoring event's id for the registered model (None: none):
    a cheap marker that changes when traffic arrives, for caches of window results.

    Raises:
        BackendError: the app database failed.
    """
    query = select(func.max(ScoringEvent.id)).where(
        ScoringEvent.model_name == settings.model_name, ScoringEvent.status == COMPLETE
    )
    try:
        with get_engine(settings).connect() as connection:
            found = connection.execute(query).scalar()
    except SQLAlchemyError as exc:
        raise BackendError(f"reading the scoring events: {describe_error(exc)}") from exc
    return None if found is None else int(found)


def window_drift(
    settings: Settings,
    *,
    start: datetime,
    end: datetime,
    thresholds: DriftThresholds | None = None,
    version: int | None = None,
) -> list[DriftReport]:
    """Drift of the production traffic in [start, end), one report per version that
    scored in it (newest version first), or of ``version``'s traffic only.

    Events counted on bins other than the version's sketch now (none are expected: a
    version's sketch never changes) are left out with a warning.

    Raises:
        BackendError: the app database or the stores failed.
    """
    thresholds = thresholds or drift_thresholds(settings)
    by_version: dict[int, list[WindowEvent]] = defaultdict(list)
    for event in list_window_events(settings, start=start, end=end, version=version):
        by_version[event.version].append(event)
    reports = []
    label = f"{as_utc(start):%Y-%m-%d %H:%M} to {as_utc(end):%Y-%m-%d %H:%M} UTC"
    # alerts per day over the window asked for (up to now): a daily batch job in a 7-day
    # window is 7 days of traffic, whenever in them its events fell
    stop = min(as_utc(end), datetime.now(UTC))
    days = max((stop - as_utc(start)).total_seconds(), 1.0) / 86_400
    for number in sorted(by_version, reverse=True):
        events = by_version[number]
        try:
            info = get_version(settings, number, with_metrics=False)
        except NotFoundError:  # deleted since it scored: its traffic cannot be judged
            continue
        sketch = get_reference_sketch(settings, info)
        if sketch is None:
            continue
        kept = [e for e in events if e.counts.sketch_id == sketch.sketch_id]
        if not kept:
            continue
        total = kept[0].counts
        for event in kept[1:]:
            total = total + event.counts
        report = compute_drift(
            sketch,
            total,
            model_name=info.name,
            version=number,
            thresholds=thresholds,
            threshold=kept[-1].threshold,
            alerts=sum(e.alerts for e in kept),
            days=days,
            current=f"{len(kept):,} scoring events, {label}",
            reference_rate=_blended_rate(sketch, kept),
        )
        notes = []
        used = sorted({e.threshold for e in kept})
        if len(used) > 1:
            notes.append(
                f"the threshold changed within the window ({', '.join(f'{t:.4f}' for t in used)}):"
                " each event's alerts are compared with the reference's rate at its threshold"
            )
        skipped = len(events) - len(kept)
        if skipped:
            notes.append(f"{skipped} events were counted on other bins and are left out")
        if notes:
            report = replace(report, warnings=(*notes, *report.warnings))
        reports.append(report)
    return reports


def _blended_rate(sketch: ReferenceSketch, events: list[WindowEvent]) -> float | None:
    """The reference's alert rate at each event's threshold, weighted by its rows: what the
    window's alerts would have been had the data not moved."""
    rows = sum(e.rows for e in events)
    rates = [sketch.alert_rate_at(e.threshold) for e in events]
    if not rows or any(r is None for r in rates):
        return None
    return sum(e.rows * r for e, r in zip(events, rates, strict=True) if r is not None) / rows


def psi_by_period(
    settings: Settings,
    *,
    start: datetime,
    end: datetime,
    version: int,
    period: Period = "day",
    thresholds: DriftThresholds | None = None,
) -> pd.DataFrame:
    """PSI of each feature per day (or week) of the version's traffic in [start, end):
    the heatmap's data.

    Returns:
        One row per period (index: its start, UTC), one column per feature (``Time``
        left out by default); NaN where the period has fewer rows than the minimum or the
        feature is constant in the reference. A ``rows`` column holds each period's rows.

    Raises:
        NotFoundError: no such version.
        BackendError: the app database or the stores failed.
    """
    thresholds = thresholds or drift_thresholds(settings)
    info = get_version(settings, version, with_metrics=False)
    sketch = get_reference_sketch(settings, info)
    features = [n for n in (sketch.columns if sketch else {}) if n not in thresholds.excluded]
    if sketch is None:
        return pd.DataFrame(columns=[*features, "rows"])
    buckets: dict[pd.Timestamp, DriftCounts] = {}
    for event in list_window_events(settings, start=start, end=end, version=version):
        if event.counts.sketch_id != sketch.sketch_id:
            continue
        stamp = pd.Timestamp(event.created_at).tz_convert("UTC").floor("D")
        if period == "week":
            stamp = stamp - pd.Timedelta(days=stamp.weekday())
        buckets[stamp] = buckets[stamp] + event.counts if stamp in buckets else event.counts
    records = []
    for stamp in sorted(buckets):
        counts = buckets[stamp]
        enough = counts.rows >= thresholds.min_rows
        record: dict[str, float] = {"rows": float(counts.rows)}
        for name in features:
            column = counts.columns.get(name)
            judged = enough and column is not None and not sketch.columns[name].constant
            record[name] = compute_psi(sketch.columns[name], column) if judged else np.nan
        records.append(record)
    if not records:
        return pd.DataFrame(columns=[*features, "rows"], index=pd.DatetimeIndex([], tz="UTC"))
    return pd.DataFrame.from_records(records, index=pd.DatetimeIndex(sorted(buckets)))
