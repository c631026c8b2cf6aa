"""Why did a transaction score high? Exact per-row SHAP contributions and reason codes.

Pure maths: arrays in, arrays out. No MLflow and no storage here, so the same functions work
in a notebook; each model kind's adapter (``core.models``) feeds them its own numbers, and
storing global explanations lives next to the registry (``core.artifacts``).

- LightGBM: the booster's native TreeSHAP output, split by :func:`split_tree_contributions`.
- LogReg pipeline: exact linear SHAP in the original feature space
  (:func:`compute_linear_contributions`). With the scaler's training mean as background,
  feature j contributes ``w_j * (x_j - mean_j) / scale_j`` and the base value is the
  intercept.

Either way ``base + sum(contributions) == raw score (log-odds)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from core.schema import FEATURES, format_feature_value

TOP_REASONS = 3
GLOBAL_SAMPLE_ROWS = 2_000
LOG_ODDS = "log-odds"
RAW_LOG_ODDS = "log-odds of the uncalibrated model"
"""Contributions of an isotonic-calibrated version: they add up to the raw model's log-odds,
not to the log-odds of its (calibrated) probability."""
PROBABILITY_SCALE = "probability"


@dataclass(frozen=True)
class Contributions:
    """Per-row SHAP values: ``base + values.sum(axis=1)`` is the model's output on ``scale``.

    Our own kinds explain in log-odds (the raw score). A model trained elsewhere may be
    explained on the probability scale (a random forest's trees average probabilities).
    """

    values: np.ndarray  # (rows, 30), FEATURES order
    base: np.ndarray  # (rows,)
    scale: str = LOG_ODDS

    @property
    def raw_score(self) -> np.ndarray:
        return self.base + self.values.sum(axis=1)


class Explainable(Protocol):
    """Anything that gives SHAP contributions for a (rows, 30) feature array."""

    def contributions(self, features: np.ndarray) -> Contributions: ...


@dataclass(frozen=True)
class Reason:
    """One feature pushing a transaction toward fraud."""

    feature: str
    value: float
    contribution: float  # log-odds

    def __str__(self) -> str:
        return (
            f"{self.feature} = {format_feature_value(self.feature, self.value)} "
            f"({self.contribution:+.3f})"
        )


def split_tree_contributions(output: np.ndarray) -> Contributions:
    """Split a TreeSHAP output (rows, features + 1), whose last column is the base value.

    Args:
        output: e.g. LightGBM's ``predict(x, pred_contrib=True)``.

    Returns:
        The contributions and base values, in log-odds.
    """
    out = np.asarray(output, dtype=np.float64)
    return Contributions(values=out[:, :-1], base=out[:, -1])


def compute_linear_contributions(
    features: np.ndarray,
    *,
    weights: np.ndarray,
    intercept: float,
    mean: np.ndarray,
    scale: np.ndarray,
) -> Contributions:
    """Exact SHAP values of a logistic regression fitted on standardised features.

    Args:
        features: (rows, n) raw (unscaled) feature values.
        weights: the regression's coefficients on the scaled features, shape (n,).
        intercept: the regression's intercept, in log-odds.
        mean: the scaler's training mean, the SHAP background, shape (n,).
        scale: the scaler's training standard deviation, shape (n,).

    Returns:
        ``weights * (x - mean) / scale`` per row, with the intercept as base value.
    """
    x = np.ascontiguousarray(features, dtype=np.float64)
    values = (x - mean) * (np.asarray(weights, dtype=np.float64) / scale)
    return Contributions(values=values, base=np.full(len(x), float(intercept)))


def compute_reasons(
    contributions: Contributions,
    features: np.ndarray,
    *,
    top: int = TOP_REASONS,
    toward_fraud: bool = True,
) -> list[list[Reason]]:
    """The ``top`` features pushing each row toward fraud, strongest first.

    Only positive contributions count as reasons; a row with fewer gets fewer. With
    ``toward_fraud=False``, the features pulling each row toward legitimate instead (the
    most negative contributions first, negative ones only).
    """
    sign = 1.0 if toward_fraud else -1.0
    values = contributions.values * sign
    order = np.argsort(-values, axis=1, kind="stable")[:, :top]
    picked = np.take_along_axis(values, order, axis=1)
    picked_x = np.take_along_axis(np.asarray(features, dtype=np.float64), order, axis=1)
    return [
        [
            Reason(FEATURES[j], float(x), sign * float(c))
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


def sample_for_global(
    test: pd.DataFrame, *, rows: int = GLOBAL_SAMPLE_ROWS, seed: int = 0
) -> pd.DataFrame:
    """A fixed random sample of ``rows`` rows of a test split, every fraud kept."""
    fraud = test[test["Class"] == 1] if "Class" in test else test.iloc[0:0]
    rest = test.drop(index=fraud.index)
    take = max(rows - len(fraud), 0)
    return pd.concat([fraud, rest.sample(n=min(take, len(rest)), random_state=seed)])


def compute_global(
    model: Explainable,
    test: pd.DataFrame,
    *,
    rows: int = GLOBAL_SAMPLE_ROWS,
    seed: int = 0,
) -> GlobalExplanation:
    """SHAP values on a fixed random sample of the test split (all frauds kept).

    Args:
        model: a model adapter (or anything with ``contributions(features)``).
        test: the test split (FEATURES and, if known, ``Class``).
        rows: sample size.
        seed: sampling seed.

    Returns:
        The sample's features and their contributions.
    """
    sample = sample_for_global(test, rows=rows, seed=seed)
    x = sample[list(FEATURES)].to_numpy(dtype=np.float64)
    contributions = model.contributions(x)
    return GlobalExplanation(
        features=sample[list(FEATURES)].reset_index(drop=True),
        contributions=pd.DataFrame(contributions.values, columns=list(FEATURES)),
    )
