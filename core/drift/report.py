"""The drift verdict: per-feature statistics, what flags, and what it does to the queue.

A feature is flagged when its PSI reaches the alert threshold (default 0.25; 0.1 warns);
the drift share is the fraction of judged features past alert, and drift is found when
any is. KS p-values are information only: at production sizes they flag everything.
Nothing is judged on a window under the minimum row count (PSI grows with small samples),
nor a column that is constant in the reference, holds non-finite values or is missing from
the reference (a column constant in the current data only is judged: that is drift).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from core.drift.counts import SCORE, DriftCounts
from core.drift.sketch import ReferenceSketch
from core.drift.stats import (
    BinCounts,
    ColumnSketch,
    compute_ks,
    compute_psi,
    compute_wasserstein,
    ks_pvalue,
)
from core.schema import FEATURES

Band = Literal["ok", "warn", "alert", "not judged"]
Verdict = Literal["drift", "no drift", "not judged"]


@dataclass(frozen=True)
class DriftThresholds:
    """When a feature warns or alerts, and what is too small to judge."""

    psi_warn: float = 0.1
    psi_alert: float = 0.25
    min_rows: int = 1000
    excluded: tuple[str, ...] = ("Time",)


@dataclass(frozen=True)
class ColumnDrift:
    """One column (a feature, or the score) against its reference.

    ``edges``, ``reference_share`` and ``current_share`` are the bins (open outer bins:
    one more share than edges) for histograms.
    """

    name: str
    band: Band
    psi: float | None
    ks: float | None
    ks_pvalue: float | None
    wasserstein: float | None
    rows: int
    outside: float | None
    note: str | None = None
    edges: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    reference_share: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    current_share: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    def summary(self) -> dict[str, Any]:
        def number(x: float | None) -> float | None:
            return None if x is None or not np.isfinite(x) else round(float(x), 6)

        return {
            "name": self.name,
            "band": self.band,
            "psi": number(self.psi),
            "ks": number(self.ks),
            "ks_pvalue": number(self.ks_pvalue),
            "wasserstein_sd": number(self.wasserstein),
            "rows": self.rows,
            "outside_reference_range": number(self.outside),
            "note": self.note,
        }


@dataclass(frozen=True)
class QueueImpact:
    """The alert rate now against the reference's, at the threshold in use.

    ``days`` is the data's time span (None when unknown): alerts are then per day,
    otherwise per 10,000 transactions.
    """

    threshold: float
    rows: int
    alerts: int
    reference_rate: float
    days: float | None

    @property
    def current_rate(self) -> float:
        return self.alerts / self.rows if self.rows else 0.0

    @property
    def change(self) -> float | None:
        """Relative change of the alert rate (+0.38: 38% more alerts); None when the
        reference rate is 0."""
        if self.reference_rate <= 0:
            return None
        return self.current_rate / self.reference_rate - 1.0

    def sentence(self) -> str:
        """ "+38% alerts per day: 1,380 against 1,000 expected at the validation rate"."""
        if self.days:
            unit, now = "per day", self.alerts / self.days
            expected = self.reference_rate * self.rows / self.days
        else:
            unit, now, expected = (
                "per 10,000 transactions",
                1e4 * self.current_rate,
                (1e4 * self.reference_rate),
            )
        change = self.change
        head = "alerts " + unit if change is None else f"{change:+.0%} alerts {unit}"
        return (
            f"{head}: {now:,.1f} against {expected:,.1f} expected at the reference's alert "
            f"rate ({self.alerts:,} alerts in {self.rows:,} rows, "
            f"{self.reference_rate * self.rows:,.1f} expected; {self.current_rate:.3%} now, "
            f"{self.reference_rate:.3%} in the reference, threshold {self.threshold:.4g})"
        )

    def summary(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "rows": self.rows,
            "alerts": self.alerts,
            "current_rate": self.current_rate,
            "reference_rate": self.reference_rate,
            "change": self.change,
            "days": self.days,
            "sentence": self.sentence(),
        }


@dataclass(frozen=True)
class DriftReport:
    """Drift of one version's traffic (or a file) against its reference."""

    model_name: str
    version: int
    reference: str
    rows: int
    verdict: Verdict
    drift_share: float | None
    columns: list[ColumnDrift]
    score: ColumnDrift | None
    queue: QueueImpact | None
    warnings: tuple[str, ...]
    thresholds: DriftThresholds
    current: str = ""

    @property
    def drift_found(self) -> bool:
        return self.verdict == "drift"

    @property
    def flagged(self) -> list[str]:
        return [c.name for c in self.columns if c.band == "alert"]

    def summary(self) -> dict[str, Any]:
        """JSON-ready: the verdict, thresholds and every column's statistics."""
        return {
            "model_name": self.model_name,
            "version": self.version,
            "reference": self.reference,
            "current": self.current,
            "rows": self.rows,
            "verdict": self.verdict,
            "drift_found": self.drift_found,
            "drift_share": self.drift_share,
            "flagged": self.flagged,
            "thresholds": {
                "psi_warn": self.thresholds.psi_warn,
                "psi_alert": self.thresholds.psi_alert,
                "min_rows": self.thresholds.min_rows,
                "excluded": list(self.thresholds.excluded),
            },
            "features": [c.summary() for c in self.columns],
            "score": None if self.score is None else self.score.summary(),
            "queue": None if self.queue is None else self.queue.summary(),
            "warnings": list(self.warnings),
        }


def _band(psi: float, thresholds: DriftThresholds) -> Band:
    if psi >= thresholds.psi_alert:
        return "alert"
    return "warn" if psi >= thresholds.psi_warn else "ok"


def compute_column_drift(
    name: str, sketch: ColumnSketch, current: BinCounts, thresholds: DriftThresholds
) -> ColumnDrift:
    """One column's statistics and band; ``not judged`` (with the reason in ``note``) for
    a column constant in the reference (its quantiles are one value), non-finite values,
    or too few rows. A column that is constant in the current data only is judged, with a
    note: a feature collapsing to one value (a broken pipeline filling 0) is drift."""
    rows = current.rows
    share = current.counts / rows if rows else np.zeros(len(current.counts))
    psi = compute_psi(sketch, current) if rows else None
    ks = compute_ks(sketch, current) if rows else None
    wasserstein = compute_wasserstein(sketch, current) if rows else None
    note, judged = None, True
    if current.missing:
        note = f"{current.missing:,} values are NaN or infinite"
    elif sketch.constant:
        note = "constant in the reference"
    elif rows > 1 and np.count_nonzero(current.counts[1:-1]) == 1 == np.count_nonzero(
        current.counts
    ):  # every value inside one reference bin: constant, or as good as
        note = "constant in the current data"
        judged = rows >= thresholds.min_rows
    elif rows < thresholds.min_rows:
        note = f"{rows:,} rows: under the minimum of {thresholds.min_rows:,}"
    judged = judged and note in (None, "constant in the current data") and psi is not None
    return ColumnDrift(
        name=name,
        band=_band(psi, thresholds) if judged and psi is not None else "not judged",
        psi=psi,
        ks=ks,
        ks_pvalue=None if ks is None else ks_pvalue(ks, sketch.rows, rows),
        wasserstein=wasserstein,
        rows=rows,
        outside=float((current.counts[0] + current.counts[-1]) / rows) if rows else None,
        note=note,
        edges=sketch.edges,
        reference_share=sketch.masses(),
        current_share=share,
    )


def compute_drift(
    sketch: ReferenceSketch,
    counts: DriftCounts,
    *,
    model_name: str,
    version: int,
    thresholds: DriftThresholds | None = None,
    threshold: float | None = None,
    alerts: int | None = None,
    days: float | None = None,
    current: str = "",
    reference_rate: float | None = None,
) -> DriftReport:
    """The drift report of ``counts`` against ``sketch``.

    Args:
        sketch: the version's reference.
        counts: the current rows summarised on the sketch's bins.
        model_name, version: whose reference it is.
        thresholds: PSI bands, minimum rows and excluded features (defaults above).
        threshold: the version's threshold now, for the queue impact.
        alerts: alerts among the current rows at ``threshold`` (decisions made).
        days: the current rows' time span in days, when known.
        current: what the current rows are, for people ("last 7 days", a file name).
        reference_rate: the reference's alert rate to compare with, when not the sketch's
            rate at ``threshold`` (a window whose threshold changed: a blend).

    Returns:
        The report; its verdict is ``not judged`` under the minimum row count.

    Raises:
        ValueError: ``counts`` were made on another sketch's bins.
    """
    thresholds = thresholds or DriftThresholds()
    if counts.sketch_id != sketch.sketch_id:
        raise ValueError("the counts were made on another sketch's bins")
    rows = counts.rows
    warnings: list[str] = []
    columns: list[ColumnDrift] = []
    for name in FEATURES:
        if name in thresholds.excluded:
            continue
        if name not in sketch.columns or name not in counts.columns:
            warnings.append(f"{name}: missing from the reference; not judged")
            columns.append(
                ColumnDrift(
                    name=name,
                    band="not judged",
                    psi=None,
                    ks=None,
                    ks_pvalue=None,
                    wasserstein=None,
                    rows=0,
                    outside=None,
                    note="missing from the reference",
                )
            )
            continue
        column = compute_column_drift(name, sketch.columns[name], counts.columns[name], thresholds)
        if column.note and rows >= thresholds.min_rows:
            judged = "" if column.band != "not judged" else "; not judged"
            warnings.append(f"{name}: {column.note}{judged}")
        columns.append(column)
    score = None
    if sketch.score is not None and SCORE in counts.columns:
        score = compute_column_drift(SCORE, sketch.score, counts.columns[SCORE], thresholds)
    judged = [c for c in columns if c.band != "not judged"]
    verdict: Verdict
    if rows < thresholds.min_rows:
        verdict, share = "not judged", None
        warnings.insert(
            0,
            f"{rows:,} rows: under the minimum of {thresholds.min_rows:,} for a verdict "
            "(PSI grows with small samples)",
        )
    elif not judged:
        verdict, share = "not judged", None
        warnings.insert(0, "no feature could be judged")
    else:
        alerting = sum(c.band == "alert" for c in judged)
        verdict, share = ("drift" if alerting else "no drift"), alerting / len(judged)
    queue = None
    if threshold is not None and alerts is not None:
        if reference_rate is None:
            reference_rate = sketch.alert_rate_at(threshold)
        if reference_rate is not None:
            queue = QueueImpact(threshold, rows, alerts, reference_rate, days)
    order = {"alert": 0, "warn": 1, "ok": 2, "not judged": 3}
    columns.sort(key=lambda c: (order[c.band], -(c.psi or 0.0)))
    return DriftReport(
        model_name=model_name,
        version=version,
        reference=sketch.source,
        rows=rows,
        verdict=verdict,
        drift_share=share,
        columns=columns,
        score=score,
        queue=queue,
        warnings=tuple(warnings),
        thresholds=thresholds,
        current=current,
    )
