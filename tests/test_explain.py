"""Explanations: exact additivity for both model kinds, reason codes, global artifacts."""

from __future__ import annotations

import json

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
    GlobalExplanation,
    Reason,
    compute_global,
    compute_linear_contributions,
    compute_reasons,
    reason_columns,
    reasons_to_json,
    sample_for_global,
    split_tree_contributions,
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


# Array-only tests below: no model training, no MLflow. `make mutation` selects them by name
# (pyproject.toml, [tool.mutmut]); each expected value is worked out by hand or with numpy.


def test_tree_output_splits_into_contributions_and_the_last_column_as_base() -> None:
    output = np.array([[1, -2, 3, 10], [0, 4, -1, 20]])  # ints, as a caller may pass
    got = split_tree_contributions(output)
    assert got.values.dtype == np.float64 and got.base.dtype == np.float64
    np.testing.assert_array_equal(got.values, [[1.0, -2.0, 3.0], [0.0, 4.0, -1.0]])
    np.testing.assert_array_equal(got.base, [10.0, 20.0])
    np.testing.assert_array_equal(got.raw_score, [12.0, 23.0])


def test_linear_shap_accepts_lists_and_keeps_the_intercept_exact() -> None:
    got = compute_linear_contributions(
        [[2, 6]],  # integer lists: converted, not truncated
        weights=[1, 3],
        intercept=np.float32(-1.5),
        mean=np.array([1.0, 2.0]),
        scale=np.array([4.0, 8.0]),
    )
    # 1 * (2 - 1) / 4 = 0.25; 3 * (6 - 2) / 8 = 1.5
    np.testing.assert_array_equal(got.values, [[0.25, 1.5]])
    assert got.base.dtype == np.float64 and got.base.tolist() == [-1.5]
    # an object array (a frame holding a text column gives one) still gives float64
    mixed = compute_linear_contributions(
        np.array([[2, 6]], dtype=object),
        weights=np.array([1, 3], dtype=object),
        intercept=0.0,
        mean=np.array([1.0, 2.0]),
        scale=np.array([4.0, 8.0]),
    )
    assert mixed.values.dtype == np.float64 and mixed.values.tolist() == [[0.25, 1.5]]


def test_reasons_honour_top_ties_and_zero() -> None:
    values = np.zeros((1, 30))
    values[0, [5, 2, 9, 7]] = [0.5, 0.5, 0.8, 0.0]  # V5 and V2 tie; V7 pushes nothing
    x = np.full((1, 30), 1234.5678)
    reasons = compute_reasons(Contributions(values, np.zeros(1)), x, top=2)
    # a tie keeps the features' order (V2 before V5)
    assert [(r.feature, r.contribution) for r in reasons[0]] == [("V9", 0.8), ("V2", 0.5)]
    assert str(reasons[0][0]) == "V9 = 1234.568 (+0.800)"  # three decimals, no exponent
    everything = compute_reasons(Contributions(values, np.zeros(1)), x, top=30)
    assert [r.feature for r in everything[0]] == ["V9", "V2", "V5"]  # a zero is no reason
    values[0, 20] = 0.1
    default = compute_reasons(Contributions(values, np.zeros(1)), x)  # top 3 by default
    assert [r.feature for r in default[0]] == ["V9", "V2", "V5"]
    many = np.zeros((1, 30))
    many[0, 10:] = 0.5  # twenty ties: the first three features win, V10, V11, V12
    tied = compute_reasons(Contributions(many, np.zeros(1)), x)
    assert [r.feature for r in tied[0]] == ["V10", "V11", "V12"]
    assert compute_reasons(Contributions(np.zeros((0, 30)), np.zeros(0)), np.zeros((0, 30))) == []


def test_reason_columns_follow_top() -> None:
    reasons = [[Reason("V1", 1.0, 0.25), Reason("V2", -2.0, 0.125)], []]
    assert reason_columns(reasons, top=2) == {
        "reason_1": ["V1 = 1 (+0.250)", None],
        "reason_2": ["V2 = -2 (+0.125)", None],
    }
    assert list(reason_columns(reasons)) == ["reason_1", "reason_2", "reason_3"]


def test_reasons_to_json_keeps_every_field() -> None:
    text = reasons_to_json([Reason("V14", -3.5, 1.25), Reason("Amount", 12.0, 0.5)])
    assert json.loads(text) == [
        {"feature": "V14", "value": -3.5, "contribution": 1.25},
        {"feature": "Amount", "value": 12.0, "contribution": 0.5},
    ]
    assert reasons_to_json([]) == "[]"


def _frame(values: np.ndarray, *, index: list[int] | None = None) -> pd.DataFrame:
    return pd.DataFrame(values, columns=list(FEATURES), index=index)


def test_global_importance_is_the_mean_absolute_contribution_largest_first() -> None:
    shap = np.zeros((2, 30))
    shap[:, 3] = [-4.0, 2.0]  # V3: mean |.| 3
    shap[:, 7] = [1.0, 1.0]  # V7: 1
    shap[:, 0] = [0.0, -5.0]  # Time: 2.5
    explanation = GlobalExplanation(features=_frame(np.ones((2, 30))), contributions=_frame(shap))
    importance = explanation.importance()
    assert importance.index[:3].tolist() == ["V3", "Time", "V7"]
    assert importance.iloc[:3].tolist() == [3.0, 2.5, 1.0]
    assert (importance.iloc[3:] == 0).all() and len(importance) == 30


def test_global_explanation_frame_round_trip() -> None:
    features = _frame(np.arange(60.0).reshape(2, 30), index=[7, 3])
    shap = _frame(-np.arange(60.0).reshape(2, 30), index=[7, 3])
    frame = GlobalExplanation(features=features, contributions=shap).to_frame()
    assert frame.columns.tolist() == [*FEATURES, *(f"shap_{name}" for name in FEATURES)]
    assert frame.index.tolist() == [0, 1]
    assert frame["V1"].tolist() == [1.0, 31.0] and frame["shap_V1"].tolist() == [-1.0, -31.0]
    back = GlobalExplanation.from_frame(frame.iloc[:, ::-1])  # column order does not matter
    assert back.features.columns.tolist() == list(FEATURES)
    assert back.contributions.columns.tolist() == list(FEATURES)
    np.testing.assert_array_equal(back.features.to_numpy(), features.to_numpy())
    np.testing.assert_array_equal(back.contributions.to_numpy(), shap.to_numpy())


def _test_split(n: int, frauds: list[int]) -> pd.DataFrame:
    frame = _frame(np.arange(n * 30, dtype=float).reshape(n, 30), index=list(range(100, 100 + n)))
    frame["Class"] = 0
    frame.loc[[100 + i for i in frauds], "Class"] = 1
    return frame


def test_global_sample_keeps_every_fraud_and_fills_with_a_seeded_sample() -> None:
    test = _test_split(40, frauds=[3, 17, 31])
    got = sample_for_global(test, rows=10, seed=5)
    frauds = test[test["Class"] == 1]
    rest = test[test["Class"] == 0].sample(n=7, random_state=5)  # pandas' own sampling
    assert got.index.tolist() == [103, 117, 131, *rest.index]
    assert sample_for_global(test, rows=10, seed=5).index.equals(got.index)  # reproducible
    assert not sample_for_global(test, rows=10, seed=6).index.equals(got.index)
    # fewer rows asked for than frauds: the frauds all the same, nothing else
    assert sample_for_global(test, rows=2, seed=5).index.tolist() == frauds.index.tolist()
    # more rows asked for than there are: every row once
    assert sorted(sample_for_global(test, rows=100).index) == test.index.tolist()
    assert len(sample_for_global(test)) == 40  # at most 2,000 rows by default
    seed_0 = sample_for_global(test, rows=10, seed=0).index
    assert sample_for_global(test, rows=10).index.equals(seed_0)  # seed 0 by default
    big = _test_split(2_003, frauds=[0, 1, 2])
    by_default = sample_for_global(big)
    assert len(by_default) == 2_000 and by_default["Class"].sum() == 3


def test_global_sample_without_labels_is_a_plain_sample() -> None:
    test = _test_split(40, frauds=[]).drop(columns="Class")
    got = sample_for_global(test, rows=6, seed=2)
    assert got.index.tolist() == test.sample(n=6, random_state=2).index.tolist()


def _linear_model(weights: dict[int, float], intercept: float) -> LogRegModel:
    """A real LogReg pipeline with hand-set coefficients; the scaler is fitted on rows whose
    column 1 (V1) has mean 1 and std 1 and all others mean 0 and scale 1."""
    x_fit = np.zeros((4, 30))
    x_fit[:, 1] = [0.0, 2.0, 0.0, 2.0]
    pipeline = Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression())])
    pipeline.fit(_frame(x_fit), [0, 1, 0, 1])
    logreg = pipeline.named_steps["logreg"]
    logreg.coef_ = np.zeros((1, 30))
    for j, w in weights.items():
        logreg.coef_[0, j] = w
    logreg.intercept_ = np.array([intercept])
    return LogRegModel(pipeline)


def test_global_explanation_is_the_model_contributions_on_the_sample() -> None:
    test = _test_split(12, frauds=[2, 9])
    model = _linear_model({1: 2.0, 4: -0.5}, intercept=-1.0)
    got = compute_global(model, test, rows=5, seed=1)
    sample = pd.concat([test.loc[[102, 109]], test[test["Class"] == 0].sample(n=3, random_state=1)])
    x = sample[list(FEATURES)].to_numpy()
    assert got.features.index.tolist() == [0, 1, 2, 3, 4]
    assert got.features.columns.tolist() == list(FEATURES)  # no Class
    np.testing.assert_array_equal(got.features.to_numpy(), x)
    expected = np.zeros_like(x)
    expected[:, 1] = 2.0 * (x[:, 1] - 1.0)  # (x - mean 1) / scale 1
    expected[:, 4] = -0.5 * x[:, 4]
    assert got.contributions.columns.tolist() == list(FEATURES)
    np.testing.assert_allclose(got.contributions.to_numpy(), expected)
    assert len(compute_global(model, test, seed=1).features) == 12  # default: every row
    by_default = compute_global(model, test, rows=5).features  # seed 0 by default
    seed_0 = sample_for_global(test, rows=5, seed=0)[list(FEATURES)].to_numpy()
    np.testing.assert_array_equal(by_default.to_numpy(), seed_0)
