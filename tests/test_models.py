"""Model kinds: the adapter comes from the artifact, and nothing is unpickled on load."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models.model import ModelInfo
from sklearn.linear_model import LogisticRegression

from core.config import Settings
from core.errors import RefusedError
from core.models import LightGBMModel, LogRegModel
from core.registry import get_version, load_model
from core.tracking import use_tracking
from core.training.split import split_by_time
from core.training.train import _fit, _xy


@pytest.fixture(scope="module")
def fitted(tiny_frame: pd.DataFrame) -> dict[str, Any]:
    split = split_by_time(tiny_frame)
    (xt, yt), (xv, yv) = _xy(split.train), _xy(split.validation)
    return {
        "lightgbm": _fit("lightgbm", xt, yt, xv, yv)[0],
        "logreg": _fit("logreg", xt, yt, xv, yv)[0],
        "x": xt.head(50),
        "y": yt[:50],
    }


@pytest.fixture
def settings(embedded_home: Path) -> Settings:
    return Settings(home=embedded_home, model_name=f"kinds-{uuid.uuid4().hex[:8]}")


def _register(settings: Settings, log: Callable[[], ModelInfo], tags: dict[str, str]) -> int:
    """Log a model the way someone outside the workbench might, and register it."""
    use_tracking(settings)
    with mlflow.start_run():
        logged = log()
    return int(mlflow.register_model(logged.model_uri, settings.model_name, tags=tags).version)


def test_the_kind_comes_from_the_artifact_not_the_tag(
    settings: Settings, fitted: dict[str, Any]
) -> None:
    booster = fitted["lightgbm"].booster_
    version = _register(
        settings,
        lambda: mlflow.lightgbm.log_model(
            booster, name="model", metadata={"model_kind": "lightgbm"}
        ),
        {"threshold": "0.5", "model_kind": "logreg"},  # a wrong (mutable) tag
    )
    model = load_model(settings, get_version(settings, version))
    assert model.kind == "lightgbm" and isinstance(model.adapter, LightGBMModel)
    x = fitted["x"].to_numpy()
    np.testing.assert_allclose(model.predict_proba(x), booster.predict(x), atol=1e-12)


def test_versions_logged_before_the_metadata_load_by_flavour_and_class(
    settings: Settings, fitted: dict[str, Any]
) -> None:
    """Old versions carry their kind in a tag only: the flavour, then the loaded estimator's
    class decide, and the tag is ignored."""
    pipeline, booster = fitted["logreg"], fitted["lightgbm"].booster_
    old_logreg = _register(
        settings,
        lambda: mlflow.sklearn.log_model(pipeline, name="model", serialization_format="skops"),
        {"threshold": "0.5", "model_kind": "lightgbm"},
    )
    old_lightgbm = _register(
        settings, lambda: mlflow.lightgbm.log_model(booster, name="model"), {"threshold": "0.5"}
    )
    loaded = load_model(settings, get_version(settings, old_logreg))
    assert loaded.kind == "logreg" and isinstance(loaded.adapter, LogRegModel)
    frame = fitted["x"]
    np.testing.assert_allclose(
        loaded.predict_proba(frame.to_numpy()), pipeline.predict_proba(frame)[:, 1], atol=1e-12
    )
    assert load_model(settings, get_version(settings, old_lightgbm)).kind == "lightgbm"


def test_another_scikit_learn_model_is_not_taken_for_logreg(
    settings: Settings, fitted: dict[str, Any]
) -> None:
    """Without metadata it is a model trained elsewhere (the generic kind); claiming to be
    our logreg in its metadata, it is refused."""
    # no scaler: a scikit-learn model, but not our logreg
    bare = LogisticRegression(max_iter=5000).fit(fitted["x"], fitted["y"])
    untagged = _register(
        settings,
        lambda: mlflow.sklearn.log_model(bare, name="model", serialization_format="skops"),
        {"threshold": "0.5"},
    )
    claimed = _register(
        settings,
        lambda: mlflow.sklearn.log_model(
            bare, name="model", serialization_format="skops", metadata={"model_kind": "logreg"}
        ),
        {"threshold": "0.5"},
    )
    loaded = load_model(settings, get_version(settings, untagged))
    assert loaded.kind == "sklearn" and not isinstance(loaded.adapter, LogRegModel)
    with pytest.raises(RefusedError, match=rf"version {claimed}: .*LogisticRegression, not"):
        load_model(settings, get_version(settings, claimed))


class _Canary:
    """Unpickling this creates a file: proof that a pickle was opened."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        return (Path.touch, (self.path,))


def test_a_pickled_version_is_refused_and_never_unpickled(
    settings: Settings, fitted: dict[str, Any], tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled"
    model = LogisticRegression(max_iter=5000).fit(fitted["x"], fitted["y"])
    model.canary_ = _Canary(marker)
    version = _register(
        settings,
        lambda: mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            input_example=fitted["x"].head(2),  # MLflow validates it by loading the model
        ),
        {"threshold": "0.5"},
    )
    # MLflow's own loader, the second line of defence: off in every process using core
    assert not marker.exists()
    with pytest.raises(MlflowException, match="MLFLOW_ALLOW_PICKLE_DESERIALIZATION"):
        mlflow.sklearn.load_model(f"models:/{settings.model_name}/{version}")
    with pytest.raises(
        RefusedError,
        match=rf"version {version}: .*saved with cloudpickle.*re-log it safely.*"
        "serialization_format='skops'",
    ):
        load_model(settings, get_version(settings, version))
    assert not marker.exists()


def test_untrusted_types_in_a_skops_file_are_refused(
    settings: Settings, fitted: dict[str, Any]
) -> None:
    """The trust list is ours: one the artifact carries in its MLmodel is ignored."""
    model = LogisticRegression(max_iter=5000).fit(fitted["x"], fitted["y"])
    model.extra_ = Path("/tmp")  # pathlib is not among skops's trusted types
    version = _register(
        settings,
        lambda: mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="skops",
            skops_trusted_types=["pathlib.PosixPath"],
            metadata={"model_kind": "logreg"},
        ),
        {"threshold": "0.5"},
    )
    with pytest.raises(RefusedError, match=rf"version {version}: .*not trusted.*PosixPath"):
        load_model(settings, get_version(settings, version))


def test_a_version_whose_metadata_is_not_a_mapping_is_refused(
    settings: Settings, fitted: dict[str, Any]
) -> None:
    """Metadata written by hand outside the workbench (a list): refused, not a traceback."""
    booster = fitted["lightgbm"].booster_
    version = _register(
        settings,
        lambda: mlflow.lightgbm.log_model(booster, name="model", metadata=["lightgbm"]),
        tags={},
    )
    with pytest.raises(RefusedError, match="metadata is a list, not a mapping"):
        load_model(settings, get_version(settings, version))
