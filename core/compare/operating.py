"""A version at its threshold on its own test split: the confusion matrix with its counts,
the precision-recall curve and the operating point on it.

Loading is here (the test split and the version's scores, cached by ``score_evaluation``);
the maths is in ``core.confusion`` and ``core.compare.prevalence``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.compare.compare import score_evaluation
from core.compare.evaluation import load_evaluation
from core.compare.prevalence import PrCurve, compute_pr_curve
from core.config import Settings
from core.confusion import ConfusionCounts, compute_confusion
from core.provenance import DataProvenance, get_provenance
from core.registry import ModelVersionInfo
from core.tracking import backend_errors


@dataclass(frozen=True)
class OperatingPoint:
    """A version on its test split at its decision threshold now.

    Attributes:
        version: the registered model version.
        threshold: its threshold now (None: no valid threshold, so no confusion matrix).
        confusion: the counts at ``threshold``; None without a threshold.
        pr_curve: the precision-recall curve on the test split (raw, unweighted).
        provenance: the version's data provenance, with the test split's rows and frauds
            counted from the split where they were not stored.
    """

    version: int
    threshold: float | None
    confusion: ConfusionCounts | None
    pr_curve: PrCurve
    provenance: DataProvenance


@backend_errors("reading the version's test split")
def get_operating_point(settings: Settings, info: ModelVersionInfo) -> OperatingPoint:
    """Score a version's logged test split and count its decisions at its threshold now.

    Args:
        settings: where the registry and the artifacts are.
        info: the version (its threshold is read from ``info``, so a changed threshold
            needs a fresh ``info``).

    Returns:
        The confusion counts, PR curve and provenance.

    Raises:
        NotFoundError: the version has no logged test split (trained elsewhere).
        InputError: the test split holds one class only.
        BackendError: the registry or the artifact store cannot be reached.
    """
    evaluation = load_evaluation(settings, version=info.version, sampling_fraction=1.0)
    proba = score_evaluation(settings, info, evaluation)
    labels = evaluation.labels
    confusion = (
        None
        if info.threshold is None
        else compute_confusion(labels, proba, threshold=info.threshold)
    )
    return OperatingPoint(
        version=info.version,
        threshold=info.threshold,
        confusion=confusion,
        pr_curve=compute_pr_curve(labels, proba, weights=np.ones(labels.size)),
        provenance=get_provenance(info, settings=settings).with_test_split(labels),
    )
