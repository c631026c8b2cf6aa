"""Logistic regression on standardised features: a scikit-learn pipeline saved with skops."""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models.model import ModelInfo

from core.explain import Contributions, compute_linear_contributions
from core.models.base import ModelAdapter
from core.models.calibration import Calibration
from core.models.pyfunc import log_native_model
from core.schema import FEATURES


class LogRegModel(ModelAdapter):
    """``Pipeline([("scale", StandardScaler), ("logreg", LogisticRegression)])``."""

    kind = "logreg"
    flavor = "sklearn"

    @classmethod
    def from_fitted(
        cls, fitted: Any, *, time_feature: str = "raw", calibration: Calibration | None = None
    ) -> LogRegModel:
        return cls(fitted, time_feature=time_feature, calibration=calibration)

    @classmethod
    def matches(cls, estimator: Any) -> bool:
        # scikit-learn is imported where it is used: a page that loads no model skips it
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        steps = getattr(estimator, "named_steps", {})
        return (
            isinstance(estimator, Pipeline)
            and isinstance(steps.get("scale"), StandardScaler)
            and isinstance(steps.get("logreg"), LogisticRegression)
            and len(steps) == 2
        )

    def _frame(self, features: np.ndarray) -> pd.DataFrame:
        # The pipeline was fitted on named columns; a zero-copy frame keeps sklearn quiet.
        return pd.DataFrame(features, columns=list(FEATURES), copy=False)

    def _native_proba(self, x: np.ndarray) -> np.ndarray:
        return self.estimator.predict_proba(self._frame(x))[:, 1]

    def _native_raw_score(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float64)
        return np.asarray(self.estimator.decision_function(self._frame(x)))

    def _native_contributions(self, x: np.ndarray) -> Contributions:
        scaler = self.estimator.named_steps["scale"]
        logreg = self.estimator.named_steps["logreg"]
        return compute_linear_contributions(
            x,
            weights=logreg.coef_[0],
            intercept=float(logreg.intercept_[0]),
            mean=scaler.mean_,
            scale=scaler.scale_,
        )

    def pip_requirements(self) -> list[str]:
        # Saved with skops (safe to load), so the loader needs it too.
        import sklearn

        return [f"scikit-learn=={sklearn.__version__}", f"skops=={_version('skops')}"]

    def log_model(self, *, metadata: dict[str, str], **options: Any) -> ModelInfo:
        return log_native_model(
            mlflow.sklearn,
            sk_model=self.estimator,
            metadata=metadata,
            serialization_format="skops",
            **options,
        )
