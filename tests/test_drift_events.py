"""Production traffic needs no second pass: scoring stores each event's drift counts, and
drift over a window is the sum of the events inside it, per version."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import ScoringEventRecord
from core.audit.writer import write_event
from core.config import Settings
from core.data import generate_transactions
from core.db import ScoringEvent, get_engine
from core.drift import DriftCounts, count_rows, get_reference_sketch, parse_window, window_drift
from core.errors import InputError
from core.registry import get_version
from core.schema import FEATURES
from core.scoring import resolve_model, score_file, score_record
from core.training import train_from_csv
from tests.conftest import LEAD, analyst


@dataclass(frozen=True)
class TwoVersions:
    settings: Settings


@pytest.fixture(scope="module")
def two_versions(tiny_csv: Path, embedded_home: Path) -> TwoVersions:
    """A registered model of its own with two versions (LightGBM 1, LogReg 2)."""
    settings = Settings(home=embedded_home, model_name=f"drift-events-{uuid.uuid4().hex[:8]}")
    train_from_csv(tiny_csv, settings=settings, actor=LEAD)
    train_from_csv(tiny_csv, settings=settings, actor=LEAD, model_kind="logreg")
    return TwoVersions(settings)


def _stored_event(settings: Settings, event_uid: str) -> ScoringEvent:
    with Session(get_engine(settings)) as session:
        return session.scalars(
            select(ScoringEvent).where(ScoringEvent.event_uid == event_uid)
        ).one()


def test_scoring_a_file_stores_counts_on_the_versions_bins(
    two_versions: TwoVersions, tmp_path: Path
) -> None:
    settings = two_versions.settings
    choice = resolve_model(settings, version=1)
    frame = generate_transactions(500, seed=21)
    csv = tmp_path / "traffic.csv"
    frame.to_csv(csv, index=False)
    result = score_file(
        csv, settings=settings, choice=choice, source_kind="cli", actor=analyst("a"), chunk_rows=120
    )
    event = _stored_event(settings, result.audit.event_uid)
    counts = DriftCounts.from_json(event.drift_counts)
    assert result.rows_scored == 500
    assert {name: c.rows for name, c in counts.columns.items()} == dict.fromkeys(
        [*FEATURES, "score"], 500
    )
    edges = get_reference_sketch(settings, choice.model.info).columns["V14"].edges
    by_hand = np.bincount(
        np.searchsorted(edges, frame["V14"].to_numpy(), side="left"), minlength=len(edges) + 1
    )
    np.testing.assert_array_equal(counts.columns["V14"].counts, by_hand)
    assert event.latency_ms is not None


def test_a_form_score_stores_its_row_counted(two_versions: TwoVersions) -> None:
    settings = two_versions.settings
    choice = resolve_model(settings, version=1)
    row = generate_transactions(1, seed=3).iloc[0]
    result = score_record(
        {name: float(row[name]) for name in FEATURES},
        settings=settings,
        choice=choice,
        source_kind="ui",
        actor=analyst("b"),
    )
    counts = DriftCounts.from_json(_stored_event(settings, result.audit.event_uid).drift_counts)
    edges = get_reference_sketch(settings, choice.model.info).columns["Amount"].edges
    expected = int(np.searchsorted(edges, float(row["Amount"]), side="left"))
    assert counts.rows == 1 and int(np.flatnonzero(counts.columns["Amount"].counts)[0]) == expected


def _write_event(
    settings: Settings, *, version: int, at: datetime, seed: int, rows: int, threshold: float = 0.5
) -> None:
    """An event of ``rows`` synthetic rows scored at a chosen time, as scoring stores it."""
    info = get_version(settings, version, with_metrics=False)
    sketch = get_reference_sketch(settings, info)
    features = generate_transactions(rows, seed=seed).loc[:, list(FEATURES)].to_numpy(np.float64)
    scores = np.linspace(0.0, 1.0, rows)
    event = ScoringEventRecord(
        source="cli",
        actor="t",
        model_name=settings.model_name,
        model_version=version,
        alias=None,
        threshold=threshold,
        rows_in=rows,
        rows_scored=rows,
        rows_rejected=0,
        alerts=int((scores >= threshold).sum()),
        drift_counts=count_rows(sketch, features, scores).to_json(),
        created_at=at,
    )
    write_event(get_engine(settings), event, [])


def test_window_drift_sums_exactly_the_events_inside_the_window(
    two_versions: TwoVersions,
) -> None:
    settings = two_versions.settings
    start = datetime(2021, 3, 1, tzinfo=UTC)
    end = start + timedelta(days=1)
    # before, at the start (in), inside (in), at the end (out), after
    for at, rows, seed in [
        (start - timedelta(seconds=1), 7, 1),
        (start, 11, 2),
        (start + timedelta(hours=5), 13, 3),
        (end, 17, 4),
        (end + timedelta(hours=1), 19, 5),
    ]:
        _write_event(settings, version=1, at=at, rows=rows, seed=seed)
    (report,) = window_drift(settings, start=start, end=end)
    assert (report.version, report.rows) == (1, 11 + 13)
    assert report.queue is not None and report.queue.rows == 24
    v14 = next(c for c in report.columns if c.name == "V14")
    edges = get_reference_sketch(settings, get_version(settings, 1)).columns["V14"].edges
    inside = np.concatenate(
        [generate_transactions(n, seed=s)["V14"].to_numpy() for n, s in [(11, 2), (13, 3)]]
    )
    by_hand = np.bincount(np.searchsorted(edges, inside), minlength=len(edges) + 1) / 24
    np.testing.assert_allclose(v14.current_share, by_hand)


def test_a_window_spanning_two_versions_gives_one_report_each(
    two_versions: TwoVersions,
) -> None:
    settings = two_versions.settings
    start = datetime(2021, 6, 1, tzinfo=UTC)
    _write_event(settings, version=1, at=start + timedelta(hours=1), rows=30, seed=7)
    _write_event(settings, version=2, at=start + timedelta(hours=2), rows=40, seed=8)
    _write_event(settings, version=2, at=start + timedelta(hours=3), rows=5, seed=9)
    reports = window_drift(settings, start=start, end=start + timedelta(days=1))
    assert [(r.version, r.rows) for r in reports] == [(2, 45), (1, 30)]


def test_a_windows_queue_counts_per_day_of_the_window_and_blends_thresholds(
    two_versions: TwoVersions,
) -> None:
    """Two events an hour apart in a two-day window: alerts per day over the two days, not
    over the hour between them; the threshold changed between them, so each event's alerts
    are compared with the reference's rate at its own threshold."""
    settings = two_versions.settings
    start = datetime(2021, 9, 1, tzinfo=UTC)
    _write_event(settings, version=1, at=start + timedelta(hours=1), rows=30, seed=3)
    _write_event(settings, version=1, at=start + timedelta(hours=2), rows=40, seed=4, threshold=0.8)
    (report,) = window_drift(settings, start=start, end=start + timedelta(days=2))
    sketch = get_reference_sketch(settings, get_version(settings, 1))
    assert sketch is not None and report.queue is not None
    assert report.queue.days == 2.0
    assert report.queue.alerts == 15 + 8  # linspace(0, 1, n) at or above 0.5, then 0.8
    low, high = sketch.alert_rate_at(0.5), sketch.alert_rate_at(0.8)
    assert low is not None and high is not None and low != high
    assert report.queue.reference_rate == pytest.approx((30 * low + 40 * high) / 70)
    assert any("threshold changed within the window" in w for w in report.warnings)


def test_window_bounds_in_another_time_zone_are_converted(two_versions: TwoVersions) -> None:
    settings = two_versions.settings
    at = datetime(2021, 11, 3, 12, 0, tzinfo=UTC)
    _write_event(settings, version=1, at=at, rows=21, seed=5)
    plus_one = timezone(timedelta(hours=1))
    # 12:30+01:00 is 11:30 UTC: the 12:00 UTC event is inside [11:30, 12:30) UTC
    start = datetime(2021, 11, 3, 12, 30, tzinfo=plus_one)
    (report,) = window_drift(settings, start=start, end=start + timedelta(hours=1))
    assert report.rows == 21
    assert (
        window_drift(settings, start=start + timedelta(hours=1), end=start + timedelta(hours=2))
        == []
    )


@pytest.mark.parametrize("text", ["1000000000d", "99999999w", "1M", "0d", "-1d", "7", "abc", ""])
def test_bad_windows_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="expected a number and a unit"):
        parse_window(text)


def test_an_unreadable_sketch_never_stops_scoring(tiny_csv: Path, tmp_path: Path) -> None:
    """A drift sketch artifact that is not ours (edited, another format): scoring still
    scores and audits, without drift counts; a drift check says which file is unreadable."""
    import core.drift.sketch as sketch_module
    from core.drift import file_drift
    from core.errors import RefusedError

    settings = Settings(home=tmp_path / "home", model_name="bad-sketch")
    train_from_csv(tiny_csv, settings=settings, actor=LEAD)
    [stored] = list((tmp_path / "home").rglob("drift_sketch.json"))
    stored.write_text('{"format": 2}')
    sketch_module._cache.clear()
    csv = tmp_path / "traffic.csv"
    generate_transactions(300, seed=23).to_csv(csv, index=False)
    result = score_file(
        csv,
        settings=settings,
        choice=resolve_model(settings),
        source_kind="cli",
        actor=analyst("a"),
    )
    assert result.rows_scored == 300
    event = _stored_event(settings, result.audit.event_uid)
    assert event.drift_counts is None and event.rows_scored == 300
    with pytest.raises(RefusedError, match=r"drift_sketch\.json is unreadable"):
        file_drift(settings, csv)


def test_psi_by_period_buckets_events_by_utc_day_and_week(two_versions: TwoVersions) -> None:
    """The heatmap's data: one row per UTC day (or week starting Monday) holding the sum of
    that period's events; NaN where a period has fewer rows than the minimum."""
    from core.drift import DriftThresholds, psi_by_period
    from core.drift.stats import compute_psi

    settings = two_versions.settings
    monday = datetime(2022, 2, 7, tzinfo=UTC)  # a Monday
    for at, rows, seed in [
        (monday + timedelta(hours=1), 40, 11),
        (monday + timedelta(hours=23), 60, 12),  # same UTC day
        (monday + timedelta(days=2, hours=3), 50, 13),  # Wednesday, same week
        (monday + timedelta(days=7, hours=1), 5, 14),  # next Monday: under the minimum
    ]:
        _write_event(settings, version=1, at=at, rows=rows, seed=seed)
    limits = DriftThresholds(min_rows=20)
    end = monday + timedelta(days=14)
    daily = psi_by_period(settings, start=monday, end=end, version=1, thresholds=limits)
    days = [monday, monday + timedelta(days=2), monday + timedelta(days=7)]
    assert list(daily.index) == [pd.Timestamp(d) for d in days]
    assert daily["rows"].tolist() == [100, 50, 5]
    assert "Time" not in daily.columns and np.isnan(daily.loc[pd.Timestamp(days[2]), "V14"])
    sketch = get_reference_sketch(settings, get_version(settings, 1))
    assert sketch is not None
    both = [generate_transactions(n, seed=s)["V14"].to_numpy() for n, s in [(40, 11), (60, 12)]]
    first_day = np.concatenate(both)
    from core.drift.stats import count_bins

    expected = compute_psi(
        sketch.columns["V14"], count_bins(first_day, sketch.columns["V14"].edges)
    )
    assert daily.loc[pd.Timestamp(days[0]), "V14"] == pytest.approx(expected)
    weekly = psi_by_period(
        settings, start=monday, end=end, version=1, period="week", thresholds=limits
    )
    assert list(weekly.index) == [pd.Timestamp(monday), pd.Timestamp(monday + timedelta(days=7))]
    assert weekly["rows"].tolist() == [150, 5]
