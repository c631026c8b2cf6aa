"""LightGBM: a native Booster, logged in LightGBM's own text format (no pickle, no skops)."""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
from mlflow.models.model import ModelInfo

from core.explain import Contributions, split_tree_contributions
from core.models.base import ModelAdapter
from core.models.calibration import Calibration
from core.models.pyfunc import log_native_model

SMALL_INPUT_ROWS = 1000
"""Fewer rows than this are predicted on one thread. OpenMP's threads spin while they wait
for work: for one row (an API request) the hand-off to a second thread costs more than the
prediction (48 us), and when another process holds the other core (a load-test client, a
second worker) the wait grows to milliseconds. See bench/README.md, "REST sidecar"."""


def _threads(features: np.ndarray) -> int:
    """LightGBM's ``num_threads`` for this input: 1 for small ones, else 0 (its default)."""
    return 1 if len(features) < SMALL_INPUT_ROWS else 0


class LightGBMModel(ModelAdapter):
    """Gradient-boosted trees; contributions from LightGBM's native TreeSHAP."""

    kind = "lightgbm"
    flavor = "lightgbm"

    @classmethod
    def from_fitted(
        cls, fitted: Any, *, time_feature: str = "raw", calibration: Calibration | None = None
    ) -> LightGBMModel:
        # The sklearn wrapper's Booster, saved up to its best iteration: loading it back is
        # ~20x faster than the wrapper and its predict returns the probability directly.
        import lightgbm as lgb  # here, as in every method: pages that load no model skip it

        booster = fitted.booster_ if isinstance(fitted, lgb.LGBMModel) else fitted
        return cls(booster, time_feature=time_feature, calibration=calibration)

    @classmethod
    def matches(cls, estimator: Any) -> bool:
        import lightgbm as lgb

        return isinstance(estimator, lgb.Booster)

    def _native_proba(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict(x, num_threads=_threads(x)))

    def _native_raw_score(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float64)
        return np.asarray(self.estimator.predict(x, raw_score=True, num_threads=_threads(x)))

    def _native_contributions(self, x: np.ndarray) -> Contributions:
        x = np.ascontiguousarray(x, dtype=np.float64)
        output = self.estimator.predict(x, pred_contrib=True, num_threads=_threads(x))
        return split_tree_contributions(output)

    def pip_requirements(self) -> list[str]:
        import lightgbm as lgb

        return [f"lightgbm=={lgb.__version__}"]

    def log_model(self, *, metadata: dict[str, str], **options: Any) -> ModelInfo:
        return log_native_model(
            mlflow.lightgbm, lgb_model=self.estimator, metadata=metadata, **options
        )
