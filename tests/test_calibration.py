"""Probabilities that mean something (calibration) and a Time the model can generalise on
(the feature step): maths on plain arrays, then on registered versions.

Expected values come from independent code: scikit-learn's LogisticRegression and
average_precision_score, math.log, numpy written here.
"""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from core.artifacts import get_reliability, get_test_split
from core.config import Settings
from core.errors import ConfigError, InputError, RefusedError
from core.explain import LOG_ODDS, RAW_LOG_ODDS
from core.models import LightGBMModel, LogRegModel
from core.models.base import read_steps
from core.models.calibration import (
    Calibration,
    assign_folds,
    cross_fit,
    fit_calibration,
    fit_platt,
)
from core.models.features import apply_time_feature
from core.registry import get_version, get_version_by_alias, load_model
from core.reliability import ReliabilityReport, compute_reliability_report
from core.schema import FEATURES, LABEL
from core.tracking import use_tracking
from core.training import train_model
from core.training.split import split_by_time
from core.training.train import _fit, _xy
from tests.conftest import LEAD, Trained


def _scores(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw log-odds of an over-confident model and labels drawn from a milder truth."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(-4.0, 2.5, size=n)
    truth = 1 / (1 + np.exp(-(0.6 * raw + 0.5)))
    return raw, (rng.random(n) < truth).astype(np.int8)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _sklearn_platt(raw: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Platt's fit, independently: an unpenalised logistic regression on Platt's smoothed
    targets, each row entered twice (as a fraud with weight t, legitimate with 1 - t)."""
    positives, negatives = int(labels.sum()), int((labels == 0).sum())
    t = np.where(labels == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    x = np.concatenate([raw, raw])[:, None]
    y = np.concatenate([np.ones(len(raw)), np.zeros(len(raw))])
    model = LogisticRegression(C=1e12, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    model.fit(x, y, sample_weight=np.concatenate([t, 1 - t]))
    return float(model.coef_[0, 0]), float(model.intercept_[0])


# --------------------------------------------------------------------------- maths


def test_platt_matches_an_independent_logistic_fit() -> None:
    raw, labels = _scores()
    slope, intercept = fit_platt(raw, labels)
    expected = _sklearn_platt(raw, labels)
    np.testing.assert_allclose([slope, intercept], expected, rtol=1e-6, atol=1e-8)
    assert 0.4 < slope < 0.8  # and it found the truth's shrinkage (0.6), roughly


def test_prior_correction_shifts_the_log_odds_by_log_f() -> None:
    raw, labels = _scores()
    plain = fit_calibration(raw, labels, method="platt").calibration
    corrected = fit_calibration(raw, labels, method="platt", sampling_fraction=0.02).calibration
    assert plain is not None and corrected is not None
    shift = corrected.log_odds(raw) - plain.log_odds(raw)
    np.testing.assert_allclose(shift, math.log(0.02), rtol=0, atol=1e-12)
    # the probabilities: natural odds = sampled odds x F
    p, q = plain.apply(raw), corrected.apply(raw)
    np.testing.assert_allclose(q / (1 - q), p / (1 - p) * 0.02, rtol=1e-9)
    # isotonic takes the same correction, on its probabilities
    iso = fit_calibration(raw, labels, method="isotonic", sampling_fraction=0.02).calibration
    iso_plain = fit_calibration(raw, labels, method="isotonic").calibration
    assert iso is not None and iso_plain is not None
    p, q = iso_plain.apply(raw), iso.apply(raw)
    inside = (p > 0) & (p < 1)
    np.testing.assert_allclose(q[inside] / (1 - q[inside]), p[inside] / (1 - p[inside]) * 0.02)


def test_platt_is_monotone_and_keeps_auprc_on_plain_arrays() -> None:
    raw, labels = _scores(seed=1)
    calibration = fit_calibration(raw, labels, method="platt", sampling_fraction=0.1).calibration
    assert calibration is not None
    order = np.argsort(raw, kind="stable")
    calibrated = calibration.apply(raw)
    assert np.all(np.diff(calibrated[order]) >= 0)
    raw_p = 1 / (1 + np.exp(-raw))
    assert (
        abs(average_precision_score(labels, calibrated) - average_precision_score(labels, raw_p))
        <= 1e-9
    )


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_out_of_fold_predictions_never_use_their_own_fold_labels(method: str) -> None:
    raw, labels = _scores(n=1500, seed=2)
    folds = assign_folds(labels, folds=5)
    before = cross_fit(raw, labels, method=method, fold_ids=folds)
    changed = labels.copy()
    held = np.flatnonzero((folds == 0) & (labels == 0))[:25]
    changed[held] = 1  # labels of fold 0 only
    after = cross_fit(raw, changed, method=method, fold_ids=folds)
    np.testing.assert_array_equal(after[folds == 0], before[folds == 0])
    assert not np.allclose(after[folds != 0], before[folds != 0])  # the labels do count


def test_isotonic_is_chosen_only_where_it_wins_out_of_fold() -> None:
    raw, labels = _scores(seed=3)
    fit = fit_calibration(raw, labels)
    assert set(fit.log_loss) == {"raw", "platt", "isotonic"}
    winner = "isotonic" if fit.log_loss["isotonic"] < fit.log_loss["platt"] else "platt"
    assert fit.scale == winner
    # the losses are the out-of-fold probabilities' own, by hand
    p = np.clip(fit.out_of_fold["platt"], 1e-15, 1 - 1e-15)
    by_hand = -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    assert fit.log_loss["platt"] == pytest.approx(by_hand, rel=1e-12)
    # a step function on a truth that is a step: isotonic wins there
    step_raw = np.linspace(-6, 6, 3000)
    step_labels = np.random.default_rng(4).random(3000) < np.where(step_raw > 0, 0.9, 0.02)
    assert fit_calibration(step_raw, step_labels.astype(np.int8)).scale == "isotonic"


def test_the_calibration_round_trips_and_unknown_steps_are_refused() -> None:
    calibration = Calibration("platt", slope=0.5, intercept=-1.25, prior_shift=math.log(0.3))
    assert Calibration.from_json(calibration.to_json()) == calibration
    steps = read_steps(
        {"probability_scale": "platt", "calibration": calibration.to_json(), "time_feature": "drop"}
    )
    assert steps == {"time_feature": "drop", "calibration": calibration}
    assert read_steps(None) == {"time_feature": "raw", "calibration": None}
    with pytest.raises(RefusedError, match="probability scale 'beta' is not known"):
        read_steps({"probability_scale": "beta"})
    with pytest.raises(RefusedError, match="time feature 'week' is not known"):
        read_steps({"time_feature": "week"})
    with pytest.raises(RefusedError, match="calibration is platt, its probability scale iso"):
        read_steps({"probability_scale": "isotonic", "calibration": calibration.to_json()})
    with pytest.raises(InputError, match="positive slope"):
        Calibration("platt", slope=-0.5)
    with pytest.raises(ConfigError, match="WORKBENCH_TIME_FEATURE='week'"):
        Settings(time_feature="week")


def test_reliability_report_by_hand() -> None:
    labels = np.array([1, 0, 0, 1])
    before = np.array([0.95, 0.15, 0.05, 0.55])
    after = np.array([0.8, 0.1, 0.1, 0.6])
    report = compute_reliability_report(
        labels, before, after, probability_scale="platt", sampling_fraction=0.5
    )
    # weights 1, 2, 2, 1: Brier = (0.05^2 + 2*0.15^2 + 2*0.05^2 + 0.45^2) / 6
    assert report.brier_before == pytest.approx((0.0025 + 0.045 + 0.005 + 0.2025) / 6)
    assert report.after.predicted == pytest.approx([(2 * 0.1 + 2 * 0.1) / 4, 0.6, 0.8])
    assert report.after.observed == pytest.approx([0.0, 1.0, 1.0])
    assert report.after.rows == [2, 1, 1] and report.after.frauds == [0, 1, 1]
    assert type(report).from_json(report.to_json()) == report


# --------------------------------------------------------------------------- feature step


def test_time_feature_by_hand() -> None:
    x = np.zeros((3, 30))
    x[:, 0] = [0.0, 90_000.0, 172_799.0]
    np.testing.assert_array_equal(apply_time_feature(x, "raw"), x)
    hours = apply_time_feature(x, "hour_of_day")[:, 0]
    np.testing.assert_allclose(hours, [0.0, 1.0, 86_399 / 3600])
    np.testing.assert_array_equal(apply_time_feature(x, "drop")[:, 0], 0.0)
    assert x[1, 0] == 90_000.0  # the input is never changed
    with pytest.raises(InputError, match="unknown time feature 'week'"):
        apply_time_feature(x, "week")


@pytest.fixture(scope="module")
def small_models(tiny_frame: pd.DataFrame) -> dict:
    """A small booster and a LogReg per time mode, fitted on that mode's view of training
    rows (cheap: 30 trees), and test rows to score."""
    split = split_by_time(tiny_frame)
    x, y = _xy(split.train)
    models = {}
    for mode in ("hour_of_day", "drop"):
        view = pd.DataFrame(apply_time_feature(x.to_numpy(), mode), columns=list(FEATURES))
        booster = lgb.LGBMClassifier(n_estimators=30, num_leaves=7, verbose=-1).fit(view, y)
        models[("lightgbm", mode)] = LightGBMModel.from_fitted(booster, time_feature=mode)
        logreg = _fit("logreg", view, y, view, y)[0]
        models[("logreg", mode)] = LogRegModel.from_fitted(logreg, time_feature=mode)
    return {"models": models, "x": split.test[list(FEATURES)].to_numpy()[:300]}


@pytest.mark.parametrize("kind", ["lightgbm", "logreg"])
def test_hour_of_day_scores_whole_days_apart_the_same(small_models: dict, kind: str) -> None:
    model, x = small_models["models"][(kind, "hour_of_day")], small_models["x"]
    later = x.copy()
    later[:, 0] += 86_400 * np.arange(1, len(x) + 1)  # each row a different number of days on
    np.testing.assert_array_equal(model.predict_proba(later), model.predict_proba(x))


@pytest.mark.parametrize("kind", ["lightgbm", "logreg"])
def test_dropped_time_contributes_nothing(small_models: dict, kind: str) -> None:
    model, x = small_models["models"][(kind, "drop")], small_models["x"]
    other = x.copy()
    other[:, 0] = np.random.default_rng(5).uniform(0, 1e7, size=len(x))
    np.testing.assert_array_equal(model.predict_proba(other), model.predict_proba(x))
    contributions = model.contributions(other)
    assert contributions.values.shape == (len(x), 30)
    np.testing.assert_array_equal(contributions.values[:, 0], 0.0)


# --------------------------------------------------------------------------- versions


def test_a_version_is_monotone_in_its_raw_score_with_auprc_unchanged(
    trained_embedded: Trained,
) -> None:
    settings = trained_embedded.settings
    info = get_version(settings, trained_embedded.result.version)
    model = load_model(settings, info)
    assert model.probability_scale == "platt" == info.tags["probability_scale"]
    test = get_test_split(settings, info.run_id)
    x, y = test[list(FEATURES)].to_numpy(), test[LABEL].to_numpy()
    raw_model = model.adapter.calibrated(None)
    raw, calibrated = raw_model.raw_score(x), model.predict_proba(x)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(calibrated[order]) >= 0)
    assert not np.allclose(calibrated, raw_model.predict_proba(x))  # it did calibrate
    assert (
        abs(
            average_precision_score(y, calibrated)
            - average_precision_score(y, raw_model.predict_proba(x))
        )
        <= 1e-9
    )
    # the logged report is the test split's Brier before and after, computed here
    report = get_reliability(settings, info.run_id)
    assert report.brier_after == pytest.approx(np.mean((calibrated - y) ** 2), rel=1e-12)
    before = raw_model.predict_proba(x)
    assert report.brier_before == pytest.approx(np.mean((before - y) ** 2), rel=1e-12)


def test_the_deployed_platt_fit_uses_validation_rows_only(
    trained_embedded: Trained, tiny_frame: pd.DataFrame
) -> None:
    settings = trained_embedded.settings
    model = load_model(settings, get_version(settings, trained_embedded.result.version))
    calibration = model.adapter.calibration
    assert calibration is not None and calibration.prior_shift == 0.0
    split = split_by_time(tiny_frame)
    raw_model = model.adapter.calibrated(None)
    x_val, y_val = _xy(split.validation)
    expected = _sklearn_platt(raw_model.raw_score(x_val.to_numpy()), y_val)
    np.testing.assert_allclose(
        [calibration.slope, calibration.intercept], expected, rtol=1e-6, atol=1e-8
    )


def test_contributions_add_up_to_the_calibrated_log_odds(trained_embedded: Trained) -> None:
    settings = trained_embedded.settings
    model = load_model(settings, get_version_by_alias(settings))
    x = np.random.default_rng(6).normal(size=(200, 30))
    x[:, 0] = np.abs(x[:, 0]) * 50_000
    contributions = model.contributions(x)
    assert contributions.scale == LOG_ODDS == model.contribution_scale
    p = model.predict_proba(x)
    np.testing.assert_allclose(contributions.raw_score, _logit(p), rtol=0, atol=1e-8)
    np.testing.assert_allclose(model.raw_score(x), _logit(p), rtol=0, atol=1e-8)


def test_isotonic_contributions_are_labelled_as_the_raw_models(small_models: dict) -> None:
    model = small_models["models"][("logreg", "drop")]
    x = small_models["x"]
    raw = model.raw_score(x)
    iso = model.calibrated(Calibration("isotonic", knots=(-5.0, 0.0, 5.0), levels=(0.0, 0.2, 1.0)))
    contributions = iso.contributions(x)
    assert contributions.scale == RAW_LOG_ODDS == iso.contribution_scale
    np.testing.assert_allclose(contributions.raw_score, raw, atol=1e-9)
    np.testing.assert_allclose(iso.predict_proba(x), np.interp(raw, [-5, 0, 5], [0, 0.2, 1]))


def test_a_trained_version_records_its_steps_in_the_artifact(
    tiny_frame: pd.DataFrame, embedded_home: Path
) -> None:
    settings = Settings(home=embedded_home, model_name=f"drop-{uuid.uuid4().hex[:8]}")
    result = train_model(
        tiny_frame,
        settings=settings,
        model_kind="logreg",
        data_sha256="0" * 64,
        actor=LEAD,
        time_feature="drop",
        sampling_fraction=0.25,
    )
    info = get_version(settings, result.version)
    assert info.tags["time_feature"] == "drop"
    assert info.tags["probability_scale"] == info.probability_scale == "platt"
    assert "natural prevalence" in info.probability_scale_text
    model = load_model(settings, info)
    assert model.adapter.time_feature == "drop"
    assert model.adapter.calibration.prior_shift == pytest.approx(math.log(0.25), abs=1e-15)
    x = tiny_frame[list(FEATURES)].to_numpy()[:100]
    shifted = x.copy()
    shifted[:, 0] += 12_345.0
    np.testing.assert_array_equal(model.predict_proba(shifted), model.predict_proba(x))
    np.testing.assert_array_equal(model.contributions(x).values[:, 0], 0.0)
    assert 0 < result.metrics.threshold < 1


def test_a_version_trained_with_the_defaults_drops_time(
    trained_embedded: Trained, tiny_frame: pd.DataFrame
) -> None:
    """The default chosen in bench/README.md ("Time as a feature"): no mode beat drop."""
    settings = trained_embedded.settings
    info = get_version(settings, trained_embedded.result.version)
    assert info.tags["time_feature"] == "drop"
    model = load_model(settings, info)
    x = tiny_frame[list(FEATURES)].to_numpy()[:50]
    later = x.copy()
    later[:, 0] += 3 * 86_400.0 + 1_234.5  # days and hours later: the same score
    np.testing.assert_array_equal(model.predict_proba(later), model.predict_proba(x))


def test_an_old_version_keeps_its_raw_scale_and_scores(
    tiny_frame: pd.DataFrame, embedded_home: Path
) -> None:
    """Logged as before calibration existed (only the kind in its metadata, or nothing):
    raw Time, raw probabilities, exactly the booster's own."""
    split = split_by_time(tiny_frame)
    x, y = _xy(split.train)
    booster = lgb.LGBMClassifier(n_estimators=30, verbose=-1).fit(x, y).booster_
    settings = Settings(home=embedded_home, model_name=f"old-{uuid.uuid4().hex[:8]}")
    use_tracking(settings)
    versions = []
    for metadata in ({"model_kind": "lightgbm"}, None):
        with mlflow.start_run():
            logged = mlflow.lightgbm.log_model(
                booster, name="model", metadata=metadata, pip_requirements=["lightgbm"]
            )
        registered = mlflow.register_model(logged.model_uri, settings.model_name)
        versions.append(int(registered.version))
    rows = split.test[list(FEATURES)].to_numpy()
    for version in versions:
        info = get_version(settings, version)
        model = load_model(settings, info)
        assert (model.probability_scale, model.adapter.time_feature) == ("raw", "raw")
        assert info.probability_scale == "raw"
        np.testing.assert_array_equal(model.predict_proba(rows), booster.predict(rows))
        np.testing.assert_allclose(
            model.contributions(rows).raw_score, booster.predict(rows, raw_score=True), atol=1e-9
        )


def _calibration_json(**fields: object) -> str:
    """A calibration as its JSON, written here by hand (json allows NaN and Infinity)."""
    data = {"method": "platt", "slope": 1.0, "intercept": 0.0, "knots": [], "levels": []}
    data.update({"prior_shift": 0.0, **fields})
    return json.dumps(data)


@pytest.mark.parametrize(
    "fields",
    [
        {"slope": math.inf},  # inf * 0 = NaN: a row at raw 0 scored NaN, never an alert
        {"intercept": math.nan},  # every probability NaN
        {"prior_shift": -math.inf},
        {"prior_shift": 0.5},  # F = e^0.5 > 1: no training data keeps more than all its rows
        {"method": "isotonic", "knots": [3.0, 1.0, 2.0], "levels": [0.1, 0.5, 0.9]},
        {"method": "isotonic", "knots": [1.0, 2.0], "levels": [0.1, 1.5]},  # p = 1.5
        {"method": "isotonic", "knots": [1.0, 2.0], "levels": [0.6, 0.2]},  # not monotone
        {"method": "isotonic", "knots": [1.0, math.nan], "levels": [0.1, 0.2]},
    ],
)
def test_a_malformed_calibration_is_refused_not_applied(fields: dict) -> None:
    text = _calibration_json(**fields)
    with pytest.raises(InputError):
        Calibration.from_json(text)
    metadata = {"probability_scale": fields.get("method", "platt"), "calibration": text}
    with pytest.raises(RefusedError, match="calibration cannot be read"):
        read_steps(metadata)


def test_an_extreme_but_finite_slope_still_gives_probabilities() -> None:
    calibration = Calibration("platt", slope=1e300, intercept=0.0)
    p = calibration.apply(np.array([-2.0, 0.0, 2.0]))
    np.testing.assert_array_equal(p, [0.0, 0.5, 1.0])  # sigmoid(-inf), sigmoid(0), sigmoid(inf)


@pytest.mark.parametrize("metadata", [["model_kind", "lightgbm"], "drop", 7])
def test_metadata_that_is_not_a_mapping_is_refused(metadata: object) -> None:
    with pytest.raises(RefusedError, match="metadata"):
        read_steps(metadata)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["[1, 2]", '"report"', "7", '{"before": [], "after": {}}'])
def test_a_reliability_report_that_is_not_one_is_a_value_error(text: str) -> None:
    """get_reliability turns ValueError into BackendError, which the page shows; anything
    else (AttributeError on a list) was a traceback on the Compare page."""
    with pytest.raises(ValueError, match="not a reliability report"):
        ReliabilityReport.from_json(text)
