"""Fit a fraud model, evaluate it on a later time slice, log it to MLflow and register it."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow.utils.mlflow_tags import MLFLOW_USER
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from core.aliases import ensure_alias
from core.artifacts import log_global_explanation
from core.auth import Action, Actor, require
from core.compare.prevalence import check_sampling_fraction, compute_prevalence_metrics
from core.config import Settings
from core.data import load_transactions
from core.db.text import safe_text
from core.drift.sketch import log_drift_sketch
from core.errors import BackendError, InputError
from core.explain import compute_global
from core.models import ADAPTERS
from core.models.calibration import CALIBRATION_METHODS, fit_calibration
from core.models.features import apply_time_feature, check_time_mode
from core.registry import (
    TAG_DATA_SHA256,
    TAG_MODEL_KIND,
    TAG_PROBABILITY_SCALE,
    TAG_THRESHOLD,
    TAG_TIME_FEATURE,
    TAG_TRAINED_BY,
)
from core.reliability import compute_reliability_report
from core.schema import FEATURES, LABEL
from core.tracking import backend_errors, use_tracking
from core.training.metrics import (
    DEFAULT_K,
    Metrics,
    choose_threshold,
    compute_metrics,
)
from core.training.outputs import (
    file_sha256,
    log_and_register,
    log_calibration,
    log_plots,
    log_reference_and_test,
)
from core.training.provenance import (
    TAG_SAMPLING_FRACTION,
    log_data_provenance,
    log_training_data,
)
from core.training.split import split_by_time

log = logging.getLogger(__name__)

ModelKind = Literal["lightgbm", "logreg"]
MODEL_KINDS: tuple[ModelKind, ...] = ("lightgbm", "logreg")  # each has its core.models adapter
Progress = Callable[[float, str], None]

LIGHTGBM_PARAMS: dict[str, Any] = {
    "n_estimators": 1000,  # an upper bound: early stopping on validation picks the count
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 10,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.7,
    "reg_lambda": 1.0,
    "n_jobs": 2,
    "random_state": 42,
    "verbose": -1,
}
EARLY_STOPPING_ROUNDS = 50
# Log-loss, not AUPRC: on a validation slice with ~100 frauds AUPRC is too noisy to stop on
# and stops after a handful of trees (bench/README.md, "Tuning").
EARLY_STOPPING_METRIC = "binary_logloss"
LOGREG_PARAMS: dict[str, Any] = {"C": 0.1, "max_iter": 2000, "class_weight": "balanced"}


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced and where it went."""

    run_id: str
    model_name: str
    version: int
    model_kind: ModelKind
    metrics: Metrics
    alias_set: str | None
    split_sizes: dict[str, int]
    rows_rejected: int

    def as_json(self) -> dict[str, Any]:
        metrics = self.metrics.as_dict()
        metrics.pop("k")
        return {
            "run_id": self.run_id,
            "model_name": self.model_name,
            "version": self.version,
            "metrics": metrics,
        }


def _no_progress(fraction: float, message: str) -> None:
    log.info("%3.0f%% %s", fraction * 100, message)


def train_from_csv(
    path: str | Path,
    *,
    settings: Settings,
    model_kind: ModelKind = "lightgbm",
    progress: Progress | None = None,
    actor: Actor,
    sampling_fraction: float = 1.0,
    synthetic: bool = False,
    time_feature: str | None = None,
    calibration: str = "auto",
) -> TrainResult:
    """Load a labelled CSV, then :func:`train_model` on its valid rows.

    ``sampling_fraction`` is the share of legitimate rows the file keeps (0 < F <= 1; all
    frauds are assumed kept), stored with the version. ``synthetic`` marks generated data
    (the demo), recorded with the version (``core.provenance``). ``time_feature`` and
    ``calibration`` as in :func:`train_model`.

    Raises:
        PermissionDenied: the actor may not train (checked before the file is read).
        InputError: the file is unusable, has no labels, too few frauds to split, or the
            sampling fraction is not in (0, 1].
    """
    require(actor, Action.TRAIN)
    check_sampling_fraction(sampling_fraction)
    report = progress or _no_progress
    report(0.02, f"Reading {Path(path).name}")
    loaded = load_transactions(path, require_label=True)
    if len(loaded.rejected):
        log.warning(
            "%d of %d rows rejected and left out of training", len(loaded.rejected), loaded.rows_in
        )
    return train_model(
        loaded.valid,
        settings=settings,
        model_kind=model_kind,
        data_sha256=file_sha256(path),
        data_name=Path(path).name,
        rows_rejected=len(loaded.rejected),
        progress=progress,
        actor=actor,
        sampling_fraction=sampling_fraction,
        synthetic=synthetic,
        time_feature=time_feature,
        calibration=calibration,
    )


@backend_errors("logging the run to MLflow")
def train_model(
    frame: pd.DataFrame,
    *,
    settings: Settings,
    model_kind: ModelKind = "lightgbm",
    data_sha256: str,
    data_name: str = "frame",
    rows_rejected: int = 0,
    progress: Progress | None = None,
    actor: Actor,
    sampling_fraction: float = 1.0,
    synthetic: bool = False,
    time_feature: str | None = None,
    calibration: str = "auto",
) -> TrainResult:
    """Train, evaluate, log and register one model; alias it if the live alias is unset.

    The frame is split by ``Time`` into train / validation / test. Early stopping, the
    calibration and the decision threshold use validation only; the metrics are computed
    on test, with the version's (calibrated) probabilities.

    The model is fitted on the features after the feature step (``time_feature``), which
    the version keeps (``core.models.features``). Its raw log-odds are then calibrated on
    validation by cross-fitting (``core.models.calibration``): Platt unless isotonic wins
    on out-of-fold log-loss, prior-corrected to the natural prevalence with the sampling
    fraction. The threshold is the max-F1 cut of the calibrated validation probabilities:
    on the version's scale, and for Platt (strictly increasing) exactly the raw model's
    max-F1 cut mapped through the calibration, so the same validation rows are alerts.

    Args:
        frame: labelled transactions (features and ``Class``).
        settings: where to log and register.
        model_kind: ``lightgbm`` (default) or ``logreg`` (scaled logistic regression).
        data_sha256: hash of the source data, stored as a version tag.
        data_name: a readable name of the source data, logged as a parameter.
        rows_rejected: rows of the source the loader rejected, logged as a parameter.
        progress: called with (fraction done, message) as work advances.
        actor: who trains (``ml_lead``); recorded as the run's user.
        sampling_fraction: share of legitimate rows kept in ``frame`` (0 < F <= 1), a run
            parameter and version tag; test metrics are also logged weighted with it
            (``test_weighted_*``). The training rows' Time range and input hashes are
            logged for the leakage guard (``core.training.provenance``).
        synthetic: the data was generated, not real: recorded with the version, with
            the data's rows and frauds and the test split's (``core.provenance``).
        time_feature: how the model sees ``Time`` (``raw``, ``drop``, ``hour_of_day``);
            default: ``settings.time_feature``.
        calibration: ``auto`` (Platt unless isotonic wins), ``platt``, ``isotonic`` or
            ``none`` (the raw scale).

    Returns:
        The run, the registered version and its test metrics.

    Raises:
        PermissionDenied: the actor may not train.
        InputError: unknown model kind, time feature or calibration, too few frauds to
            split, or a sampling fraction outside (0, 1].
        BackendError: MLflow cannot be reached; or the version was registered but the live
            alias, unset, could not be set on it (the message names the version).
    """
    require(actor, Action.TRAIN)
    fraction = check_sampling_fraction(sampling_fraction)
    if model_kind not in MODEL_KINDS:
        raise InputError(
            f"unknown model kind {model_kind!r}; choose one of {', '.join(MODEL_KINDS)}"
        )
    mode = check_time_mode(time_feature or settings.time_feature)
    if calibration not in CALIBRATION_METHODS:
        raise InputError(
            f"unknown calibration {calibration!r}; choose one of {', '.join(CALIBRATION_METHODS)}"
        )
    report = progress or _no_progress
    split = split_by_time(frame)
    x_train, y_train = _xy(split.train)
    x_val, y_val = _xy(split.validation)
    x_test, y_test = _xy(split.test)

    report(0.1, f"Fitting {model_kind} on {len(x_train):,} rows")
    model, params = _fit(model_kind, _view(x_train, mode), y_train, _view(x_val, mode), y_val)
    report(0.5, "Calibrating and choosing the threshold on validation, scoring test")
    raw_model = ADAPTERS[model_kind].from_fitted(model, time_feature=mode)
    fitted = fit_calibration(
        raw_model.raw_score(x_val.to_numpy()), y_val, sampling_fraction=fraction, method=calibration
    )
    adapter = raw_model.calibrated(fitted.calibration)
    val_proba = adapter.predict_proba(x_val.to_numpy())
    threshold = _inside_unit_interval(choose_threshold(y_val, val_proba))
    test_proba = adapter.predict_proba(x_test.to_numpy())
    metrics = compute_metrics(y_test, test_proba, threshold=threshold, k=DEFAULT_K)
    prevalence = compute_prevalence_metrics(
        y_test, test_proba, threshold=threshold, sampling_fraction=fraction, k=DEFAULT_K
    )
    test_raw = raw_model.predict_proba(x_test.to_numpy())
    reliability = compute_reliability_report(
        y_test,
        test_raw,
        test_proba,
        probability_scale=adapter.probability_scale,
        sampling_fraction=fraction,
        validation_log_loss=fitted.log_loss,
        folds=fitted.folds,
    )

    report(0.6, "Logging the run to MLflow")
    use_tracking(settings)
    run_tags = {MLFLOW_USER: safe_text(actor.name, 250)}  # who trained, not the OS user
    with mlflow.start_run(run_name=f"{model_kind}-{data_sha256[:8]}", tags=run_tags) as run:
        mlflow.log_params(
            {
                **params,
                "model_kind": model_kind,
                "data": data_name,
                "data_sha256": data_sha256,
                "rows_rejected": rows_rejected,
                **{f"rows_{k}": v for k, v in split.sizes().items()},
                "frauds_train": int(y_train.sum()),
                "time_feature": mode,
                "calibration": calibration,
                "probability_scale": adapter.probability_scale,
                "calibration_folds": fitted.folds,
            }
        )
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.as_dict().items()})
        mlflow.log_metrics(
            {
                "test_alerts_per_10k": prevalence.raw.alerts_per_10k,
                **{
                    f"test_weighted_{k}": v
                    for k, v in prevalence.weighted.as_dict().items()
                    if k != "k"
                },
            }
        )
        log_calibration(reliability, y_test, test_raw)
        log_training_data(pd.concat([split.train, split.validation]), sampling_fraction=fraction)
        data_tags = log_data_provenance(frame, split.test, data_name=data_name, synthetic=synthetic)
        log_plots(y_test, test_proba, threshold, reliability)
        log_reference_and_test(split.train, split.test, test_proba)
        log_drift_sketch(
            split.train, val_proba, y_val, sampling_fraction=fraction, threshold=threshold
        )
        report(0.75, "Logging and registering the model")
        version = log_and_register(
            adapter,
            x_train,
            settings,
            tags={
                TAG_THRESHOLD: repr(threshold),
                TAG_MODEL_KIND: model_kind,
                TAG_DATA_SHA256: data_sha256,
                TAG_TRAINED_BY: safe_text(actor.name, 250),
                TAG_SAMPLING_FRACTION: repr(fraction),
                **data_tags,
                TAG_PROBABILITY_SCALE: adapter.probability_scale,
                TAG_TIME_FEATURE: mode,
            },
        )
        run_id = run.info.run_id
        report(0.9, "Explaining a sample of the test split")
        log_global_explanation(settings, run_id, compute_global(adapter, split.test), actor=actor)

    report(0.95, "Checking the live alias")
    try:
        alias_set = ensure_alias(settings, version=version, actor=actor)
    except BackendError as exc:  # the version exists: say so, not only why the alias failed
        raise BackendError(
            f"registered {settings.model_name} version {version}; the alias "
            f"@{settings.live_alias} was not set: {exc}; train again once the app database "
            "answers to set it"
        ) from exc
    report(1.0, f"Registered {settings.model_name} version {version}")
    return TrainResult(
        run_id=run_id,
        model_name=settings.model_name,
        version=version,
        model_kind=model_kind,
        metrics=metrics,
        alias_set=alias_set,
        split_sizes=split.sizes(),
        rows_rejected=rows_rejected,
    )


def _xy(part: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    return part.loc[:, list(FEATURES)].astype(np.float64), part[LABEL].to_numpy(dtype=np.int8)


def _view(x: pd.DataFrame, mode: str) -> pd.DataFrame:
    """The features as the model is fitted on them: after the feature step."""
    return pd.DataFrame(apply_time_feature(x.to_numpy(), mode), columns=x.columns, index=x.index)


def _inside_unit_interval(threshold: float) -> float:
    """A threshold a version tag can hold (strictly between 0 and 1) with the same
    decisions: calibrated probabilities can reach 0 or 1 exactly, and no float lies
    between 1 and the float just below it."""
    return threshold if 0.0 < threshold < 1.0 else math.nextafter(threshold, 0.5)


def _fit(
    model_kind: ModelKind,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_val: pd.DataFrame,
    y_val: np.ndarray,
) -> tuple[Any, dict[str, Any]]:
    if model_kind == "logreg":
        pipeline = Pipeline(
            [("scale", StandardScaler()), ("logreg", LogisticRegression(**LOGREG_PARAMS))]
        )
        pipeline.fit(x_train, y_train)
        return pipeline, {f"logreg_{k}": v for k, v in LOGREG_PARAMS.items()}
    # Weight frauds by the square root of the imbalance: full inverse-frequency weights
    # help recall but wreck calibration and, on this data, AUPRC (see bench/README.md).
    negatives, positives = int((y_train == 0).sum()), int(y_train.sum())
    scale_pos_weight = float(np.sqrt(negatives / positives))
    model = lgb.LGBMClassifier(**LIGHTGBM_PARAMS, scale_pos_weight=scale_pos_weight)
    model.fit(
        x_train,
        y_train,
        eval_X=x_val,
        eval_y=y_val,
        eval_metric=EARLY_STOPPING_METRIC,
        callbacks=[
            lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)
        ],
    )
    params = {
        **LIGHTGBM_PARAMS,
        "scale_pos_weight": round(scale_pos_weight, 4),
        "best_iteration": int(model.best_iteration_ or LIGHTGBM_PARAMS["n_estimators"]),
    }
    return model, params
