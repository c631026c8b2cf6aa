"""A version's calibration, before and after: Brier scores and reliability diagrams.

Training computes one :class:`ReliabilityReport` on the test split (the rows that judge the
version, never used to fit its calibration) and logs it as a small JSON artifact
(``core.artifacts.RELIABILITY_ARTIFACT``) so a page can draw it without the model. Rows are
weighted to the natural prevalence (1 per fraud, 1/F per legitimate row) where the training
data was down-sampled: a prior-corrected probability is meant to match the natural rate.

Pure numpy: arrays in, a dataclass out; works in a notebook too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

RELIABILITY_BINS = 10


@dataclass(frozen=True)
class ReliabilityCurve:
    """Mean predicted probability against observed fraud rate per non-empty bin of
    ``RELIABILITY_BINS`` equal-width probability bins (rows counted with their weights);
    ``rows`` and ``frauds`` are the bin's actual rows and frauds, which say how far its
    observed rate can be trusted."""

    predicted: list[float]
    observed: list[float]
    rows: list[int]
    frauds: list[int]


@dataclass(frozen=True)
class ReliabilityReport:
    """Calibration of one version on its test split, before (the raw model) and after.

    Attributes:
        probability_scale: the version's scale (``raw``, ``platt``, ``isotonic``).
        sampling_fraction: F, the weights' legitimate-row fraction (1: unweighted).
        brier_before, brier_after: Brier score of the raw and the version's probabilities,
            rows weighted to the natural prevalence (plain Brier when F = 1).
        before, after: the reliability curves, weighted the same way.
        validation_log_loss: out-of-fold log-loss on validation per candidate (``raw``,
            ``platt``, ``isotonic``), the evidence the method was chosen on.
        folds: cross-fitting folds.
    """

    probability_scale: str
    sampling_fraction: float
    brier_before: float
    brier_after: float
    before: ReliabilityCurve
    after: ReliabilityCurve
    validation_log_loss: dict[str, float] = field(default_factory=dict)
    folds: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ReliabilityReport:
        """Read :meth:`to_json`'s output.

        Raises:
            ValueError: not a report (``KeyError`` and ``TypeError`` become this too).
        """
        try:
            data: dict[str, Any] = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError(f"a JSON {type(data).__name__}, not an object")
            curves = {k: ReliabilityCurve(**data.pop(k)) for k in ("before", "after")}
            return cls(**data, **curves)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a reliability report: {exc!r}") from exc


def weighted_brier(labels: np.ndarray, proba: np.ndarray, weights: np.ndarray) -> float:
    """Brier score with each row counted ``weights`` times."""
    y = np.asarray(labels, dtype=np.float64)
    return float(np.sum(weights * (np.asarray(proba) - y) ** 2) / np.sum(weights))


def compute_reliability_curve(
    labels: np.ndarray, proba: np.ndarray, *, weights: np.ndarray, bins: int = RELIABILITY_BINS
) -> ReliabilityCurve:
    """Equal-width bins of the probability, rows counted ``weights`` times."""
    p = np.asarray(proba, dtype=np.float64)
    fraud = np.asarray(labels) == 1
    index = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    weight = np.bincount(index, weights=weights, minlength=bins)
    predicted = np.bincount(index, weights=weights * p, minlength=bins)
    observed = np.bincount(index, weights=weights * fraud, minlength=bins)
    used = weight > 0
    return ReliabilityCurve(
        predicted=(predicted[used] / weight[used]).tolist(),
        observed=(observed[used] / weight[used]).tolist(),
        rows=np.bincount(index, minlength=bins)[used].tolist(),
        frauds=np.bincount(index[fraud], minlength=bins)[used].tolist(),
    )


def compute_reliability_report(
    labels: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    *,
    probability_scale: str,
    sampling_fraction: float,
    validation_log_loss: dict[str, float] | None = None,
    folds: int = 0,
) -> ReliabilityReport:
    """Brier and reliability of the raw model's probabilities and the version's.

    Args:
        labels: 0/1 labels of the test split.
        before: the raw model's probabilities on it.
        after: the version's (calibrated) probabilities on it.
        probability_scale: the version's scale.
        sampling_fraction: F in (0, 1]; legitimate rows count 1/F.
        validation_log_loss: the out-of-fold evidence to keep with it.
        folds: cross-fitting folds.

    Returns:
        The report.
    """
    y = np.asarray(labels)
    weights = np.where(y == 1, 1.0, 1.0 / sampling_fraction)
    return ReliabilityReport(
        probability_scale=probability_scale,
        sampling_fraction=float(sampling_fraction),
        brier_before=weighted_brier(y, before, weights),
        brier_after=weighted_brier(y, after, weights),
        before=compute_reliability_curve(y, before, weights=weights),
        after=compute_reliability_curve(y, after, weights=weights),
        validation_log_loss=dict(validation_log_loss or {}),
        folds=int(folds),
    )
