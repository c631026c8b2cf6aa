"""What every model kind provides: one small adapter class per kind.

An adapter wraps a version's native model and holds everything that differs by kind:
which MLflow flavour it is logged with, how to recognise its estimator, how to log it, and
how to get probabilities, raw scores and SHAP contributions from it. The rest of core calls
these methods and never branches on the kind. A new kind is one new subclass, listed in
``core.models.ADAPTERS``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from mlflow.models import Model
from mlflow.models.model import ModelInfo

from core.explain import Contributions

METADATA_KIND = "model_kind"
"""Key of the model kind in the MLmodel ``metadata`` written when the model is logged."""


class ModelAdapter(ABC):
    """One model kind's behaviour around its native estimator."""

    kind: ClassVar[str]
    """The kind's name: the ``--model`` option, the MLmodel metadata and the version tag."""
    flavor: ClassVar[str]
    """The MLflow flavour the native model is logged with (see ``core.models.loading``)."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    @classmethod
    @abstractmethod
    def from_fitted(cls, fitted: Any) -> ModelAdapter:
        """Wrap what training fitted, keeping the native model that is logged and served."""

    @classmethod
    @abstractmethod
    def matches(cls, estimator: Any) -> bool:
        """Whether a natively loaded estimator is of this kind (checked on every load)."""

    @classmethod
    def from_artifact(cls, estimator: Any, *, mlmodel: Model, model_dir: Path) -> ModelAdapter:
        """Wrap a loaded estimator that :meth:`matches`, reading what else the kind needs
        from the downloaded model folder (only there while the version loads).

        Raises:
            InputError: the model cannot take our transactions.
        """
        return cls(estimator)

    @property
    def explanation_problem(self) -> str | None:
        """Why this version cannot be explained, or None when :meth:`contributions` works."""
        return None

    @abstractmethod
    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Fraud probability per row of a (rows, 30) float array in ``FEATURES`` order."""

    @abstractmethod
    def raw_score(self, features: np.ndarray) -> np.ndarray:
        """The model's raw score (log-odds) per row."""

    @abstractmethod
    def contributions(self, features: np.ndarray) -> Contributions:
        """SHAP contributions per row: ``base + values.sum(1)`` is the model's output on
        the contributions' ``scale`` (for our own kinds, log-odds: the raw score).

        Raises:
            ExplanationUnavailableError: the version cannot be explained
                (:attr:`explanation_problem` says why).
        """

    @abstractmethod
    def pip_requirements(self) -> list[str]:
        """Pinned packages the kind needs to load, beyond mlflow, numpy and pandas."""

    @abstractmethod
    def log_model(self, *, metadata: dict[str, str], **options: Any) -> ModelInfo:
        """Log the native model to the active run with its flavour.

        Args:
            metadata: written into the MLmodel file (immutable with the artifact).
            options: passed on to the flavour's ``log_model`` (signature, input example,
                pip requirements).

        Returns:
            MLflow's description of the logged model (its ``model_uri`` to register).
        """
