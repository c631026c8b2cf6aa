"""What every scoring path shares: the model a call scores with, the decision, the names
of the columns scoring adds, and the audit event a call starts from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from core.audit import ScoringEventRecord
from core.config import Settings
from core.errors import InputError
from core.explain import TOP_REASONS
from core.registry import LoadedModel, get_version, get_version_by_alias, load_model

PROBABILITY = "fraud_probability"
DECISION = "decision"
MODEL_VERSION = "model_version"
REASON_COLUMNS = tuple(f"reason_{k + 1}" for k in range(TOP_REASONS))
ID_COLUMNS = ("transaction_id", "txn_id", "TransactionID", "id")
"""Passthrough columns recognised as a transaction id for the audit log, in this order."""

Progress = Callable[[float, str], None]
SourceKind = Literal["ui", "cli", "api"]


@dataclass(frozen=True)
class ModelChoice:
    """The model a call scores with, and the alias it was reached through (if any)."""

    model: LoadedModel
    alias: str | None

    @property
    def label(self) -> str:
        info = self.model.info
        via = f"@{self.alias} → " if self.alias else ""
        return f"{info.name} {via}version {info.version}"


def resolve_model(
    settings: Settings, *, alias: str | None = None, version: int | None = None
) -> ModelChoice:
    """Pick a model by version, or by alias (default: the live alias), and load it.

    Raises:
        InputError: both an alias and a version were given.
        NotFoundError: no such version or alias.
        BackendError: the registry or the artifacts cannot be reached.
    """
    if alias is not None and version is not None:
        raise InputError("give an alias or a version, not both")
    if version is not None:
        info = get_version(settings, version, with_metrics=False)
        return ModelChoice(load_model(settings, info), None)
    alias = alias or settings.live_alias
    info = get_version_by_alias(settings, alias, with_metrics=False)
    return ModelChoice(load_model(settings, info), alias)


def score_features(
    model: LoadedModel, features: np.ndarray, *, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and 0/1 decisions (alert when probability >= threshold).

    Args:
        model: a loaded model version.
        features: (rows, 30) float64 array in ``FEATURES`` order.
        threshold: the decision threshold (see ``core.registry.read_threshold``).
    """
    if len(features) == 0:
        return np.empty(0), np.empty(0, dtype=np.int8)
    probability = model.predict_proba(features)
    return probability, (probability >= threshold).astype(np.int8)


def transaction_ids(frame: pd.DataFrame) -> np.ndarray | None:
    """The first recognised transaction-id column (``ID_COLUMNS``) as text, or None."""
    for name in ID_COLUMNS:
        if name in frame.columns:
            return frame[name].astype("string").to_numpy()
    return None


def event_header(
    choice: ModelChoice,
    source_kind: SourceKind,
    actor: str,
    input_name: str | None,
    *,
    threshold: float,
) -> ScoringEventRecord:
    """The audit event of a scoring call, with its row totals still at zero."""
    info = choice.model.info
    return ScoringEventRecord(
        source=source_kind,
        actor=actor,
        model_name=info.name,
        model_version=info.version,
        alias=choice.alias,
        threshold=threshold,
        rows_in=0,
        rows_scored=0,
        rows_rejected=0,
        alerts=0,
        input_name=input_name,
    )
