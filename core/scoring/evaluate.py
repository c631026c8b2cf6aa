"""A labelled batch judged at a threshold: pure maths, arrays in, a dataclass out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score

from core.confusion import ConfusionCounts, compute_confusion


@dataclass(frozen=True)
class BatchEvaluation:
    """The confusion matrix of the labelled rows at the threshold, and the fraud ``Amount``
    behind it.

    Rows whose label is missing (NaN) are left out of everything else and counted: in
    ``invalid`` when their ``Class`` was a value other than 0 or 1 (``x``, ``2``), in
    ``unlabelled`` when it was empty.
    """

    counts: ConfusionCounts
    amount_caught: float
    amount_missed: float
    unlabelled: int
    invalid: int = 0

    threshold = property(lambda self: self.counts.threshold)
    true_positives = property(lambda self: self.counts.tp)
    false_positives = property(lambda self: self.counts.fp)
    false_negatives = property(lambda self: self.counts.fn)
    true_negatives = property(lambda self: self.counts.tn)
    labelled = property(lambda self: self.counts.rows)
    frauds = property(lambda self: self.counts.frauds)
    alerts = property(lambda self: self.counts.alerts)
    precision = property(lambda self: self.counts.precision)
    recall = property(lambda self: self.counts.recall)
    false_positive_rate = property(lambda self: self.counts.false_positive_rate)


def compute_batch_evaluation(
    labels: np.ndarray,
    probability: np.ndarray,
    amount: np.ndarray,
    *,
    threshold: float,
    invalid: np.ndarray | None = None,
) -> BatchEvaluation:
    """The confusion matrix at ``threshold`` (alert when ``probability >= threshold``).

    Args:
        labels: 1 fraud, 0 legitimate, NaN unknown (left out).
        probability: the model's fraud probabilities, on whatever scale the version has.
        amount: each row's ``Amount``.
        threshold: the cut to judge at.
        invalid: True where the file's label was a value other than 0 or 1 (its label is
            NaN); those rows are counted apart from the empty ones. None: no such rows.

    Returns:
        Counts (``core.confusion``), the fraud ``Amount`` caught and missed, and rates.
    """
    labels = np.asarray(labels, dtype=np.float64)
    known = ~np.isnan(labels)
    fraud = labels[known] == 1
    probability = np.asarray(probability)[known]
    alert = probability >= threshold
    amount = np.asarray(amount, dtype=np.float64)[known]
    bad = 0 if invalid is None else int(np.sum(np.asarray(invalid, dtype=bool) & ~known))
    return BatchEvaluation(
        counts=compute_confusion(labels[known], probability, threshold=threshold),
        amount_caught=float(amount[alert & fraud].sum()),
        amount_missed=float(amount[~alert & fraud].sum()),
        unlabelled=int((~known).sum()) - bad,
        invalid=bad,
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
