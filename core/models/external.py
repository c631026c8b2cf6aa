"""Any scikit-learn classifier trained elsewhere: the generic adapter.

ML leads register models logged outside the workbench, e.g. from a notebook with
``mlflow.sklearn.log_model(model, serialization_format="skops", ...)`` and
``mlflow.register_model``. Such a version carries none of our tags or metadata; it is loaded
safely like every scikit-learn version (skops with our trust list, ``core.models.loading``),
recognised as this kind when it is a binary classifier of classes 0 and 1 that is not our
own LogReg pipeline, checked against the schema, and explained with ``shap``
(``core.models.shap_explain``).

Probabilities are ``predict_proba(X)[:, 1]``: pyfunc's ``predict`` returns labels.
"""

from __future__ import annotations

import logging
import threading
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.models.model import ModelInfo

from core.errors import ExplanationUnavailableError, InputError
from core.explain import PROBABILITY_SCALE, Contributions
from core.models.base import ModelAdapter
from core.models.calibration import Calibration
from core.models.pyfunc import log_native_model
from core.models.shap_explain import ShapExplainer, build_explainer, log_odds
from core.models.signature import check_fitted_columns
from core.schema import FEATURES

log = logging.getLogger(__name__)

ADDITIVITY_TOLERANCE = 1e-6
"""Largest gap allowed between base + contributions and the model's own probability."""


class SklearnModel(ModelAdapter):
    """A binary scikit-learn classifier (random forest, gradient boosting, a pipeline, ...).

    ``raw_score`` is the log-odds of ``predict_proba``; contributions come from shap, on
    the scale their ``scale`` names (see ``core.models.shap_explain``). No feature step and
    no calibration: the model sees the 30 columns as they are and its probabilities are
    its own (``raw``), whatever its metadata says.
    """

    kind = "sklearn"
    flavor = "sklearn"

    def __init__(self, estimator: Any, *, background: np.ndarray | None = None) -> None:
        super().__init__(estimator)
        self._order = check_fitted_columns(estimator)
        self._names = (
            [str(n) for n in estimator.feature_names_in_]
            if hasattr(estimator, "feature_names_in_")
            else None
        )
        self._background = None if background is None else background[:, self._order]
        self._explainer: ShapExplainer | None = None
        self._problem: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_fitted(
        cls, fitted: Any, *, time_feature: str = "raw", calibration: Calibration | None = None
    ) -> SklearnModel:
        if time_feature != "raw" or calibration is not None:
            raise InputError("a model trained elsewhere keeps its raw features and scale")
        return cls(fitted)

    def calibrated(self, calibration: Calibration | None) -> SklearnModel:
        if calibration is not None:
            raise InputError("a model trained elsewhere keeps its raw scale")
        return self

    @classmethod
    def matches(cls, estimator: Any) -> bool:
        classes = getattr(estimator, "classes_", None)
        return (
            callable(getattr(estimator, "predict_proba", None))
            and classes is not None
            and len(classes) == 2
            and bool(np.all(np.asarray(classes) == [0, 1]))
        )

    @classmethod
    def from_artifact(cls, estimator: Any, *, mlmodel: Model, model_dir: Path) -> SklearnModel:
        return cls(estimator, background=_read_background(mlmodel, model_dir))

    def _input(self, ordered: np.ndarray) -> Any:
        # Fitted on a frame: scikit-learn checks the names (and warns without them).
        if self._names is None:
            return ordered
        return pd.DataFrame(ordered, columns=self._names, copy=False)

    def _predict_ordered(self, ordered: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(self._input(ordered))[:, 1], dtype=float)

    def _native_proba(self, x: np.ndarray) -> np.ndarray:
        return self._predict_ordered(x[:, self._order])

    def _native_raw_score(self, x: np.ndarray) -> np.ndarray:
        return log_odds(self._native_proba(x))

    def _get_explainer(self) -> ShapExplainer:
        """Built on first use (it imports shap), once; a failure is remembered."""
        with self._lock:
            if self._explainer is None and self._problem is None:
                try:
                    self._explainer = build_explainer(
                        self.estimator,
                        predict=self._predict_ordered,
                        to_input=self._input,
                        background=self._background,
                    )
                except ExplanationUnavailableError as exc:
                    self._problem = str(exc)
            if self._explainer is None:
                raise ExplanationUnavailableError(self._problem)
            return self._explainer

    @property
    def explanation_problem(self) -> str | None:
        try:
            self._get_explainer()
        except ExplanationUnavailableError as exc:
            return str(exc)
        return None

    @property
    def contribution_scale(self) -> str | None:
        try:
            return self._get_explainer().scale
        except ExplanationUnavailableError:
            return None

    def _native_contributions(self, x: np.ndarray) -> Contributions:
        explainer = self._get_explainer()
        ordered = x[:, self._order]
        with self._lock:  # the permutation explainer seeds numpy's global generator
            values, base = explainer.explain(ordered)
        in_schema_order = np.empty_like(values)
        in_schema_order[:, self._order] = values
        contributions = Contributions(values=in_schema_order, base=base, scale=explainer.scale)
        _check_additivity(contributions, self._predict_ordered(ordered), explainer.method)
        return contributions

    def pip_requirements(self) -> list[str]:
        import sklearn  # here: a page that loads no model does not pay for it

        return [f"scikit-learn=={sklearn.__version__}", f"skops=={_version('skops')}"]

    def log_model(self, *, metadata: dict[str, str], **options: Any) -> ModelInfo:
        return log_native_model(
            mlflow.sklearn,
            sk_model=self.estimator,
            metadata=metadata,
            serialization_format="skops",
            **options,
        )


def _check_additivity(contributions: Contributions, probability: np.ndarray, method: str) -> None:
    """Never show contributions that do not add up to the model's own probability."""
    total = contributions.raw_score
    implied = total if contributions.scale == PROBABILITY_SCALE else 1 / (1 + np.exp(-total))
    gap = float(np.max(np.abs(implied - probability), initial=0.0))
    if gap > ADDITIVITY_TOLERANCE:
        raise ExplanationUnavailableError(
            f"explanations are unavailable for this version: shap's {method} explainer's "
            f"contributions miss the model's probability by {gap:.2g}"
        )


def _read_background(mlmodel: Model, model_dir: Path) -> np.ndarray | None:
    """The logged input example's rows in ``FEATURES`` order, or None when it has none
    (or it does not hold our 30 numeric columns): the permutation explainer's background."""
    if not mlmodel.saved_input_example_info:
        return None
    try:
        example = mlmodel.load_input_example(str(model_dir))
    except (MlflowException, OSError, ValueError) as exc:
        log.warning("the model's input example cannot be read: %s", exc)
        return None
    if not isinstance(example, pd.DataFrame) or not set(FEATURES) <= set(example.columns):
        return None
    try:
        return example.loc[:, list(FEATURES)].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        return None
