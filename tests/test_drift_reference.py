"""A version's drift reference: stored at training, else computed from its logged test
split, else none (core.drift.sketch.get_reference_sketch). Apart from tests/test_drift.py
because these train or log models (mutation testing leaves them out)."""

from __future__ import annotations

import uuid
from pathlib import Path

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
from tests.conftest import Trained, log_elsewhere
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
    """Log and register as a notebook would, with or without a test split where the
    workbench logs its own."""
    if test is None:
        return log_elsewhere(settings, model)
    path = tmp / Path(TEST_SPLIT_ARTIFACT).name
    test.to_parquet(path)
    return log_elsewhere(settings, model, artifacts={str(Path(TEST_SPLIT_ARTIFACT).parent): path})


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


def test_a_files_queue_impact_counts_its_alerts_and_days_across_chunks(
    trained_embedded: Trained, tmp_path: Path
) -> None:
    """file_drift reads in chunks and counts each in a second thread: the alerts, rows,
    counts and Time span are those of the whole file, whatever the chunk size."""
    from core.data import generate_transactions
    from core.drift import file_drift
    from core.registry import get_version_by_alias, load_model

    settings = trained_embedded.settings
    frame = generate_transactions(5_000, fraud_rate=0.05, seed=77, start_time=100_000)
    frame.loc[0, "Time"] = 100_000.0
    frame.loc[len(frame) - 1, "Time"] = 100_000.0 + 2 * 86_400  # exactly two days
    path = tmp_path / "current.csv"
    frame.to_csv(path, index=False)
    info = get_version_by_alias(settings, settings.live_alias, with_metrics=False)
    features = frame.loc[:, list(FEATURES)].to_numpy(dtype=np.float64)
    expected_alerts = int(
        np.sum(load_model(settings, info).predict_proba(features) >= info.threshold)
    )
    expected_v14 = np.bincount(
        np.searchsorted(get_reference_sketch(settings, info).columns["V14"].edges, features[:, 14]),  # type: ignore[union-attr]
    )

    for chunk_rows in (700, 50_000):
        report = file_drift(settings, path, chunk_rows=chunk_rows)
        assert report.rows == 5_000
        assert report.queue is not None and report.queue.alerts == expected_alerts
        assert report.queue.days == 2.0
        v14 = next(c for c in report.columns if c.name == "V14")
        assert np.allclose(v14.current_share[: len(expected_v14)] * 5_000, expected_v14)
