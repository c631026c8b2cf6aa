"""A version at its threshold on its own test split: the confusion matrix with its counts,
the precision-recall curve and the operating point on it.

Loading is here: the test split and the scores training stored with it (no model load, no
scikit-learn: Home draws this on its first render), or the version scored now where it
is older than the stored scores. The maths is in ``core.confusion``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.artifacts import get_test_scores, get_test_split
from core.config import Settings
from core.confusion import (
    ConfusionCounts,
    PrecisionRecall,
    compute_confusion,
    compute_precision_recall,
)
from core.errors import InputError, NotFoundError
from core.provenance import DataProvenance, get_provenance
from core.registry import ModelVersionInfo
from core.schema import FEATURES, LABEL
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
    pr_curve: PrecisionRecall
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
    split, proba = load_scored_test_split(settings, info)
    labels = split[LABEL].to_numpy(dtype=np.int8)
    if labels.min() == labels.max():
        raise InputError("the test split holds one class only: no confusion matrix")
    confusion = (
        None
        if info.threshold is None
        else compute_confusion(labels, proba, threshold=info.threshold)
    )
    return OperatingPoint(
        version=info.version,
        threshold=info.threshold,
        confusion=confusion,
        pr_curve=compute_precision_recall(labels, proba),
        provenance=get_provenance(info, settings=settings).with_test_split(labels),
    )


def load_scored_test_split(
    settings: Settings, info: ModelVersionInfo
) -> tuple[pd.DataFrame, np.ndarray]:
    """The version's test split and its probability for each row, in the split's order:
    as training stored them (no model load), else scored now (versions trained before
    the scores were kept).

    Raises:
        NotFoundError: the version has no test split (trained elsewhere).
        BackendError: the stores cannot be reached.
    """
    split = get_test_split(settings, info.run_id).reset_index(drop=True)
    try:
        proba = get_test_scores(settings, info.run_id)
        if proba.size == len(split):
            return split, proba
    except NotFoundError:
        pass
    from core.registry import load_model  # the model: only for older versions

    features = split.loc[:, list(FEATURES)].to_numpy(dtype=np.float64)
    return split, load_model(settings, info).predict_proba(features)
