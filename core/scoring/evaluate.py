"""A labelled batch judged at a threshold: pure maths, arrays in, a dataclass out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score


@dataclass(frozen=True)
class BatchEvaluation:
    """The confusion matrix of the labelled rows at ``threshold`` and what it means.

    Rows whose label is missing (NaN: a bad or empty ``Class``) are counted in
    ``unlabelled`` and left out of everything else.
    """

    threshold: float
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    amount_caught: float
    amount_missed: float
    unlabelled: int

    @property
    def labelled(self) -> int:
        return (
            self.true_positives + self.false_positives + self.false_negatives + self.true_negatives
        )

    @property
    def frauds(self) -> int:
        return self.true_positives + self.false_negatives

    @property
    def alerts(self) -> int:
        return self.true_positives + self.false_positives

    @property
    def precision(self) -> float | None:
        """Share of alerts that are fraud; None without alerts."""
        return self.true_positives / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        """Share of frauds alerted on; None without frauds."""
        return self.true_positives / self.frauds if self.frauds else None

    @property
    def false_positive_rate(self) -> float | None:
        legitimate = self.false_positives + self.true_negatives
        return self.false_positives / legitimate if legitimate else None


def compute_batch_evaluation(
    labels: np.ndarray, probability: np.ndarray, amount: np.ndarray, *, threshold: float
) -> BatchEvaluation:
    """The confusion matrix at ``threshold`` (alert when ``probability >= threshold``).

    Args:
        labels: 1 fraud, 0 legitimate, NaN unknown (left out).
        probability: the model's fraud probabilities, on whatever scale the version has.
        amount: each row's ``Amount``.
        threshold: the cut to judge at.

    Returns:
        Counts, the fraud ``Amount`` caught and missed, and rates as properties.
    """
    labels = np.asarray(labels, dtype=np.float64)
    known = ~np.isnan(labels)
    fraud = labels[known] == 1
    alert = np.asarray(probability)[known] >= threshold
    amount = np.asarray(amount, dtype=np.float64)[known]
    return BatchEvaluation(
        threshold=float(threshold),
        true_positives=int(np.sum(alert & fraud)),
        false_positives=int(np.sum(alert & ~fraud)),
        false_negatives=int(np.sum(~alert & fraud)),
        true_negatives=int(np.sum(~alert & ~fraud)),
        amount_caught=float(amount[alert & fraud].sum()),
        amount_missed=float(amount[~alert & fraud].sum()),
        unlabelled=int((~known).sum()),
    )


def compute_auprc(labels: np.ndarray, probability: np.ndarray) -> float | None:
    """Average precision over the labelled rows; None unless both classes are present and
    every labelled row has a finite score (a version from elsewhere may give NaN, which
    sklearn refuses)."""
    labels = np.asarray(labels, dtype=np.float64)
    known = ~np.isnan(labels)
    y = labels[known].astype(np.int8)
    scores = np.asarray(probability, dtype=np.float64)[known]
    if len(y) == 0 or y.min() == y.max() or not np.isfinite(scores).all():
        return None
    return float(average_precision_score(y, scores))
