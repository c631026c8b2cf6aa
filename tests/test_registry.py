"""Training, registry and aliases: the same tests on the embedded and the real backends."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings
from core.db import AliasEvent, get_engine
from core.errors import BackendError, InputError, NotFoundError
from core.reference import ReferenceStats
from core.registry import (
    download_artifact,
    get_alias_version,
    get_version,
    get_version_by_alias,
    list_versions,
    load_model,
    set_alias,
)
from core.schema import FEATURES
from core.training import train_model
from core.training.train import file_sha256
from tests.conftest import Trained, free_port


def test_training_registers_and_aliases_the_first_version(trained: Trained, tiny_csv: Path) -> None:
    result, settings = trained.result, trained.settings
    assert (result.version, result.alias_set) == (1, "champion")
    live = get_version_by_alias(settings)
    assert live.version == 1 and live.run_id == result.run_id
    assert live.model_kind == "lightgbm"
    assert live.threshold == pytest.approx(result.metrics.threshold)
    assert live.tags["data_sha256"] == file_sha256(tiny_csv)
    assert live.metrics["auprc"] == pytest.approx(result.metrics.auprc)
    # the synthetic data carries real signal: far above the 1% no-skill line
    assert result.metrics.auprc > 0.3 and result.metrics.roc_auc > 0.85


def test_json_result_has_the_documented_keys(trained: Trained) -> None:
    payload = trained.result.as_json()
    assert set(payload) == {"run_id", "model_name", "version", "metrics"}
    assert set(payload["metrics"]) == {
        "auprc",
        "roc_auc",
        "precision",
        "recall",
        "f1",
        "precision_at_k",
        "brier",
        "threshold",
    }
    json.dumps(payload)


def test_model_loads_through_its_alias_and_reproduces_test_metrics(trained: Trained) -> None:
    settings = trained.settings
    live = get_version_by_alias(settings)
    model = load_model(settings, live)
    assert load_model(settings, live) is model  # loaded once per version
    test = pd.read_parquet(download_artifact(settings, live.run_id, "data/test.parquet"))
    proba = model.predict_proba(test[list(FEATURES)].to_numpy())
    assert proba.shape == (len(test),) and np.all((proba >= 0) & (proba <= 1))
    from sklearn.metrics import average_precision_score

    assert average_precision_score(test["Class"], proba) == pytest.approx(live.metrics["auprc"])


def test_reference_statistics_are_logged(trained: Trained) -> None:
    settings = trained.settings
    path = download_artifact(settings, trained.result.run_id, "reference/feature_stats.json")
    reference = ReferenceStats.from_json(Path(path).read_text())
    assert reference.rows == trained.result.split_sizes["train"]
    assert set(reference.features) == set(FEATURES)
    v14 = reference.features["V14"]
    assert len(v14.quantile_edges) == 11 and sum(v14.quantile_shares) == pytest.approx(1.0)
    assert v14.median_fraud < v14.median_legit


def test_plots_are_logged(trained: Trained) -> None:
    for name in ("pr_curve.png", "roc_curve.png", "calibration.png"):
        path = download_artifact(trained.settings, trained.result.run_id, f"plots/{name}")
        assert Path(path).read_bytes()[:4] == b"\x89PNG"


def test_second_version_leaves_the_alias_and_can_be_promoted(
    backend_settings: Settings, tiny_frame: pd.DataFrame
) -> None:
    settings = backend_settings
    first = train_model(tiny_frame, settings=settings, data_sha256="a" * 64)
    second = train_model(tiny_frame, settings=settings, model_kind="logreg", data_sha256="b" * 64)
    assert (first.version, second.version) == (1, 2)
    assert second.alias_set is None
    assert get_version_by_alias(settings).version == 1

    listed = list_versions(settings)
    assert [v.version for v in listed] == [2, 1]
    assert listed[1].aliases == ("champion",) and listed[0].model_kind == "logreg"
    assert listed[0].metrics["auprc"] == pytest.approx(second.metrics.auprc)

    previous = set_alias(settings, version=2, actor="lead", reason="logreg is simpler")
    assert previous == 1 and get_version_by_alias(settings).version == 2
    with Session(get_engine(settings)) as session:
        events = session.scalars(
            select(AliasEvent)
            .where(AliasEvent.model_name == settings.model_name)
            .order_by(AliasEvent.id)
        ).all()
    assert [(e.from_version, e.to_version, e.actor, e.status) for e in events] == [
        (None, 1, "train", "confirmed"),
        (1, 2, "lead", "confirmed"),
    ]
    logreg = load_model(settings, get_version(settings, 2))
    assert logreg.predict_proba(tiny_frame[list(FEATURES)].head(3).to_numpy()).shape == (3,)


def test_unknown_version_and_alias_are_not_found(backend_settings: Settings) -> None:
    with pytest.raises(NotFoundError):
        get_version_by_alias(backend_settings)
    with pytest.raises(NotFoundError):
        get_version(backend_settings, 99)
    assert list_versions(backend_settings) == []


def test_unknown_model_kind_is_an_input_error(tiny_frame: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown model kind 'xgboost'"):
        train_model(
            tiny_frame, settings=Settings(home=tmp_path), model_kind="xgboost", data_sha256="0"
        )  # type: ignore[arg-type]


def test_artifacts_live_under_the_artifact_root(trained: Trained) -> None:
    from core.tracking import get_client

    settings = trained.settings
    run = get_client(settings).get_run(trained.result.run_id)
    assert run.info.artifact_uri.startswith(str(settings.artifact_root) + "/")
    if settings.artifact_scheme == "s3":  # the objects are really in the bucket
        from core.storage import parse_s3_url, s3_client

        location = parse_s3_url(str(settings.artifact_root))
        listed = s3_client(settings).list_objects_v2(Bucket=location.bucket, Prefix=location.prefix)
        keys = [item["Key"] for item in listed.get("Contents", [])]
        assert any(key.endswith("reference/feature_stats.json") for key in keys)
        assert any(key.endswith("MLmodel") for key in keys)


def _alias_events(settings: Settings, alias: str) -> list[tuple[int | None, int, str]]:
    with Session(get_engine(settings)) as session:
        events = session.scalars(
            select(AliasEvent)
            .where(AliasEvent.model_name == settings.model_name, AliasEvent.alias == alias)
            .order_by(AliasEvent.id)
        ).all()
    return [(e.from_version, e.to_version, e.status) for e in events]


def test_an_unreachable_app_database_moves_no_alias(trained: Trained, tmp_path: Path) -> None:
    """The intent is written first: no history, no move, and a BackendError (not a raw
    OperationalError)."""
    down = trained.settings.model_copy(
        update={"database_url": f"postgresql+psycopg2://nobody@127.0.0.1:{free_port()}/gone"}
    )
    with pytest.raises(BackendError, match="app database"):
        set_alias(down, version=1, alias="unreachable-db", actor="lead", reason="r")
    assert get_alias_version(trained.settings, "unreachable-db") is None


def test_a_refused_alias_move_leaves_a_failed_history_row(trained: Trained) -> None:
    settings = trained.settings
    with pytest.raises(BackendError, match="reserved"):
        set_alias(settings, version=1, alias="v7", actor="lead", reason="a reserved name")
    assert _alias_events(settings, "v7") == [(None, 1, "failed")]
    assert set_alias(settings, version=1, alias="moved-ok", actor="lead", reason="r") is None
    assert _alias_events(settings, "moved-ok") == [(None, 1, "confirmed")]
    assert get_alias_version(settings, "moved-ok") == 1


def test_an_unreachable_registry_writes_no_history(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, tracking_uri=f"http://127.0.0.1:{free_port()}", model_name="gone"
    )
    with pytest.raises(BackendError):
        set_alias(settings, version=1, alias="champion", actor="lead", reason="r")
    assert _alias_events(settings, "champion") == []
