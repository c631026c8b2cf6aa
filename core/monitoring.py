"""Monitoring production traffic from the audit log: volume, alert rate, latency, model
versions, the spool, and alias moves, per hour or day.

Latency is kept per scoring event as a small fixed-bucket histogram
(``scoring_events.latency_ms``), so percentiles over any window come from summed
histograms, not from rows. What one sample is depends on the path:

- ``ui`` and ``cli`` events (a file or a form): one sample, the whole call's wall time
  (parse, validate, score, explain, write the output), taken just before the final audit
  write that stores it. A file's sample is thus the file's time, not a per-row time: its
  percentiles say how long users wait for a file or a form;
- ``api`` events (the REST sidecar): one sample per request, flushed in batches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from core.audit import COMPLETE, spool_status
from core.config import Settings
from core.db.engine import get_engine
from core.db.errors import describe_error
from core.db.models import ScoringEvent
from core.drift.sketch import get_reference_sketch
from core.drift.windows import as_utc
from core.errors import BackendError, InputError, WorkbenchError
from core.history import MOVE_KINDS, HistoryRow, list_alias_history
from core.latency import sum_latency_histograms
from core.registry import get_version_by_alias, read_threshold

log = logging.getLogger(__name__)

Bucket = Literal["hour", "day"]
_FREQ = {"hour": "h", "day": "D"}


@dataclass(frozen=True)
class MonitoringSummary:
    """The Monitoring page's data for [start, end).

    Attributes:
        volume: rows scored per bucket (index: bucket start, UTC) and source (columns).
        alert_rate: alerts / rows per bucket (NaN where no row was scored).
        alerts: per bucket, ``rows`` and ``alerts``.
        validation_rate: the live version's validation alert rate at its threshold now,
            or None when unknown (no live version, no drift reference, stores down).
        validation_problem: why the validation rate is missing when a store failed.
        latency: per source that scored in the window (index), ``samples``, ``p50_ms``
            and ``p95_ms`` (NaN and a ``note`` where its events have no histograms).
        share_by_version: share of rows scored (0-1) per model version, largest first.
        spooled, set_aside: audit records waiting in the spool for this database, and
            set aside for their content (``workbench audit status``).
        alias_moves: alias moves in the window, oldest first, for the time axis.
    """

    start: datetime
    end: datetime
    bucket: Bucket
    volume: pd.DataFrame
    alert_rate: pd.Series
    alerts: pd.DataFrame
    validation_rate: float | None
    latency: pd.DataFrame
    share_by_version: pd.Series
    spooled: int
    set_aside: int
    alias_moves: list[HistoryRow] = field(default_factory=list)
    validation_problem: str | None = None

    @property
    def rows(self) -> int:
        return int(self.volume.to_numpy().sum())


def list_events_frame(settings: Settings, *, start: datetime, end: datetime) -> pd.DataFrame:
    """The registered model's complete scoring events in [start, end), one row each
    (``created_at`` UTC, source, model_version, rows_scored, alerts, latency_ms).

    Raises:
        BackendError: the app database failed.
    """
    columns = ["created_at", "source", "model_version", "rows_scored", "alerts", "latency_ms"]
    query = select(*(getattr(ScoringEvent, c) for c in columns)).where(
        ScoringEvent.model_name == settings.model_name,
        ScoringEvent.status == COMPLETE,
        ScoringEvent.created_at >= as_utc(start),
        ScoringEvent.created_at < as_utc(end),
    )
    try:
        with get_engine(settings).connect() as connection:
            rows = connection.execute(query).all()
    except SQLAlchemyError as exc:
        raise BackendError(f"reading the scoring events: {describe_error(exc)}") from exc
    frame = pd.DataFrame(rows, columns=columns)
    stamps = pd.to_datetime(frame["created_at"])
    # SQLite hands back naive datetimes; they were written in UTC
    frame["created_at"] = (
        stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    )
    return frame.astype({"rows_scored": "int64", "alerts": "int64", "model_version": "int64"})


def _reference_alert_rate(settings: Settings) -> tuple[float | None, str | None]:
    """The live version's reference alert rate at its threshold now, and why it is
    unknown when the stores failed (None when there is simply none to read)."""
    try:
        info = get_version_by_alias(settings, settings.live_alias, with_metrics=False)
        sketch = get_reference_sketch(settings, info)
        rate = None if sketch is None else sketch.alert_rate_at(read_threshold(settings, info))
        return rate, None
    except BackendError as exc:  # the rest is shown; the page says why this is missing
        return None, f"the live version's validation alert rate could not be read: {exc}"
    except WorkbenchError as exc:  # no live version, no threshold: nothing to compare
        log.info("no reference alert rate: %s", exc)
        return None, None


def monitoring_summary(
    settings: Settings, *, start: datetime, end: datetime, bucket: Bucket = "hour"
) -> MonitoringSummary:
    """Volume, alert rate, latency and version share of the traffic in [start, end), per
    hour or day, with the spool's state and the alias moves in the window.

    Raises:
        InputError: ``bucket`` is not ``hour`` or ``day``.
        BackendError: the app database failed.
    """
    if bucket not in _FREQ:
        raise InputError(f"bucket must be 'hour' or 'day', not {bucket!r}")
    events = list_events_frame(settings, start=start, end=end)
    events["bucket"] = events["created_at"].dt.floor(_FREQ[bucket])
    volume = events.pivot_table(
        index="bucket", columns="source", values="rows_scored", aggfunc="sum", fill_value=0
    ).rename_axis(index=None, columns=None)
    per_bucket = events.groupby("bucket")[["rows_scored", "alerts"]].sum()
    alerts = per_bucket.rename(columns={"rows_scored": "rows"}).rename_axis(index=None)
    alert_rate = (alerts["alerts"] / alerts["rows"].where(lambda r: r > 0)).rename("alert_rate")
    latency = []
    for source, group in events.groupby("source"):
        histogram = sum_latency_histograms(group["latency_ms"])
        latency.append(
            {
                "source": str(source),
                "samples": histogram.samples if histogram else 0,
                "p50_ms": histogram.percentile(50) if histogram else np.nan,
                "p95_ms": histogram.percentile(95) if histogram else np.nan,
                "note": "" if histogram else "no latency recorded",
            }
        )
    by_version = events.groupby("model_version")["rows_scored"].sum()
    share = by_version / by_version.sum() if by_version.sum() else by_version.astype(float)
    status = spool_status(settings)
    moves = [
        row
        for row in reversed(list_alias_history(settings))
        if row.kind in MOVE_KINDS and as_utc(start) <= row.time < as_utc(end)
    ]
    validation_rate, validation_problem = _reference_alert_rate(settings)
    return MonitoringSummary(
        start=as_utc(start),
        end=as_utc(end),
        bucket=bucket,
        volume=volume,
        alert_rate=alert_rate,
        alerts=alerts,
        validation_rate=validation_rate,
        validation_problem=validation_problem,
        latency=pd.DataFrame(
            latency, columns=["source", "samples", "p50_ms", "p95_ms", "note"]
        ).set_index("source"),
        share_by_version=share.sort_values(ascending=False),
        spooled=len(status.waiting),
        set_aside=len(status.set_aside),
        alias_moves=moves,
    )
