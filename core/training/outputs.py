"""What a training run logs besides its parameters: test metrics' companions (calibration
report, plots, reference statistics, the test split) and the model, then its registration."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

from core.artifacts import RELIABILITY_ARTIFACT, TEST_SCORES_ARTIFACT, TEST_SCORES_COLUMN
from core.config import Settings
from core.models import ModelAdapter
from core.reference import compute_reference
from core.reliability import ReliabilityReport
from core.training.metrics import (
    plot_calibration,
    plot_pr_curve,
    plot_reliability,
    plot_roc_curve,
)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (``hashlib.file_digest``: streamed, no read loop of ours)."""
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def log_calibration(
    reliability: ReliabilityReport, y_test: np.ndarray, raw_proba: np.ndarray
) -> None:
    """Brier before calibration (``test_brier`` and ``test_weighted_brier`` are after),
    plain and at the natural prevalence, the out-of-fold log-loss of each candidate on
    validation, and the reliability report as JSON for the pages."""
    mlflow.log_metrics(
        {
            "test_brier_uncalibrated": float(np.mean((raw_proba - y_test) ** 2)),
            "test_weighted_brier_uncalibrated": reliability.brier_before,
            **{f"val_oof_log_loss_{k}": v for k, v in reliability.validation_log_loss.items()},
        }
    )
    mlflow.log_text(reliability.to_json(), RELIABILITY_ARTIFACT)


def log_plots(
    y_test: np.ndarray, proba: np.ndarray, threshold: float, reliability: ReliabilityReport
) -> None:
    for name, figure in (
        ("plots/pr_curve.png", plot_pr_curve(y_test, proba, threshold=threshold)),
        ("plots/roc_curve.png", plot_roc_curve(y_test, proba)),
        ("plots/calibration.png", plot_calibration(y_test, proba)),
        ("plots/reliability.png", plot_reliability(reliability)),
    ):
        mlflow.log_figure(figure, name)
        plt.close(figure)


def log_reference_and_test(
    train: pd.DataFrame, test: pd.DataFrame, test_scores: np.ndarray
) -> None:
    """The training rows' feature statistics, the test split, and the version's probability
    for each test row (so Home counts its decisions without loading the model)."""
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / "feature_stats.json"
        reference.write_text(compute_reference(train).to_json())
        mlflow.log_artifact(str(reference), artifact_path="reference")
        test_file = Path(tmp) / "test.parquet"
        test.reset_index(drop=True).to_parquet(test_file, index=False)
        mlflow.log_artifact(str(test_file), artifact_path="data")
        scores = Path(tmp) / Path(TEST_SCORES_ARTIFACT).name
        frame = pd.DataFrame({TEST_SCORES_COLUMN: np.asarray(test_scores, dtype=np.float64)})
        frame.to_parquet(scores, index=False)
        mlflow.log_artifact(str(scores), artifact_path=str(Path(TEST_SCORES_ARTIFACT).parent))


def log_and_register(
    adapter: ModelAdapter,
    x_train: pd.DataFrame,
    settings: Settings,
    *,
    tags: dict[str, str],
) -> int:
    """Log the model (its kind in the MLmodel metadata), then register it with its tags.

    ``register_model(..., tags=...)`` creates the version and its tags in one call, which
    the registry writes in one transaction: no version ever exists without its threshold.
    """
    example = x_train.head(5)
    signature = infer_signature(example, adapter.predict_proba(example.to_numpy()))
    # Explicit pins: MLflow's inference of requirements costs ~10 s per log_model.
    pins = [
        f"mlflow=={mlflow.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
    ]
    logged = adapter.log_model(
        metadata=adapter.metadata(),
        name="model",
        signature=signature,
        input_example=example,
        pip_requirements=[*pins, *adapter.pip_requirements()],
    )
    registered = mlflow.register_model(logged.model_uri, settings.model_name, tags=tags)
    return int(registered.version)
