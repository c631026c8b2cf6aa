"""A version's drift reference: stored at training, else computed from its logged test
split, else none (core.drift.sketch.get_reference_sketch). Apart from tests/test_drift.py
because these train or log models (mutation testing leaves them out)."""

from __future__ import annotations

import uuid
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.artifacts import TEST_SPLIT_ARTIFACT, artifact_exists
from core.config import Settings
from core.drift.sketch import SKETCH_ARTIFACT, get_reference_sketch
from core.registry import get_version
from core.schema import FEATURES
from tests.conftest import Trained
from tests.test_drift import inverted_cdf


def test_a_trained_version_has_a_stored_training_sketch(trained: Trained) -> None:
    settings, result = trained.settings, trained.result
    assert artifact_exists(settings, result.run_id, SKETCH_ARTIFACT)
    info = get_version(settings, result.version, with_metrics=False)
    sketch = get_reference_sketch(settings, info)
    assert sketch is not None and sketch.source == "training"
    assert list(sketch.columns) == list(FEATURES) and sketch.score is not None
    assert sketch.threshold == info.threshold
    assert 0.0 < sketch.alert_rate < 0.2  # type: ignore[operator]


def _log_plainly(settings: Settings, model: object, test: pd.DataFrame | None, tmp: Path) -> int:
    """Log and register with MLflow's own calls (as a notebook would), with or without a
    test split where the workbench logs its own."""
    uri = str(settings.tracking_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    name = f"notebook-{uuid.uuid4().hex[:8]}"
    experiment = mlflow.create_experiment(
        name, artifact_location=f"{settings.artifact_root}/{name}"
    )
    with mlflow.start_run(experiment_id=experiment):
        logged = mlflow.sklearn.log_model(model, name="model", serialization_format="skops")
        if test is not None:
            path = tmp / Path(TEST_SPLIT_ARTIFACT).name
            test.to_parquet(path)
            mlflow.log_artifact(str(path), str(Path(TEST_SPLIT_ARTIFACT).parent))
    return int(mlflow.register_model(logged.model_uri, settings.model_name).version)


def test_a_version_without_a_stored_sketch_uses_its_test_split_or_has_none(
    tiny_frame: pd.DataFrame, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "home", model_name=f"plain-{uuid.uuid4().hex[:8]}")
    train, test = tiny_frame.iloc[:14_000], tiny_frame.iloc[14_000:].reset_index(drop=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(train[list(FEATURES)], train["Class"])

    with_split = _log_plainly(settings, model, test, tmp_path)
    sketch = get_reference_sketch(settings, get_version(settings, with_split, with_metrics=False))
    assert sketch is not None and sketch.source == "test split"
    assert sketch.sampling_fraction == 1.0 and sketch.threshold is None
    expected = inverted_cdf(test["V14"].to_numpy())
    np.testing.assert_array_equal(sketch.columns["V14"].edges, expected)
    scores = model.predict_proba(test[list(FEATURES)])[:, 1]
    expected = inverted_cdf(scores)
    np.testing.assert_allclose(sketch.score.edges, expected, rtol=0, atol=1e-12)  # type: ignore[union-attr]

    without = _log_plainly(settings, model, None, tmp_path)
    assert (
        get_reference_sketch(settings, get_version(settings, without, with_metrics=False)) is None
    )
