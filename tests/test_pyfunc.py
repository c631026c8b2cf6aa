"""A version's pyfunc flavour (``mlflow.pyfunc.load_model``, ``mlflow models serve``) answers
the workbench's probabilities: the feature step and the calibration included.

Expected values: the workbench's own scoring (``core.scoring``), and for LightGBM also
``tests.conftest.logged_probability`` (MLflow's native flavour with the steps applied by
hand from the MLmodel metadata), independent of core.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest
import requests

from core.config import Settings
from core.schema import FEATURES
from core.scoring.base import resolve_model, score_features
from core.tracking import use_tracking
from core.training import train_model
from core.training.split import split_by_time
from core.training.train import _xy
from tests.conftest import LEAD, REPO, free_port, logged_probability, wait_for_port


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Eight rows, then the same rows 5.5 hours later: Time varies, the rest does not."""
    rows = frame[list(FEATURES)].iloc[::2500].head(8).reset_index(drop=True)
    later = rows.assign(Time=rows["Time"] + 5.5 * 3600)
    return pd.concat([rows, later], ignore_index=True)


@pytest.mark.parametrize("kind", ["lightgbm", "logreg"])
def test_pyfunc_predicts_the_workbench_probabilities(
    kind: str, tiny_frame: pd.DataFrame, embedded_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(home=embedded_home, model_name=f"pyfunc-{uuid.uuid4().hex[:8]}")
    caplog.set_level(logging.WARNING, logger="mlflow.models.model")
    result = train_model(
        tiny_frame,
        settings=settings,
        model_kind=kind,
        data_sha256="0" * 64,
        actor=LEAD,
        time_feature="hour_of_day",
        sampling_fraction=0.5,
    )
    # MLflow loads the logged model through its pyfunc flavour to check the input example
    # serves: ours loads it (a LogReg too, with pickle refused in this process)
    assert "Failed to validate serving input" not in caplog.text
    rows = _rows(tiny_frame)
    choice = resolve_model(settings, version=result.version)
    assert choice.model.probability_scale == "platt"  # a calibrated version, Time by hour
    workbench, _ = score_features(
        choice.model, rows.to_numpy(dtype=np.float64), threshold=result.metrics.threshold
    )
    use_tracking(settings)
    served = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{result.version}")
    predicted = np.asarray(served.predict(rows), dtype=np.float64)
    np.testing.assert_allclose(predicted, workbench, rtol=0, atol=1e-12)
    if kind == "lightgbm":
        by_hand = logged_probability(settings, result.version, rows.to_numpy())
        np.testing.assert_allclose(predicted, by_hand, rtol=0, atol=1e-12)
    # the hour matters to this version: the rows 5.5 hours later score otherwise
    assert not np.allclose(predicted[:8], predicted[8:], rtol=0, atol=1e-12)


def test_an_old_versions_pyfunc_is_the_booster_as_before(
    tiny_frame: pd.DataFrame, embedded_home: Path
) -> None:
    """Logged by MLflow alone, with no steps in its metadata: raw Time, raw probabilities,
    through MLflow's own loader, as the workbench scores it."""
    split = split_by_time(tiny_frame)
    x, y = _xy(split.train)
    booster = lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(x, y).booster_
    settings = Settings(home=embedded_home, model_name=f"old-{uuid.uuid4().hex[:8]}")
    use_tracking(settings)
    with mlflow.start_run():
        logged = mlflow.lightgbm.log_model(
            booster, name="model", metadata={"model_kind": "lightgbm"}, pip_requirements=["x"]
        )
    version = int(mlflow.register_model(logged.model_uri, settings.model_name).version)
    rows = _rows(tiny_frame)
    served = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{version}")
    assert served.metadata.flavors["python_function"]["loader_module"] == "mlflow.lightgbm"
    predicted = np.asarray(served.predict(rows), dtype=np.float64)
    np.testing.assert_array_equal(predicted, booster.predict(rows.to_numpy()))
    workbench = resolve_model(settings, version=version).model.predict_proba(rows.to_numpy())
    np.testing.assert_array_equal(predicted, workbench)


def test_mlflow_models_serve_answers_the_workbench_probabilities(
    tiny_frame: pd.DataFrame, embedded_home: Path, tmp_path: Path
) -> None:
    """`mlflow models serve --env-manager local` on a calibrated LightGBM version with Time
    by hour answers the workbench's probabilities (a server that does not start fails)."""
    settings = Settings(home=embedded_home, model_name=f"served-{uuid.uuid4().hex[:8]}")
    result = train_model(
        tiny_frame,
        settings=settings,
        data_sha256="0" * 64,
        actor=LEAD,
        time_feature="hour_of_day",
    )
    rows = _rows(tiny_frame)
    choice = resolve_model(settings, version=result.version)
    workbench = choice.model.predict_proba(rows.to_numpy(dtype=np.float64))
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)  # mlflow runs `uvicorn` from PATH
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": str(settings.tracking_uri),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(REPO),  # this checkout's core
    }
    command = [sys.executable, "-m", "mlflow", "models", "serve", "--env-manager", "local"]
    command += ["-m", f"models:/{settings.model_name}/{result.version}"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        started = wait_for_port(port, timeout=120, process=server)
        assert started, f"mlflow models serve did not start:\n{log_path.read_text()[-2000:]}"
        answer = requests.post(
            f"http://127.0.0.1:{port}/invocations",
            json={"dataframe_split": rows.to_dict(orient="split")},
            timeout=60,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert answer.status_code == 200, answer.text
    predicted = np.asarray(answer.json()["predictions"], dtype=np.float64)
    np.testing.assert_allclose(predicted, workbench, rtol=0, atol=1e-12)
