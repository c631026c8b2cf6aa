"""Versions trained elsewhere: logged and registered with plain MLflow calls, as from a
notebook (skops format, no tags of ours), then listed, scored, decided and explained by core.

Expected values come from the estimators themselves (``predict_proba``,
``decision_function``, the coefficients), computed here, never from core.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io
from mlflow import MlflowClient
from mlflow.models import ModelSignature, infer_signature
from mlflow.types import ColSpec, Schema
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.errors import ExplanationUnavailableError, InputError, RefusedError
from core.explain import LOG_ODDS, PROBABILITY_SCALE
from core.models import SKOPS_TRUSTED_TYPES, SklearnModel
from core.models.trees import check_trees
from core.models.trust import check_skops_file
from core.registry import MissingThresholdError, get_version, list_versions, load_model
from core.schema import FEATURES
from core.scoring import (
    DECISION,
    PROBABILITY,
    REASON_COLUMNS,
    resolve_model,
    score_file,
    score_record,
)
from tests.conftest import REPO, analyst, log_elsewhere, settings_env

# What a notebook author passes to MLflow for a tree ensemble saved with skops; core ignores
# it and uses its own list.
THEIR_TRUST = ["sklearn.tree._tree.Tree"]


@pytest.fixture(scope="module")
def data(tiny_frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Train on the first 70% by time, evaluate on the rest (frauds first, so alerts exist)."""
    ordered = tiny_frame.sort_values("Time", kind="stable")
    cut = int(len(ordered) * 0.7)
    train, rest = ordered.iloc[:cut], ordered.iloc[cut:]
    evaluation = pd.concat([rest[rest["Class"] == 1].head(20), rest[rest["Class"] == 0].head(180)])
    return {"train": train, "eval": evaluation.reset_index(drop=True)}


@pytest.fixture(scope="module")
def forest(data: dict[str, pd.DataFrame]) -> RandomForestClassifier:
    model = RandomForestClassifier(n_estimators=25, max_depth=6, random_state=0, n_jobs=1)
    return model.fit(data["train"][list(FEATURES)], data["train"]["Class"])


@pytest.fixture(scope="module")
def pipeline(data: dict[str, pd.DataFrame]) -> Pipeline:
    # make_pipeline's step names: a scaler + logistic regression, but not our LogReg kind
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return model.fit(data["train"][list(FEATURES)], data["train"]["Class"])


@pytest.fixture
def notebook(backend_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Point plain MLflow at the backend's stores, as a notebook user's environment would."""
    if backend_settings.s3_endpoint_url:
        monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", backend_settings.s3_endpoint_url)
    yield backend_settings


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def test_a_forest_trained_elsewhere_lists_scores_decides_and_explains(
    notebook: Settings,
    forest: RandomForestClassifier,
    data: dict[str, pd.DataFrame],
    tmp_path: Path,
) -> None:
    settings = notebook
    x_eval = data["eval"][list(FEATURES)]
    version = log_elsewhere(
        settings, forest, input_example=x_eval.head(3), skops_trusted_types=THEIR_TRUST
    )
    [listed] = list_versions(settings)
    assert (listed.version, listed.threshold, listed.model_kind) == (version, None, "unknown")

    choice = resolve_model(settings, version=version)
    assert choice.model.kind == "sklearn" and isinstance(choice.model.adapter, SklearnModel)
    expected = forest.predict_proba(x_eval)[:, 1]
    x = x_eval.to_numpy(dtype=np.float64)
    np.testing.assert_allclose(choice.model.predict_proba(x), expected, rtol=0, atol=1e-12)

    path = tmp_path / "eval.csv"
    data["eval"].to_csv(path, index=False)
    record = x_eval.iloc[0].to_dict()
    who = analyst("nb")
    with pytest.raises(MissingThresholdError, match=rf"version {version} cannot decide"):
        score_record(record, settings=settings, choice=choice, source_kind="ui", actor=who)
    with pytest.raises(MissingThresholdError, match=rf"version {version} cannot decide"):
        score_file(path, settings=settings, choice=choice, source_kind="cli", actor=who)

    threshold = float(np.quantile(expected, 0.9))  # about 20 alerts of 200
    client = MlflowClient(tracking_uri=str(settings.tracking_uri))
    client.set_model_version_tag(settings.model_name, str(version), "threshold", repr(threshold))
    batch = score_file(path, settings=settings, choice=choice, source_kind="cli", actor=who)
    scored = batch.scored.sort_values("row")
    np.testing.assert_allclose(scored[PROBABILITY], expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(scored[DECISION], (expected >= threshold).astype(int))
    assert batch.alerts == int((expected >= threshold).sum()) > 0
    alerts = scored[scored[DECISION] == 1]
    assert alerts[REASON_COLUMNS[0]].notna().all(), "alerts carry reasons"
    assert scored.loc[scored[DECISION] == 0, REASON_COLUMNS[0]].isna().all()
    single = score_record(record, settings=settings, choice=choice, source_kind="ui", actor=who)
    assert single.probability == pytest.approx(expected[0], abs=1e-12)
    assert single.decision == int(expected[0] >= threshold)

    # a forest averages its trees' probabilities: TreeSHAP adds up to the probability
    contributions = choice.model.contributions(x)
    assert contributions.scale == PROBABILITY_SCALE
    np.testing.assert_allclose(contributions.raw_score, expected, rtol=0, atol=1e-9)
    base = np.mean([tree.tree_.value[0, 0, 1] for tree in forest.estimators_])
    np.testing.assert_allclose(contributions.base, base, rtol=0, atol=1e-9)  # root means


def test_a_pipeline_is_explained_by_permutation_in_log_odds(
    notebook: Settings, pipeline: Pipeline, data: dict[str, pd.DataFrame]
) -> None:
    """An additive model in log-odds: every permutation gives each feature the same share,
    so the permutation explainer must return the exact linear SHAP values against the
    background (the logged input example), computed here from the coefficients."""
    settings = notebook
    background = data["train"][list(FEATURES)].head(8)
    version = log_elsewhere(settings, pipeline, input_example=background)
    model = load_model(settings, get_version(settings, version))
    assert model.kind == "sklearn"
    x = data["eval"][list(FEATURES)]
    # log-odds beyond ~15 cannot be read back from a float probability to 1e-6
    x = x[np.abs(pipeline.decision_function(x)) < 15].head(12)
    assert len(x) == 12
    contributions = model.contributions(x.to_numpy(dtype=np.float64))
    assert contributions.scale == LOG_ODDS
    log_odds = pipeline.decision_function(x)
    np.testing.assert_allclose(contributions.raw_score, log_odds, rtol=0, atol=1e-6)
    scaler, logreg = pipeline[0], pipeline[-1]
    slope = logreg.coef_[0] / scaler.scale_
    by_hand = (x.to_numpy() - background.to_numpy().mean(axis=0)) * slope
    np.testing.assert_allclose(contributions.values, by_hand, rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        contributions.base, pipeline.decision_function(background).mean(), rtol=0, atol=1e-9
    )


def test_gradient_boosting_fitted_on_columns_in_another_order(
    backend_settings: Settings, data: dict[str, pd.DataFrame]
) -> None:
    if backend_settings.s3_endpoint_url:  # one backend is enough for the column order
        pytest.skip("column order is backend-independent; run on the embedded backend")
    shuffled = list(reversed(FEATURES))
    train = data["train"]
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0)
    model.fit(train[shuffled], train["Class"])
    version = log_elsewhere(
        backend_settings,
        model,
        input_example=train[shuffled].head(3),
        skops_trusted_types=["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"],
    )
    loaded = load_model(backend_settings, get_version(backend_settings, version))
    frame = data["eval"]
    x = frame[list(FEATURES)].to_numpy(dtype=np.float64)  # schema order, as core scores
    np.testing.assert_allclose(
        loaded.predict_proba(x), model.predict_proba(frame[shuffled])[:, 1], rtol=0, atol=1e-12
    )
    contributions = loaded.contributions(x)
    assert contributions.scale == LOG_ODDS
    raw = model.decision_function(frame[shuffled])  # boosting's own log-odds
    np.testing.assert_allclose(contributions.raw_score, raw, rtol=0, atol=1e-6)
    # each contribution belongs to its own column: Amount's, computed by shap on the
    # model's own column order here, lands under Amount in schema order
    import shap

    theirs = np.asarray(shap.TreeExplainer(model).shap_values(frame[shuffled]))
    np.testing.assert_allclose(
        contributions.values[:, FEATURES.index("Amount")],
        theirs[:, shuffled.index("Amount")],
        rtol=0,
        atol=1e-9,
    )


# --------------------------------------------------------------------------- refusals


@pytest.fixture
def embedded(embedded_home: Path) -> Settings:
    return Settings(home=embedded_home, model_name=f"elsewhere-{uuid.uuid4().hex[:8]}")


class HomemadeForest(RandomForestClassifier):
    """A subclass defined in a notebook: skops can only rebuild it by importing its code."""


def test_a_type_outside_our_trust_list_is_refused_even_if_the_artifact_trusts_it(
    embedded: Settings, data: dict[str, pd.DataFrame]
) -> None:
    train = data["train"]
    model = HomemadeForest(n_estimators=3, max_depth=3, random_state=0)
    model.fit(train[list(FEATURES)], train["Class"])
    their_list = [*THEIR_TRUST, f"{__name__}.HomemadeForest"]
    version = log_elsewhere(embedded, model, skops_trusted_types=their_list)
    with pytest.raises(RefusedError, match=rf"version {version}: .*not trusted.*HomemadeForest"):
        load_model(embedded, get_version(embedded, version))


def test_a_pickled_version_is_refused_with_how_to_relog(
    embedded: Settings, forest: RandomForestClassifier
) -> None:
    version = log_elsewhere(embedded, forest, serialization_format="cloudpickle")
    with pytest.raises(
        RefusedError, match=rf"version {version}: .*saved with cloudpickle.*re-log it safely"
    ):
        load_model(embedded, get_version(embedded, version))


def _signature(dtypes: dict[str, str]) -> ModelSignature:
    return ModelSignature(inputs=Schema([ColSpec(kind, name) for name, kind in dtypes.items()]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: {("V4x" if k == "V4" else k): v for k, v in d.items()},
            r"missing column\(s\) V4; unknown column\(s\) V4x",
        ),
        (lambda d: {**d, "merchant": "string"}, r"unknown column\(s\) merchant"),
        (lambda d: {**d, "V4": "string"}, r"V4 is string, expected a number"),
    ],
    ids=["renamed", "extra", "wrong-type"],
)
def test_a_signature_that_does_not_take_our_transactions_is_refused(
    embedded: Settings, forest: RandomForestClassifier, change: Any, message: str
) -> None:
    signature = _signature(change(dict.fromkeys(FEATURES, "double")))
    version = log_elsewhere(embedded, forest, signature=signature, skops_trusted_types=THEIR_TRUST)
    with pytest.raises(InputError, match=rf"version {version}: the model's signature .*{message}"):
        load_model(embedded, get_version(embedded, version))


def test_a_model_fitted_on_other_columns_is_refused(
    embedded: Settings, data: dict[str, pd.DataFrame]
) -> None:
    train = data["train"].assign(merchant=1.0)
    columns = [*FEATURES, "merchant"]
    model = LogisticRegression(max_iter=500).fit(train[columns], train["Class"])
    version = log_elsewhere(embedded, model)
    with pytest.raises(InputError, match=r"fitted on other columns: unknown column\(s\) merchant"):
        load_model(embedded, get_version(embedded, version))


def test_our_own_signature_is_accepted(embedded: Settings, forest: RandomForestClassifier) -> None:
    frame = pd.DataFrame(np.zeros((2, len(FEATURES))), columns=list(FEATURES))
    signature = infer_signature(frame, forest.predict_proba(frame)[:, 1])
    version = log_elsewhere(embedded, forest, signature=signature, skops_trusted_types=THEIR_TRUST)
    assert load_model(embedded, get_version(embedded, version)).kind == "sklearn"


# --------------------------------------------------------------------------- unexplainable


def test_a_version_without_background_scores_and_says_it_cannot_be_explained(
    embedded: Settings, pipeline: Pipeline, data: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    version = log_elsewhere(embedded, pipeline)  # no input example: no background rows
    client = MlflowClient(tracking_uri=str(embedded.tracking_uri))
    client.set_model_version_tag(embedded.model_name, str(version), "threshold", "0.05")
    choice = resolve_model(embedded, version=version)
    assert "explanations are unavailable" in (choice.model.explanation_problem or "")
    x_eval = data["eval"][list(FEATURES)]
    expected = pipeline.predict_proba(x_eval)[:, 1]
    assert (expected >= 0.05).any()
    single = score_record(
        x_eval.iloc[0].to_dict(),
        settings=embedded,
        choice=choice,
        source_kind="ui",
        actor=analyst("nb"),
    )
    assert single.probability == pytest.approx(expected[0], abs=1e-12)
    assert single.contributions is None and single.reasons == []
    assert "input_example" in (single.explanation_problem or "")
    path = tmp_path / "eval.csv"
    data["eval"].to_csv(path, index=False)
    batch = score_file(
        path, settings=embedded, choice=choice, source_kind="cli", actor=analyst("nb")
    )
    assert batch.alerts == int((expected >= 0.05).sum())
    assert batch.scored[REASON_COLUMNS[0]].isna().all()
    assert any("alerts have no reasons: explanations are unavailable" in w for w in batch.warnings)


def test_import_core_and_status_load_neither_shap_nor_skops() -> None:
    modules = sorted(
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for path in (REPO / "core").rglob("*.py")
        if "migrations" not in path.parts
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "import cli.main\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'shap', 'skops', 'numba'}))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]", out.stdout


# --------------------------------------------------------------------------- tree arrays


def _tampered_forest(forest: RandomForestClassifier, field: str, value: int) -> Any:
    """A copy of the forest whose first tree's root node has ``field`` set to ``value``."""
    copy = deepcopy(forest)
    tree = copy.estimators_[0].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes[field][0] = value
    tree.__setstate__({**state, "nodes": nodes})
    return copy


def _tampered_boosting(data: dict[str, pd.DataFrame], field: str, value: int) -> Any:
    train = data["train"]
    model = HistGradientBoostingClassifier(max_iter=3, random_state=0)
    model.fit(train[list(FEATURES)], train["Class"])
    model._predictors[0][0].nodes[field][0] = value
    return model


PINS = ["scikit-learn", "skops"]  # no requirement inference: it would load the model


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        (lambda f, d: _tampered_forest(f, "feature", 10_000), "a split uses a feature outside"),
        (lambda f, d: _tampered_forest(f, "left_child", 0), "left child is outside the tree or"),
        (lambda f, d: _tampered_forest(f, "right_child", 10**6), "right child is outside"),
        (lambda f, d: _tampered_boosting(d, "left", 0), "left child is outside the tree or"),
        (lambda f, d: _tampered_boosting(d, "feature_idx", 30), "a split uses a feature outside"),
    ],
    ids=["forest-feature", "forest-cycle", "forest-child", "boosting-cycle", "boosting-feature"],
)
def test_a_tree_with_out_of_range_nodes_is_refused_before_it_predicts(
    embedded: Settings,
    forest: RandomForestClassifier,
    data: dict[str, pd.DataFrame],
    build: Any,
    problem: str,
) -> None:
    """skops trusts the tree types only by our list; their node arrays are read without
    bounds checks by compiled code, so a crafted file must be refused at load time."""
    model = build(forest, data)
    version = log_elsewhere(
        embedded, model, skops_trusted_types=SKOPS_TRUSTED_TYPES, pip_requirements=PINS
    )
    with pytest.raises(RefusedError, match=rf"version {version}: .*malformed tree \(.*{problem}"):
        load_model(embedded, get_version(embedded, version))


def test_every_tree_of_a_sound_model_is_checked(
    forest: RandomForestClassifier, pipeline: Pipeline
) -> None:
    assert check_trees(forest) == 25  # n_estimators
    boosting = HistGradientBoostingClassifier(max_iter=4, early_stopping=False)
    x = np.random.default_rng(0).normal(size=(200, 30))
    boosting.fit(x, (x[:, 0] > 0).astype(int))
    assert check_trees(boosting) == 4  # one tree per iteration (binary)
    assert check_trees(make_pipeline(StandardScaler(), deepcopy(forest))) == 25
    assert check_trees(pipeline) == 0


# ------------------------------------------------------------- our list alone decides what loads

# skops trusts every scikit-learn estimator by default and a list passed to it only adds to
# that; these estimators are among skops's defaults but not ours (their compiled internals,
# KD-trees and libsvm indices, get no bounds checks here; the transformer holds a function).
TRUSTED_BY_SKOPS_NOT_US = {
    "knn": (lambda: KNeighborsClassifier(n_neighbors=5), "KNeighborsClassifier"),
    "svc": (lambda: SVC(probability=True, random_state=0), "SVC"),
    "function-pipeline": (
        lambda: make_pipeline(
            FunctionTransformer(np.arcsinh), SVC(probability=True, random_state=0)
        ),
        "FunctionTransformer",
    ),
}

# Every standard estimator a version from elsewhere may be (the README's list), small.
STANDARD_ESTIMATORS = {
    "random-forest": lambda: RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0),
    "extra-trees": lambda: ExtraTreesClassifier(n_estimators=5, max_depth=4, random_state=0),
    "gradient-boosting": lambda: GradientBoostingClassifier(n_estimators=5, random_state=0),
    "hist-gradient-boosting": lambda: HistGradientBoostingClassifier(max_iter=5, random_state=0),
    "decision-tree": lambda: DecisionTreeClassifier(max_depth=4, random_state=0),
    "extra-tree": lambda: ExtraTreeClassifier(max_depth=4, random_state=0),
    "logistic-regression": lambda: LogisticRegression(max_iter=2000),
    "scaled-logistic-regression": lambda: make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=2000)
    ),
}


@pytest.fixture(scope="module")
def small_train(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every fraud of the training part and 400 legitimate rows: quick to fit for any model."""
    train = data["train"]
    return pd.concat([train[train["Class"] == 1], train[train["Class"] == 0].head(400)])


@pytest.mark.parametrize(
    "build, named", TRUSTED_BY_SKOPS_NOT_US.values(), ids=TRUSTED_BY_SKOPS_NOT_US
)
def test_an_estimator_skops_trusts_but_we_do_not_is_refused_with_its_type_named(
    embedded: Settings, small_train: pd.DataFrame, build: Any, named: str
) -> None:
    model = build().fit(small_train[list(FEATURES)], small_train["Class"])
    # a binary classifier of 0/1 with predict_proba over our columns: only the list stops it
    assert SklearnModel.matches(model)
    version = log_elsewhere(embedded, model, pip_requirements=PINS)
    info = get_version(embedded, version)
    with pytest.raises(RefusedError, match=rf"version {version}: .*not trusted here: .*{named}"):
        load_model(embedded, info)
    with pytest.raises(RefusedError, match="only these scikit-learn estimators load here: "):
        load_model(embedded, info)


@pytest.mark.parametrize("build", STANDARD_ESTIMATORS.values(), ids=STANDARD_ESTIMATORS)
def test_every_standard_estimator_we_trust_loads_and_scores(
    embedded: Settings, small_train: pd.DataFrame, data: dict[str, pd.DataFrame], build: Any
) -> None:
    """Fails if an estimator (or a type its file needs) is missing from our lists, e.g.
    were TRUSTED_ESTIMATORS emptied."""
    model = build().fit(small_train[list(FEATURES)], small_train["Class"])
    # what the notebook author passes MLflow, found as skops's docs say (core ignores it)
    theirs = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    version = log_elsewhere(embedded, model, skops_trusted_types=theirs, pip_requirements=PINS)
    loaded = load_model(embedded, get_version(embedded, version))
    assert type(loaded.adapter.estimator) is type(model)
    x = data["eval"][list(FEATURES)]
    expected = model.predict_proba(x)[:, 1]  # the estimator's own, computed here
    assert np.allclose(loaded.adapter.predict_proba(x.to_numpy()), expected, rtol=0, atol=1e-12)


def _with_schema(data: bytes, change: Any) -> bytes:
    """A copy of a skops file whose schema.json went through ``change`` (a crafted file)."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "schema.json":
                schema = json.loads(content)
                change(schema)
                content = json.dumps(schema).encode()
            target.writestr(item, content)
    return out.getvalue()


def test_a_type_hidden_anywhere_in_the_schema_or_an_old_protocol_is_refused_unbuilt(
    small_train: pd.DataFrame,
) -> None:
    model = LogisticRegression(max_iter=2000).fit(small_train[list(FEATURES)], small_train["Class"])
    sound = skops.io.dumps(model)
    check_skops_file(sound)  # the real file passes
    hidden = {"__class__": "system", "__module__": "os", "__loader__": "FunctionNode"}
    crafted = _with_schema(sound, lambda s: s["content"].setdefault("unusual", [hidden]))
    with pytest.raises(RefusedError, match=r"not trusted here: loader FunctionNode, os\.system;"):
        check_skops_file(crafted)
    older = _with_schema(sound, lambda s: s.update(protocol=1))
    with pytest.raises(RefusedError, match="skops protocol 1, not"):
        check_skops_file(older)


# --------------------------------------------------------------------------- more promises


def test_a_classifier_of_other_classes_is_refused(
    embedded: Settings, data: dict[str, pd.DataFrame]
) -> None:
    train = data["train"]
    model = LogisticRegression(max_iter=200).fit(train[list(FEATURES)], train["Class"] + 1)
    version = log_elsewhere(embedded, model)
    with pytest.raises(RefusedError, match="binary classifier of classes 0 and 1"):
        load_model(embedded, get_version(embedded, version))


def test_contributions_that_miss_the_probability_are_never_returned(
    forest: RandomForestClassifier, data: dict[str, pd.DataFrame]
) -> None:
    changed = deepcopy(forest)
    adapter = SklearnModel(changed)
    x = data["eval"][list(FEATURES)].to_numpy(dtype=np.float64)[:5]
    adapter.contributions(x)  # the explainer now holds the 25 trees
    changed.estimators_ = changed.estimators_[:-1]  # the model now averages 24
    with pytest.raises(ExplanationUnavailableError, match="miss the model's probability"):
        adapter.contributions(x)


def test_permutation_explanations_repeat_and_leave_numpy_s_generator_alone(
    pipeline: Pipeline, data: dict[str, pd.DataFrame]
) -> None:
    background = data["train"][list(FEATURES)].head(5).to_numpy(dtype=np.float64)
    adapter = SklearnModel(pipeline, background=background)
    x = data["eval"][list(FEATURES)].to_numpy(dtype=np.float64)[:4]
    np.random.seed(123)
    first = adapter.contributions(x)
    after = np.random.random()
    np.random.seed(123)
    assert np.random.random() == after  # the generator is where it was, as if shap had not run
    np.random.seed(999)  # another state: the same permutations all the same
    np.testing.assert_array_equal(adapter.contributions(x).values, first.values)


def _set_live(settings: Settings, version: int, threshold: str | None) -> None:
    client = MlflowClient(tracking_uri=str(settings.tracking_uri))
    client.set_registered_model_alias(settings.model_name, settings.live_alias, str(version))
    if threshold is not None:
        client.set_model_version_tag(settings.model_name, str(version), "threshold", threshold)


def _app(settings: Settings, env: pytest.MonkeyPatch) -> AppTest:
    for key, value in settings_env(settings).items():
        env.setenv(key, value)
    return AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=120).run()


def test_the_pages_say_plainly_when_a_live_version_cannot_be_explained(
    embedded: Settings, pipeline: Pipeline, workbench_env: pytest.MonkeyPatch
) -> None:
    _set_live(embedded, log_elsewhere(embedded, pipeline), "0.05")  # no input example
    app = _app(embedded, workbench_env)
    at = app.switch_page(str(REPO / "pages" / "score.py")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.number_input(key="form_V14").value == 0.0  # no training medians
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Model: **" in m.value for m in at.markdown)  # scored and decided
    assert any("explanations are unavailable for this version" in i.value for i in at.info)
    at = at.switch_page(str(REPO / "pages" / "explain.py")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("explanations are unavailable for this version" in i.value for i in at.info)


def test_the_explain_page_explains_a_scored_transaction_of_a_forest_from_elsewhere(
    embedded: Settings,
    forest: RandomForestClassifier,
    data: dict[str, pd.DataFrame],
    workbench_env: pytest.MonkeyPatch,
) -> None:
    example = data["eval"][list(FEATURES)].head(3)
    version = log_elsewhere(
        embedded, forest, input_example=example, skops_trusted_types=THEIR_TRUST
    )
    _set_live(embedded, version, "0.5")
    app = _app(embedded, workbench_env)
    at = app.switch_page(str(REPO / "pages" / "explain.py")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("trained elsewhere: it has no test split" in i.value for i in at.info)
    at = at.switch_page(str(REPO / "pages" / "score.py")).run()
    at.segmented_control(key="score_mode").set_value("From the test split").run()
    assert not at.exception and not at.error, [e.value for e in at.error]  # not a failure
    assert any("trained elsewhere: it has no test split" in i.value for i in at.info)
    at.segmented_control(key="score_mode").set_value("Form").run()
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at = at.switch_page(str(REPO / "pages" / "explain.py")).run()
    at.segmented_control(key="explain_source").set_value("Last scored transaction").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    waterfall = next(c for c in at.get("plotly_chart") if '"waterfall"' in c.proto.spec)
    assert "Contribution to the fraud score (probability)" in waterfall.proto.spec


def test_the_command_line_scores_a_version_from_elsewhere_with_the_usual_exit_codes(
    embedded: Settings,
    forest: RandomForestClassifier,
    data: dict[str, pd.DataFrame],
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    good = log_elsewhere(embedded, forest, skops_trusted_types=THEIR_TRUST)
    pickled = log_elsewhere(embedded, forest, serialization_format="cloudpickle")
    path, out = tmp_path / "eval.csv", tmp_path / "scored.csv"
    data["eval"].to_csv(path, index=False)
    runner, env = CliRunner(), settings_env(embedded)

    def score(version: int) -> Any:
        args = ["score", "--data", str(path), "--out", str(out), "--version", str(version)]
        return runner.invoke(app, args, env=env)

    no_threshold = score(good)
    assert no_threshold.exit_code == 2 and "cannot decide alerts" in no_threshold.output
    _set_live(embedded, good, "0.5")
    assert score(good).exit_code == 0
    scored = pd.read_csv(out).sort_values("row")
    expected = forest.predict_proba(data["eval"][list(FEATURES)])[:, 1]
    np.testing.assert_allclose(scored[PROBABILITY], expected, rtol=0, atol=1e-9)
    refused = score(pickled)
    assert refused.exit_code == 3 and "re-log it safely" in refused.output
