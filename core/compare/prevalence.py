"""Metrics raw and weighted to the natural prevalence (arrays in, numbers and arrays out).

Fraud data is usually down-sampled: every fraud is kept and only a fraction ``F`` of the
legitimate rows. Counted as they are, alerts and precision overstate what live traffic
would show. Weighting each legitimate row by ``1/F`` (each fraud by 1) puts the rows back
at the natural prevalence. Recall and ROC-AUC are ratios within one class, so weighting
leaves them unchanged; precision, F1, AUPRC, precision@k, Brier and alert rates change.

No MLflow, no files: this module works in a notebook too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from core.errors import InputError

DEFAULT_K = 100
"""Review-queue size for precision@k (as in training)."""
ALERTS_PER = 10_000
"""Alert counts are given per this many transactions."""


def check_sampling_fraction(value: float) -> float:
    """The legitimate-row sampling fraction, checked: a number with 0 < F <= 1.

    Raises:
        InputError: anything else (0, negative, above 1, NaN, not a number).
    """
    try:
        fraction = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"sampling fraction {value!r} is not a number") from exc
    if not 0.0 < fraction <= 1.0:  # also False for NaN
        raise InputError(
            f"sampling fraction {value!r} must be above 0 and at most 1 (the share of "
            "legitimate rows kept, e.g. 4920/284315 = 0.0173 for the ULB sample; 1 = all kept)"
        )
    return fraction


def prevalence_weights(labels: np.ndarray, *, sampling_fraction: float) -> np.ndarray:
    """Row weights to the natural prevalence: 1 per fraud, ``1/F`` per legitimate row."""
    fraction = check_sampling_fraction(sampling_fraction)
    return np.where(np.asarray(labels) == 1, 1.0, 1.0 / fraction)


@dataclass(frozen=True)
class RateMetrics:
    """Metrics of one model on one set of rows, raw or weighted.

    Threshold-dependent values (precision, recall, F1, alerts per 10,000) are None when
    the model has no decision threshold.
    """

    auprc: float
    roc_auc: float
    precision_at_k: float
    brier: float
    precision: float | None
    recall: float | None
    f1: float | None
    alerts_per_10k: float | None
    k: int

    def as_dict(self) -> dict[str, float | None]:
        return {key: None if v is None else float(v) for key, v in asdict(self).items()}


@dataclass(frozen=True)
class PrevalenceMetrics:
    """The same metrics counted raw and weighted to the natural prevalence."""

    raw: RateMetrics
    weighted: RateMetrics
    sampling_fraction: float


def precision_at_k(labels: np.ndarray, proba: np.ndarray, *, weights: np.ndarray, k: int) -> float:
    """Fraud share among the ``k`` highest-scored transactions, each row counting its weight.

    Rows are taken by descending score (ties in row order) until their weights sum to
    ``k`` (capped at the total weight); the last row counts with the part of its weight
    that fits. With unit weights this is the plain precision of the top ``k`` rows.
    """
    order = np.argsort(-proba, kind="stable")
    w = weights[order]
    budget = min(float(k), float(w.sum()))
    if budget <= 0:
        return 0.0
    before = np.concatenate(([0.0], np.cumsum(w)[:-1]))
    taken = np.clip(budget - before, 0.0, w)
    return float(np.sum(taken * (labels[order] == 1)) / budget)


def compute_rate_metrics(
    labels: np.ndarray,
    proba: np.ndarray,
    *,
    weights: np.ndarray,
    threshold: float | None,
    k: int = DEFAULT_K,
) -> RateMetrics:
    """Metrics with each row counted ``weights`` times (all ones for raw metrics).

    Args:
        labels: 0/1 labels.
        proba: fraud probabilities.
        weights: per-row weights (see :func:`prevalence_weights`).
        threshold: decision cut (alert when ``proba >= threshold``), or None.
        k: review-queue size for precision@k.

    Returns:
        The metrics; threshold-dependent ones None when ``threshold`` is None.
    """
    labels = np.asarray(labels, dtype=np.int8)
    fraud = labels == 1
    total = float(weights.sum())
    precision = recall = f1 = alerts = None
    if threshold is not None:
        alert = proba >= threshold
        tp = float(weights[alert & fraud].sum())
        flagged = float(weights[alert].sum())
        precision = tp / flagged if flagged else 0.0
        recall = tp / float(weights[fraud].sum()) if fraud.any() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        alerts = ALERTS_PER * flagged / total
    return RateMetrics(
        auprc=float(average_precision_score(labels, proba, sample_weight=weights)),
        roc_auc=float(roc_auc_score(labels, proba, sample_weight=weights)),
        precision_at_k=precision_at_k(labels, proba, weights=weights, k=k),
        brier=float(np.sum(weights * (proba - labels) ** 2) / total),
        precision=precision,
        recall=recall,
        f1=f1,
        alerts_per_10k=alerts,
        k=int(min(k, len(labels))),
    )


def compute_prevalence_metrics(
    labels: np.ndarray,
    proba: np.ndarray,
    *,
    threshold: float | None,
    sampling_fraction: float,
    k: int = DEFAULT_K,
) -> PrevalenceMetrics:
    """Metrics raw and weighted to the natural prevalence.

    Args:
        labels: 0/1 labels (both classes present).
        proba: fraud probabilities.
        threshold: decision cut, or None for a version without one.
        sampling_fraction: share of legitimate rows kept when the data was down-sampled.
        k: review-queue size for precision@k.

    Returns:
        Raw and weighted metrics.

    Raises:
        InputError: a bad sampling fraction, or labels of one class only.
    """
    labels = np.asarray(labels, dtype=np.int8)
    if labels.min(initial=1) == labels.max(initial=0):
        raise InputError("the evaluation data needs both frauds and legitimate rows")
    weights = prevalence_weights(labels, sampling_fraction=sampling_fraction)
    ones = np.ones(len(labels))
    return PrevalenceMetrics(
        raw=compute_rate_metrics(labels, proba, weights=ones, threshold=threshold, k=k),
        weighted=compute_rate_metrics(labels, proba, weights=weights, threshold=threshold, k=k),
        sampling_fraction=float(sampling_fraction),
    )


@dataclass(frozen=True)
class PrCurve:
    """A precision-recall curve (sklearn's order: recall falling to 0)."""

    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray


@dataclass(frozen=True)
class CalibrationCurve:
    """Mean predicted probability against observed fraud rate, per non-empty bin.

    ``weight`` is each bin's rows as weighted; ``rows`` and ``frauds`` are the rows and
    frauds actually in it (unweighted), which say how far its observed rate can be trusted.
    """

    predicted: np.ndarray
    observed: np.ndarray
    weight: np.ndarray
    rows: np.ndarray
    frauds: np.ndarray


def compute_pr_curve(labels: np.ndarray, proba: np.ndarray, *, weights: np.ndarray) -> PrCurve:
    """Precision-recall curve with rows counted ``weights`` times."""
    precision, recall, thresholds = precision_recall_curve(labels, proba, sample_weight=weights)
    return PrCurve(precision=precision, recall=recall, thresholds=thresholds)


def compute_calibration(
    labels: np.ndarray, proba: np.ndarray, *, weights: np.ndarray, bins: int = 10
) -> CalibrationCurve:
    """Calibration on ``bins`` equal-width probability bins, rows counted ``weights`` times.

    A model trained on down-sampled data over-predicts at the natural prevalence: the
    weighted curve shows by how much.
    """
    index = np.clip((np.asarray(proba) * bins).astype(np.int64), 0, bins - 1)
    fraud = np.asarray(labels) == 1
    weight = np.bincount(index, weights=weights, minlength=bins)
    predicted = np.bincount(index, weights=weights * proba, minlength=bins)
    observed = np.bincount(index, weights=weights * fraud, minlength=bins)
    rows = np.bincount(index, minlength=bins)
    frauds = np.bincount(index[fraud], minlength=bins)
    used = weight > 0
    return CalibrationCurve(
        predicted=predicted[used] / weight[used],
        observed=observed[used] / weight[used],
        weight=weight[used],
        rows=rows[used],
        frauds=frauds[used],
    )


def max_f1_threshold(labels: np.ndarray, proba: np.ndarray) -> float:
    """The probability cut with the highest (raw) F1: the rule training uses on validation."""
    precision, recall, thresholds = precision_recall_curve(labels, proba)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = float(thresholds[int(np.argmax(f1[:-1]))])
    return best if 0.0 < best < 1.0 else math.nextafter(best, 0.5)
