"""The Monitoring page's data from the audit log: volume per bucket and source, alert rate,
latency percentiles from summed histograms, version share; and the histograms themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.audit import ScoringEventRecord
from core.audit.writer import write_event
from core.config import Settings
from core.db import get_engine
from core.errors import InputError
from core.latency import LATENCY_EDGES_MS, compute_latency_histogram
from core.monitoring import monitoring_summary

EDGES = LATENCY_EDGES_MS
START = datetime(2022, 1, 10, tzinfo=UTC)


def _event(settings: Settings, **values: object) -> None:
    base = {
        "source": "cli",
        "actor": "t",
        "model_name": settings.model_name,
        "model_version": 1,
        "alias": None,
        "threshold": 0.5,
        "rows_in": 0,
        "rows_scored": 0,
        "rows_rejected": 0,
        "alerts": 0,
    }
    record = ScoringEventRecord(**{**base, **values})  # type: ignore[arg-type]
    write_event(get_engine(settings), record, [])


def test_a_histogram_counts_samples_and_reads_percentiles_within_their_bucket() -> None:
    k = 10  # every sample just above edge k: bucket k
    histogram = compute_latency_histogram(np.full(4, EDGES[k] * 1.01))
    assert histogram.samples == 4 and histogram.counts[k] == 4
    # 4 samples spread evenly over bucket k by the interpolation: p50 half-way across it
    assert histogram.percentile(50) == pytest.approx(EDGES[k] + 0.5 * (EDGES[k + 1] - EDGES[k]))
    # out-of-range samples land in the outer buckets, and histograms add
    outer = compute_latency_histogram([0.01, 10**7])
    assert (outer.counts[0], outer.counts[-1]) == (1, 1)
    assert (histogram + outer).samples == 6
    assert compute_latency_histogram([]).percentile(50) is None


def test_monitoring_summary_volume_alerts_latency_and_versions(
    backend_settings: Settings,
) -> None:
    settings = backend_settings
    a, b = 5, 20  # latency buckets: 10 fast samples in a, 10 slow ones in b
    fast = compute_latency_histogram(np.full(10, EDGES[a] * 1.2)).to_json()
    slow = compute_latency_histogram(np.full(10, EDGES[b] * 1.2)).to_json()
    _event(
        settings,
        created_at=START + timedelta(minutes=5),
        rows_scored=100,
        alerts=2,
        latency_ms=fast,
    )
    _event(
        settings,
        created_at=START + timedelta(minutes=50),
        rows_scored=300,
        alerts=1,
        latency_ms=slow,
        model_version=2,
    )
    _event(settings, source="api", created_at=START + timedelta(hours=1, minutes=1),
           rows_scored=50, alerts=5)  # fmt: skip
    _event(settings, created_at=START + timedelta(hours=2), rows_scored=999)  # at the end: out
    _event(settings, created_at=START - timedelta(seconds=1), rows_scored=999)  # before: out

    summary = monitoring_summary(
        settings, start=START, end=START + timedelta(hours=2), bucket="hour"
    )
    hour0, hour1 = pd.Timestamp(START), pd.Timestamp(START + timedelta(hours=1))
    assert summary.volume.loc[hour0, "cli"] == 400 and summary.volume.loc[hour0, "api"] == 0
    assert summary.volume.loc[hour1, "api"] == 50 and summary.rows == 450
    assert summary.alert_rate.loc[hour0] == pytest.approx(3 / 400)
    assert summary.alert_rate.loc[hour1] == pytest.approx(5 / 50)
    latency = summary.latency
    # 20 samples: the 10th (p50) ends bucket a; p95 is the 19th, 9/10 of the way across b
    assert latency.loc["cli", "samples"] == 20
    assert latency.loc["cli", "p50_ms"] == pytest.approx(EDGES[a + 1])
    assert latency.loc["cli", "p95_ms"] == pytest.approx(EDGES[b] + 0.9 * (EDGES[b + 1] - EDGES[b]))
    assert np.isnan(latency.loc["api", "p50_ms"]) and latency.loc["api", "samples"] == 0
    assert latency.loc["api", "note"] == "no latency recorded"
    assert summary.share_by_version.to_dict() == pytest.approx({2: 300 / 450, 1: 150 / 450})
    assert summary.validation_rate is None  # this registered model has no versions
    assert (summary.spooled, summary.set_aside, summary.alias_moves) == (0, 0, [])

    by_day = monitoring_summary(settings, start=START, end=START + timedelta(days=1), bucket="day")
    assert by_day.volume.loc[hour0].to_dict() == {"api": 50, "cli": 1399}


def test_monitoring_summary_refuses_an_unknown_bucket(backend_settings: Settings) -> None:
    with pytest.raises(InputError, match="bucket must be"):
        monitoring_summary(
            backend_settings, start=START, end=START + timedelta(hours=1), bucket="week"
        )  # type: ignore[arg-type]
