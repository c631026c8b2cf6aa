"""Explanations: exact additivity for both model kinds, reason codes, global artifacts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.artifacts import download_artifact, get_global_explanation
from core.db import Prediction, ScoringEvent, get_engine
from core.explain import (
    Contributions,
    compute_linear_contributions,
    compute_reasons,
    reason_columns,
)
from core.models import ADAPTERS, LightGBMModel, LogRegModel
from core.registry import get_version_by_alias, load_model
from core.schema import FEATURES
from core.scoring import DECISION, resolve_model, score_file
from core.training.split import split_by_time
from core.training.train import _fit, _xy
from tests.conftest import LEAD, Trained, analyst


@pytest.fixture(scope="module")
def fitted(tiny_frame: pd.DataFrame) -> dict:
    split = split_by_time(tiny_frame)
    (xt, yt), (xv, yv) = _xy(split.train), _xy(split.validation)
    lgbm, _ = _fit("lightgbm", xt, yt, xv, yv)
    logreg, _ = _fit("logreg", xt, yt, xv, yv)
    return {
        "lightgbm": LightGBMModel.from_fitted(lgbm),
        "logreg": LogRegModel.from_fitted(logreg),
        "x": split.test[list(FEATURES)].to_numpy(),
    }


@pytest.mark.parametrize("kind", ["lightgbm", "logreg"])
def test_additivity_base_plus_contributions_is_the_raw_score(fitted: dict, kind: str) -> None:
    x, model = fitted["x"], fitted[kind]
    contributions = model.contributions(x)
    assert contributions.values.shape == (len(x), 30)
    np.testing.assert_allclose(contributions.raw_score, model.raw_score(x), atol=1e-6)
    # and the raw score really is the model's log-odds, by the native model's own predict
    proba = 1 / (1 + np.exp(-contributions.raw_score))
    frame = pd.DataFrame(x, columns=list(FEATURES))
    native = model.estimator
    expected = native.predict(x) if kind == "lightgbm" else native.predict_proba(frame)[:, 1]
    np.testing.assert_allclose(proba, expected, atol=1e-9)
    np.testing.assert_allclose(model.predict_proba(x), expected, atol=1e-12)


def test_additivity_holds_for_a_version_loaded_from_the_registry(trained: Trained) -> None:
    settings = trained.settings
    model = load_model(settings, get_version_by_alias(settings))
    x = np.random.default_rng(1).normal(size=(50, 30))
    x[:, 0] = np.abs(x[:, 0]) * 1000
    contributions = model.contributions(x)
    proba = 1 / (1 + np.exp(-contributions.raw_score))
    np.testing.assert_allclose(proba, model.predict_proba(x), atol=1e-9)


def test_linear_shap_on_a_hand_built_pipeline() -> None:
    x_fit = np.zeros((4, 30))
    x_fit[:, 1] = [0.0, 2.0, 0.0, 2.0]  # V1: mean 1, std 1
    pipeline = Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression())])
    pipeline.fit(pd.DataFrame(x_fit, columns=list(FEATURES)), [0, 1, 0, 1])
    logreg = pipeline.named_steps["logreg"]
    logreg.coef_ = np.zeros((1, 30))
    logreg.coef_[0, 1] = 2.0
    logreg.intercept_ = np.array([-3.0])
    row = np.zeros((1, 30))
    row[0, 1] = 4.0  # three std above the mean: contribution 2 * 3 = 6
    contributions = LogRegModel(pipeline).contributions(row)
    assert contributions.values[0, 1] == pytest.approx(6.0)
    assert contributions.base[0] == pytest.approx(-3.0)
    assert np.count_nonzero(contributions.values) == 1


def test_linear_shap_maths_on_plain_arrays() -> None:
    x = np.array([[3.0, 1.0], [1.0, 5.0]])
    got = compute_linear_contributions(
        x,
        weights=np.array([2.0, -1.0]),
        intercept=0.5,
        mean=np.array([1.0, 1.0]),
        scale=np.array([2.0, 4.0]),
    )
    # by hand: w * (x - mean) / scale
    np.testing.assert_allclose(got.values, [[2.0, 0.0], [0.0, -1.0]])
    np.testing.assert_allclose(got.base, [0.5, 0.5])
    np.testing.assert_allclose(got.raw_score, [2.5, -0.5])


def test_every_kind_has_an_adapter_named_after_it() -> None:
    assert {name: adapter.kind for name, adapter in ADAPTERS.items()} == {
        "lightgbm": "lightgbm",
        "logreg": "logreg",
        "sklearn": "sklearn",
    }


def test_reason_codes_order_sign_and_text() -> None:
    values = np.zeros((2, 30))
    values[0, [14, 4, 12, 17]] = [2.5, 0.7, 1.2, -3.0]  # V14, V4, V12 up; V17 down
    values[1, [3]] = [0.4]  # only one feature pushes toward fraud
    x = np.arange(60, dtype=float).reshape(2, 30)
    reasons = compute_reasons(Contributions(values, np.zeros(2)), x)
    assert [(r.feature, r.contribution) for r in reasons[0]] == [
        ("V14", 2.5),
        ("V12", 1.2),
        ("V4", 0.7),
    ]
    assert reasons[0][0].value == 14.0
    assert [r.feature for r in reasons[1]] == ["V3"]
    assert str(reasons[0][0]) == "V14 = 14 (+2.500)"
    columns = reason_columns(reasons)
    assert columns["reason_1"] == ["V14 = 14 (+2.500)", "V3 = 33 (+0.400)"]
    assert columns["reason_3"] == ["V4 = 4 (+0.700)", None]


def test_batch_scoring_gives_reasons_to_alerts_only_and_audits_them(
    trained_embedded: Trained, tiny_frame: pd.DataFrame, tmp_path
) -> None:
    settings = trained_embedded.settings
    path = tmp_path / "b.csv"
    tiny_frame.tail(2000).to_csv(path, index=False)
    result = score_file(
        path,
        settings=settings,
        choice=resolve_model(settings),
        source_kind="cli",
        actor=analyst("t"),
    )
    scored = result.scored
    alerts, quiet = scored[scored[DECISION] == 1], scored[scored[DECISION] == 0]
    assert len(alerts) > 0
    assert alerts["reason_1"].notna().all() and quiet["reason_1"].isna().all()
    with Session(get_engine(settings)) as session:
        event = session.scalars(
            select(ScoringEvent).where(ScoringEvent.event_uid == result.audit.event_uid)
        ).one()
        stored = session.scalars(select(Prediction).where(Prediction.event_id == event.id)).all()
    with_reasons = {p.row_number: p.reasons for p in stored if p.reasons is not None}
    assert set(with_reasons) == set(alerts["row"])
    top = alerts.iloc[0]
    first = with_reasons[top["row"]][0]  # the JSON column reads back as a list
    assert top["reason_1"].startswith(first["feature"] + " = ")


def test_global_explanation_is_stored_with_the_version(trained: Trained) -> None:
    settings = trained.settings
    model = load_model(settings, get_version_by_alias(settings))
    path = download_artifact(settings, trained.result.run_id, "explain/global.parquet")
    stored = pd.read_parquet(path)
    explanation = get_global_explanation(settings, model, actor=LEAD)
    assert len(explanation.features) == len(stored) <= 2000
    importance = explanation.importance()
    assert set(importance.index) == set(FEATURES) and importance.is_monotonic_decreasing
    # the stored values are the model's real contributions on those rows
    again = model.contributions(explanation.features.to_numpy())
    np.testing.assert_allclose(again.values, explanation.contributions.to_numpy(), atol=1e-9)
