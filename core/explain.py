"""Why did a transaction score high? Exact per-row SHAP contributions and reason codes.

- LightGBM: the booster's native TreeSHAP (``pred_contrib=True``).
- LogReg pipeline: exact linear SHAP in the original feature space. With the scaler's
  training mean as background, feature j contributes ``w_j * (x_j - mean_j) / scale_j`` and
  the base value is the intercept.
Either way ``base + sum(contributions) == raw score (log-odds)``.

No UI imports: the pages, the CLI and the API draw on these arrays.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.config import Settings
from core.errors import NotFoundError
from core.registry import LoadedModel, download_artifact, get_test_split
from core.schema import FEATURES
from core.tracking import get_client

TOP_REASONS = 3
GLOBAL_SAMPLE_ROWS = 2_000
GLOBAL_ARTIFACT = "explain/global.parquet"


@dataclass(frozen=True)
class Contributions:
    """Per-row SHAP values in log-odds: ``base + values.sum(axis=1) == raw_score``."""

    values: np.ndarray  # (rows, 30), FEATURES order
    base: np.ndarray  # (rows,)

    @property
    def raw_score(self) -> np.ndarray:
        return self.base + self.values.sum(axis=1)


@dataclass(frozen=True)
class Reason:
    """One feature pushing a transaction toward fraud."""

    feature: str
    value: float
    contribution: float  # log-odds

    def __str__(self) -> str:
        return f"{self.feature} = {self.value:.4g} ({self.contribution:+.3f})"


def compute_contributions(estimator: Any, model_kind: str, features: np.ndarray) -> Contributions:
    """Exact SHAP contributions of each feature to each row's raw score.

    Args:
        estimator: a LightGBM Booster or the fitted scaler + logistic regression pipeline.
        model_kind: ``lightgbm`` or ``logreg``.
        features: (rows, 30) float array in ``FEATURES`` order.

    Returns:
        The contributions and base values, in log-odds.
    """
    x = np.ascontiguousarray(features, dtype=np.float64)
    if model_kind == "lightgbm":
        out = np.asarray(estimator.predict(x, pred_contrib=True))
        return Contributions(values=out[:, :-1], base=out[:, -1])
    scaler, logreg = estimator.named_steps["scale"], estimator.named_steps["logreg"]
    weights = logreg.coef_[0] / scaler.scale_
    values = (x - scaler.mean_) * weights
    return Contributions(values=values, base=np.full(len(x), float(logreg.intercept_[0])))


def compute_raw_score(estimator: Any, model_kind: str, features: np.ndarray) -> np.ndarray:
    """The model's own raw score (log-odds), to check additivity against."""
    x = np.ascontiguousarray(features, dtype=np.float64)
    if model_kind == "lightgbm":
        return np.asarray(estimator.predict(x, raw_score=True))
    frame = pd.DataFrame(x, columns=list(FEATURES), copy=False)
    return np.asarray(estimator.decision_function(frame))


def compute_reasons(
    contributions: Contributions, features: np.ndarray, *, top: int = TOP_REASONS
) -> list[list[Reason]]:
    """The ``top`` features pushing each row toward fraud, strongest first.

    Only positive contributions count as reasons; a row with fewer gets fewer.
    """
    values = contributions.values
    order = np.argsort(-values, axis=1, kind="stable")[:, :top]
    picked = np.take_along_axis(values, order, axis=1)
    picked_x = np.take_along_axis(np.asarray(features, dtype=np.float64), order, axis=1)
    return [
        [
            Reason(FEATURES[j], float(x), float(c))
            for j, x, c in zip(order[i], picked_x[i], picked[i], strict=True)
            if c > 0
        ]
        for i in range(len(values))
    ]


def reasons_to_json(reasons: list[Reason]) -> str:
    return json.dumps(
        [{"feature": r.feature, "value": r.value, "contribution": r.contribution} for r in reasons]
    )


def reason_columns(reasons: list[list[Reason]], *, top: int = TOP_REASONS) -> dict[str, list]:
    """``reason_1``..``reason_top`` columns of readable strings (None where absent)."""
    return {
        f"reason_{k + 1}": [str(r[k]) if len(r) > k else None for r in reasons] for k in range(top)
    }


@dataclass(frozen=True)
class GlobalExplanation:
    """Contributions on a sample of a version's test split, for global views."""

    features: pd.DataFrame  # sample rows, FEATURES columns
    contributions: pd.DataFrame  # same shape, SHAP values

    def importance(self) -> pd.Series:
        """Mean |SHAP| per feature, largest first."""
        return self.contributions.abs().mean().sort_values(ascending=False)

    def to_frame(self) -> pd.DataFrame:
        shap = self.contributions.add_prefix("shap_")
        return pd.concat(
            [self.features.reset_index(drop=True), shap.reset_index(drop=True)], axis=1
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> GlobalExplanation:
        shap = frame[[f"shap_{name}" for name in FEATURES]]
        shap.columns = list(FEATURES)
        return cls(features=frame[list(FEATURES)], contributions=shap)


def compute_global(
    estimator: Any,
    model_kind: str,
    test: pd.DataFrame,
    *,
    rows: int = GLOBAL_SAMPLE_ROWS,
    seed: int = 0,
) -> GlobalExplanation:
    """SHAP values on a fixed random sample of the test split (all frauds kept)."""
    fraud = test[test["Class"] == 1] if "Class" in test else test.iloc[0:0]
    rest = test.drop(index=fraud.index)
    take = max(rows - len(fraud), 0)
    sample = pd.concat([fraud, rest.sample(n=min(take, len(rest)), random_state=seed)])
    x = sample[list(FEATURES)].to_numpy(dtype=np.float64)
    contributions = compute_contributions(estimator, model_kind, x)
    return GlobalExplanation(
        features=sample[list(FEATURES)].reset_index(drop=True),
        contributions=pd.DataFrame(contributions.values, columns=list(FEATURES)),
    )


def get_global_explanation(settings: Settings, model: LoadedModel) -> GlobalExplanation:
    """The version's global explanation: its stored artifact, else computed once and stored.

    Raises:
        NotFoundError: the version's run has no test split to compute it from.
        BackendError: the artifact store cannot be reached.
    """
    info = model.info
    try:
        path = download_artifact(settings, info.run_id, GLOBAL_ARTIFACT)
        return GlobalExplanation.from_frame(pd.read_parquet(path))
    except NotFoundError:
        pass
    explanation = compute_global(
        model.estimator, info.model_kind, get_test_split(settings, info.run_id)
    )
    log_global_explanation(settings, info.run_id, explanation)
    return explanation


def log_global_explanation(settings: Settings, run_id: str, explanation: GlobalExplanation) -> None:
    """Store a global explanation as an artifact of ``run_id`` (works on finished runs)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(GLOBAL_ARTIFACT).name
        explanation.to_frame().to_parquet(path, index=False)
        get_client(settings).log_artifact(
            run_id, str(path), artifact_path=str(Path(GLOBAL_ARTIFACT).parent)
        )


def explain_rows(model: LoadedModel, features: np.ndarray) -> Contributions:
    """Contributions for rows scored by a loaded version (see compute_contributions)."""
    return compute_contributions(model.estimator, model.info.model_kind, features)
