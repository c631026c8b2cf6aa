"""Drift: is the live model still seeing the world it was trained on, and what does that do
to the alert queue? Pure statistics in ``stats``; the version's reference in ``sketch``;
traffic summarised on its bins in ``counts``; the verdict in ``report``; a file's drift in
``current``."""

from core.drift.counts import SCORE, DriftCounts, count_rows
from core.drift.current import drift_thresholds, file_drift, resolve_version
from core.drift.report import ColumnDrift, DriftReport, DriftThresholds, QueueImpact, compute_drift
from core.drift.sketch import (
    SKETCH_ARTIFACT,
    ReferenceSketch,
    compute_reference_sketch,
    get_reference_sketch,
)
from core.drift.stats import BinCounts, ColumnSketch
from core.drift.windows import (
    latest_event_id,
    list_window_events,
    parse_window,
    psi_by_period,
    window_drift,
)

__all__ = [
    "SCORE",
    "SKETCH_ARTIFACT",
    "BinCounts",
    "ColumnDrift",
    "ColumnSketch",
    "DriftCounts",
    "DriftReport",
    "DriftThresholds",
    "QueueImpact",
    "ReferenceSketch",
    "compute_drift",
    "compute_reference_sketch",
    "count_rows",
    "drift_thresholds",
    "file_drift",
    "get_reference_sketch",
    "latest_event_id",
    "list_window_events",
    "parse_window",
    "psi_by_period",
    "resolve_version",
    "window_drift",
]
