"""Scoring one transaction (the Score page, later the API): validated, scored, explained
and audited in one call."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from core.audit import AuditReceipt, log_scoring, make_predictions_table
from core.auth import Action, Actor, require
from core.config import Settings
from core.data import validate_records
from core.errors import ExplanationUnavailableError, InputError
from core.explain import Contributions, Reason, compute_reasons, reasons_to_json
from core.latency import compute_latency_histogram
from core.registry import read_threshold
from core.schema import FEATURES, ROW
from core.scoring.base import (
    ModelChoice,
    SourceKind,
    event_header,
    score_features,
    transaction_ids,
)
from core.scoring.batch import count_drift, get_drift_sketch


@dataclass(frozen=True)
class SingleResult:
    """The outcome of scoring one transaction: the decision, why, and its audit receipt."""

    probability: float
    decision: int
    model_label: str
    model_version: int
    threshold: float
    features: dict[str, float]
    contributions: Contributions | None  # one row, for the waterfall; None: not explainable
    reasons: list[Reason]
    audit: AuditReceipt
    explanation_problem: str | None = None  # why there are no contributions


def score_record(
    record: Mapping[str, Any],
    *,
    settings: Settings,
    choice: ModelChoice,
    source_kind: SourceKind,
    actor: Actor,
) -> SingleResult:
    """Validate, score and audit one transaction given as feature -> value.

    The audit event stores the row counted on the version's drift bins (when it has a
    drift reference) and the call's time to its decision as one latency sample.

    Raises:
        PermissionDenied: the actor's role may not score.
        InputError: a value is missing or bad; the message names every bad field.
        MissingThresholdError: the version has no valid threshold; nothing is scored.
    """
    require(actor, Action.SCORE)
    start = time.perf_counter()
    threshold = read_threshold(settings, choice.model.info)
    checked = validate_records(pd.DataFrame([dict(record)], index=pd.Index([1], name=ROW)))
    if len(checked.rejected):
        raise InputError(str(checked.rejected["reason"].iloc[0]))
    features = checked.valid.loc[:, list(FEATURES)].to_numpy(dtype=np.float64)
    probability, decision = score_features(choice.model, features, threshold=threshold)
    info = choice.model.info
    contributions: Contributions | None = None
    reasons: list[Reason] = []
    problem = None
    try:
        contributions = choice.model.contributions(features)
        reasons = compute_reasons(contributions, features)[0]
    except ExplanationUnavailableError as exc:  # scored and decided all the same
        problem = str(exc)
    sketch = get_drift_sketch(settings, choice)
    counted = count_drift(sketch, features, probability) if sketch is not None else None
    drift = counted.to_json() if counted is not None else None
    latency = compute_latency_histogram([1000 * (time.perf_counter() - start)])
    receipt = log_scoring(
        settings,
        replace(
            event_header(
                choice, source_kind, actor.name, "single transaction", threshold=threshold
            ),
            rows_in=1,
            rows_scored=1,
            alerts=int(decision[0]),
            drift_counts=drift,
            latency_ms=latency.to_json(),
        ),
        make_predictions_table(
            row_number=None,
            transaction_id=transaction_ids(checked.valid),
            features=features,
            probability=probability,
            decision=decision,
            reasons=[reasons_to_json(reasons)],
        ),
    )
    return SingleResult(
        probability=float(probability[0]),
        decision=int(decision[0]),
        model_label=choice.label,
        model_version=info.version,
        threshold=threshold,
        features=dict(zip(FEATURES, features[0].tolist(), strict=True)),
        contributions=contributions,
        reasons=reasons,
        audit=receipt,
        explanation_problem=problem,
    )
