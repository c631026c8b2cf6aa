"""What every model kind provides: one small adapter class per kind.

An adapter wraps a version's native model and holds everything that differs by kind:
which MLflow flavour it is logged with, how to recognise its estimator, how to log it, and
how to get probabilities, raw scores and SHAP contributions from it. The rest of core calls
these methods and never branches on the kind. A new kind is one new subclass, listed in
``core.models.ADAPTERS``.

Around every kind's native model sit two steps, the same for all, written once here
(template methods: a kind implements ``_native_*``, the public methods add the steps):

1. the feature step (``core.models.features``): how the model sees ``Time``;
2. the calibration (``core.models.calibration``): raw log-odds to a probability that reads
   as a rate, prior-corrected to the natural prevalence.

Both are recorded in the MLmodel ``metadata`` when the model is logged (immutable with the
artifact) and read back when it loads. A version logged without them (trained before they
existed) keeps the raw ``Time`` and its raw probabilities, exactly as before.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from mlflow.models import Model
from mlflow.models.model import ModelInfo

from core.errors import InputError, RefusedError
from core.explain import LOG_ODDS, RAW_LOG_ODDS, Contributions
from core.models.calibration import PROBABILITY_SCALES, RAW, Calibration
from core.models.features import TIME_MODES, apply_time_feature, check_time_mode

METADATA_KIND = "model_kind"
"""Key of the model kind in the MLmodel ``metadata`` written when the model is logged."""
METADATA_TIME_FEATURE = "time_feature"
"""MLmodel metadata key: the feature step's mode (``core.models.features.TIME_MODES``)."""
METADATA_PROBABILITY_SCALE = "probability_scale"
"""MLmodel metadata key: ``raw``, ``platt`` or ``isotonic`` (``core.models.calibration``)."""
METADATA_CALIBRATION = "calibration"
"""MLmodel metadata key: the calibration as JSON (``Calibration.to_json``), when not raw."""


def read_steps(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """The feature step and calibration an artifact's MLmodel metadata records, as keyword
    arguments for an adapter: none recorded (a version trained before they existed) means
    the raw ``Time`` and the raw scale.

    Raises:
        RefusedError: a mode or scale not known here, or a calibration that does not match
            its scale or cannot be read.
    """
    metadata = metadata or {}
    if not isinstance(metadata, Mapping):
        raise RefusedError(f"the MLmodel metadata is a {type(metadata).__name__}, not a mapping")
    mode = str(metadata.get(METADATA_TIME_FEATURE, "raw"))
    if mode not in TIME_MODES:
        raise RefusedError(
            f"time feature {mode!r} is not known here; known: {', '.join(TIME_MODES)}"
        )
    scale = str(metadata.get(METADATA_PROBABILITY_SCALE, RAW))
    if scale not in PROBABILITY_SCALES:
        raise RefusedError(
            f"probability scale {scale!r} is not known here; known: {', '.join(PROBABILITY_SCALES)}"
        )
    calibration = None
    if scale != RAW:
        try:
            calibration = Calibration.from_json(str(metadata[METADATA_CALIBRATION]))
        except (KeyError, InputError) as exc:
            raise RefusedError(f"the {scale} calibration cannot be read: {exc!r}") from exc
        if calibration.method != scale:
            raise RefusedError(
                f"the calibration is {calibration.method}, its probability scale {scale}"
            )
    return {"time_feature": mode, "calibration": calibration}


class ModelAdapter(ABC):
    """One model kind's behaviour around its native estimator, with the two steps around it.

    Attributes:
        estimator: the native model, fitted on features after the feature step.
        time_feature: the feature step's mode (``raw`` for versions without one).
        calibration: raw log-odds to probability, or None for the raw scale.
    """

    kind: ClassVar[str]
    """The kind's name: the ``--model`` option, the MLmodel metadata and the version tag."""
    flavor: ClassVar[str]
    """The MLflow flavour the native model is logged with (see ``core.models.loading``)."""

    def __init__(
        self, estimator: Any, *, time_feature: str = "raw", calibration: Calibration | None = None
    ) -> None:
        self.estimator = estimator
        self.time_feature = check_time_mode(time_feature)
        self.calibration = calibration

    @classmethod
    @abstractmethod
    def from_fitted(
        cls, fitted: Any, *, time_feature: str = "raw", calibration: Calibration | None = None
    ) -> ModelAdapter:
        """Wrap what training fitted (on features after ``time_feature``'s step), keeping
        the native model that is logged and served."""

    @classmethod
    @abstractmethod
    def matches(cls, estimator: Any) -> bool:
        """Whether a natively loaded estimator is of this kind (checked on every load)."""

    @classmethod
    def from_artifact(cls, estimator: Any, *, mlmodel: Model, model_dir: Path) -> ModelAdapter:
        """Wrap a loaded estimator that :meth:`matches`, reading what else the kind needs
        from the downloaded model folder (only there while the version loads): the feature
        step and calibration its metadata records (:func:`read_steps`).

        Raises:
            InputError: the model cannot take our transactions.
            RefusedError: its recorded feature step or calibration is not known here.
        """
        return cls(estimator, **read_steps(mlmodel.metadata))

    def calibrated(self, calibration: Calibration | None) -> ModelAdapter:
        """The same native model and feature step with another calibration."""
        return type(self)(self.estimator, time_feature=self.time_feature, calibration=calibration)

    @property
    def probability_scale(self) -> str:
        """What :meth:`predict_proba` returns: ``raw`` (the model's own probability),
        ``platt`` or ``isotonic`` (calibrated, prior-corrected where the version's training
        data was down-sampled)."""
        return RAW if self.calibration is None else self.calibration.method

    @property
    def contribution_scale(self) -> str | None:
        """The scale :meth:`contributions` are on: ``log-odds`` (of :meth:`predict_proba`,
        raw or Platt) or the uncalibrated model's log-odds (isotonic); None when the version
        cannot be explained."""
        if self.calibration is None or self.calibration.additive:
            return LOG_ODDS
        return RAW_LOG_ODDS

    def metadata(self) -> dict[str, str]:
        """What the MLmodel ``metadata`` records of this adapter when it is logged."""
        recorded = {
            METADATA_KIND: self.kind,
            METADATA_TIME_FEATURE: self.time_feature,
            METADATA_PROBABILITY_SCALE: self.probability_scale,
        }
        if self.calibration is not None:
            recorded[METADATA_CALIBRATION] = self.calibration.to_json()
        return recorded

    @property
    def explanation_problem(self) -> str | None:
        """Why this version cannot be explained, or None when :meth:`contributions` works."""
        return None

    def model_view(self, features: np.ndarray) -> np.ndarray:
        """The features as the native model takes them (after the feature step)."""
        return apply_time_feature(features, self.time_feature)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Fraud probability per row of a (rows, 30) float array in ``FEATURES`` order, on
        :attr:`probability_scale`."""
        x = self.model_view(features)
        if self.calibration is None:
            return self._native_proba(x)
        return self.calibration.apply(self._native_raw_score(x))

    def raw_score(self, features: np.ndarray) -> np.ndarray:
        """The log-odds the contributions add up to (on :attr:`contribution_scale`): the
        log-odds of :meth:`predict_proba` for the raw and Platt scales, the uncalibrated
        model's for isotonic."""
        raw = self._native_raw_score(self.model_view(features))
        if self.calibration is None or not self.calibration.additive:
            return raw
        return self.calibration.log_odds(raw)

    def contributions(self, features: np.ndarray) -> Contributions:
        """SHAP contributions per row: ``base + values.sum(1)`` is :meth:`raw_score` on the
        contributions' ``scale`` (:attr:`contribution_scale`). For Platt each contribution
        is the native one times the slope, so they add up to the calibrated log-odds.

        Raises:
            ExplanationUnavailableError: the version cannot be explained
                (:attr:`explanation_problem` says why).
        """
        native = self._native_contributions(self.model_view(features))
        if self.calibration is None:
            return native
        if self.calibration.additive:
            return self.calibration.apply_to_contributions(native)
        return Contributions(values=native.values, base=native.base, scale=RAW_LOG_ODDS)

    @abstractmethod
    def _native_proba(self, x: np.ndarray) -> np.ndarray:
        """The native model's probability on features after the feature step."""

    @abstractmethod
    def _native_raw_score(self, x: np.ndarray) -> np.ndarray:
        """The native model's log-odds on features after the feature step."""

    @abstractmethod
    def _native_contributions(self, x: np.ndarray) -> Contributions:
        """The native model's SHAP contributions on features after the feature step."""

    @abstractmethod
    def pip_requirements(self) -> list[str]:
        """Pinned packages the kind needs to load, beyond mlflow, numpy and pandas."""

    @abstractmethod
    def log_model(self, *, metadata: dict[str, str], **options: Any) -> ModelInfo:
        """Log the native model to the active run with its flavour.

        Args:
            metadata: written into the MLmodel file (immutable with the artifact); see
                :meth:`metadata`.
            options: passed on to the flavour's ``log_model`` (signature, input example,
                pip requirements).

        Returns:
            MLflow's description of the logged model (its ``model_uri`` to register).
        """
