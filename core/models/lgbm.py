"""LightGBM: a native Booster, logged in LightGBM's own text format (no pickle, no skops)."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
from mlflow.models.model import ModelInfo

from core.explain import Contributions, split_tree_contributions
from core.models.base import ModelAdapter


class LightGBMModel(ModelAdapter):
    """Gradient-boosted trees; contributions from LightGBM's native TreeSHAP."""

    kind = "lightgbm"
    flavor = "lightgbm"

    @classmethod
    def from_fitted(cls, fitted: Any) -> LightGBMModel:
        # The sklearn wrapper's Booster, saved up to its best iteration: loading it back is
        # ~20x faster than the wrapper and its predict returns the probability directly.
        return cls(fitted.booster_ if isinstance(fitted, lgb.LGBMModel) else fitted)

    @classmethod
    def matches(cls, estimator: Any) -> bool:
        return isinstance(estimator, lgb.Booster)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict(features))

    def raw_score(self, features: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(features, dtype=np.float64)
        return np.asarray(self.estimator.predict(x, raw_score=True))

    def contributions(self, features: np.ndarray) -> Contributions:
        x = np.ascontiguousarray(features, dtype=np.float64)
        return split_tree_contributions(self.estimator.predict(x, pred_contrib=True))

    def pip_requirements(self) -> list[str]:
        return [f"lightgbm=={lgb.__version__}"]

    def log_model(self, *, metadata: dict[str, str], **options: Any) -> ModelInfo:
        return mlflow.lightgbm.log_model(self.estimator, metadata=metadata, **options)
