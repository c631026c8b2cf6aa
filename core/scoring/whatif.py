"""Explaining one transaction without deciding on it: the Explain page's chosen row and
its what-if edits.

Nothing here is audited: a what-if is a question about the model, not a decision on a
transaction. The numbers are the same ones :func:`core.scoring.score_record` gives (the
version's probability, its SHAP contributions and reasons), through the same validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.data import validate_records
from core.errors import InputError
from core.explain import Contributions, Reason, compute_reasons
from core.registry import LoadedModel
from core.schema import FEATURES, ROW


@dataclass(frozen=True)
class RowExplanation:
    """One transaction's probability under a version, and why."""

    features: np.ndarray  # (30,), FEATURES order
    probability: float
    contributions: Contributions  # one row
    toward_fraud: list[Reason]
    toward_legit: list[Reason]


def explain_record(record: Mapping[str, Any], *, model: LoadedModel) -> RowExplanation:
    """Validate one transaction (feature -> value), score and explain it; nothing is audited.

    Raises:
        InputError: a value is missing or bad; the message names the field.
        ExplanationUnavailableError: the version cannot be explained.
    """
    frame = pd.DataFrame([{name: record.get(name) for name in FEATURES}])
    checked = validate_records(frame.set_axis(pd.Index([1], name=ROW)))
    if len(checked.rejected):
        raise InputError(str(checked.rejected["reason"].iloc[0]))
    x = checked.valid.loc[:, list(FEATURES)].to_numpy(dtype=np.float64)
    contributions = model.contributions(x)
    return RowExplanation(
        features=x[0],
        probability=float(model.predict_proba(x)[0]),
        contributions=contributions,
        toward_fraud=compute_reasons(contributions, x)[0],
        toward_legit=compute_reasons(contributions, x, toward_fraud=False)[0],
    )
