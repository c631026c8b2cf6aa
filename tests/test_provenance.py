"""Which data a version's metrics came from (core.provenance), the confusion counts at the
threshold (core.confusion), and how the CLI shows both."""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix
from typer.testing import CliRunner

from cli.main import app
from core.artifacts import get_test_scores, get_test_split
from core.config import Settings, get_settings
from core.confusion import compute_confusion, compute_precision_recall
from core.operating import get_operating_point
from core.provenance import PROVENANCE_TAGS, get_provenance
from core.registry import get_version, load_model
from core.schema import FEATURES
from core.tracking import get_client, point_mlflow
from tests.conftest import Trained, settings_env

runner = CliRunner()
LONG_FLOAT = re.compile(r"\d\.\d{7,}")
"""A float printed with all its digits (``0.31575158037841655``), not rounded for people."""


def _invoke(settings: Settings, *args: str):  # type: ignore[no-untyped-def]
    get_settings.cache_clear()
    try:
        return runner.invoke(app, list(args), env=settings_env(settings))
    finally:
        get_settings.cache_clear()


def _hand_test_labels(frame: pd.DataFrame, test_share: float = 0.2) -> np.ndarray:
    """The test split's labels by the documented rule, computed here with numpy: rows in
    stable Time order, the last ``test_share`` of them (the cut rounded)."""
    order = np.argsort(frame["Time"].to_numpy(), kind="stable")
    first_test = round(len(frame) * (1 - test_share))
    return frame["Class"].to_numpy()[order][first_test:]


def test_provenance_recorded_at_training_matches_a_hand_count(
    trained_embedded: Trained, tiny_frame: pd.DataFrame
) -> None:
    settings = trained_embedded.settings
    info = get_version(settings, trained_embedded.result.version)
    provenance = get_provenance(info)
    test_labels = _hand_test_labels(tiny_frame)
    assert provenance.recorded and set(PROVENANCE_TAGS) <= set(info.tags)
    assert provenance.dataset == "tiny.csv"
    assert provenance.rows == len(tiny_frame) == 20_000
    assert provenance.frauds == int((tiny_frame["Class"] == 1).sum())
    assert provenance.fraud_rate == pytest.approx(tiny_frame["Class"].mean())
    assert provenance.test_rows == len(test_labels) == 4_000
    assert provenance.test_frauds == int(test_labels.sum())
    assert provenance.synthetic is False  # a file given to train, not the demo
    # the same values are run parameters (shown in MLflow's run page and the param diff)
    assert info.params["data_frauds"] == str(provenance.frauds)
    assert info.params["test_frauds"] == str(provenance.test_frauds)
    assert info.params["synthetic_data"] == "false"


def test_confusion_counts_match_numpy_and_sklearn_on_the_test_split(
    trained_embedded: Trained,
) -> None:
    settings = trained_embedded.settings
    info = get_version(settings, trained_embedded.result.version)
    split = get_test_split(settings, info.run_id)
    proba = load_model(settings, info).predict_proba(split.loc[:, list(FEATURES)].to_numpy())
    labels = split["Class"].to_numpy()
    threshold = info.require_threshold()
    alert = proba >= threshold
    hand = {
        "tp": int(np.sum(alert & (labels == 1))),
        "fp": int(np.sum(alert & (labels == 0))),
        "fn": int(np.sum(~alert & (labels == 1))),
        "tn": int(np.sum(~alert & (labels == 0))),
    }
    (tn, fp), (fn, tp) = confusion_matrix(labels, alert.astype(int), labels=[0, 1])
    assert hand == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    assert hand["tp"] > 0 and hand["fn"] + hand["fp"] > 0  # a case where the counts can differ

    point = get_operating_point(settings, info)
    counts = point.confusion
    assert counts is not None
    assert {"tp": counts.tp, "fp": counts.fp, "fn": counts.fn, "tn": counts.tn} == hand
    assert counts.recall == pytest.approx(hand["tp"] / (hand["tp"] + hand["fn"]))
    assert counts.precision == pytest.approx(hand["tp"] / (hand["tp"] + hand["fp"]))
    assert counts.false_positive_rate == pytest.approx(hand["fp"] / (hand["fp"] + hand["tn"]))


def test_confusion_counts_an_alert_at_exactly_the_threshold() -> None:
    counts = compute_confusion(
        np.array([1, 1, 0, 0, 1]), np.array([0.5, 0.49, 0.5, 0.1, 0.9]), threshold=0.5
    )
    assert (counts.tp, counts.fp, counts.fn, counts.tn) == (2, 1, 1, 1)
    assert compute_confusion(np.array([0, 0]), np.array([0.1, 0.2]), threshold=0.5).recall is None


def _old_version(trained: Trained) -> Settings:
    """The trained model registered again as a version from before provenance was stored:
    a run with only the parameters training logged then, the test split, and the tags of
    that time."""
    source = trained.settings
    settings = source.model_copy(update={"model_name": f"old-{uuid.uuid4().hex[:8]}"})
    point_mlflow(source)
    client = get_client(source)
    mv = client.get_model_version(source.model_name, str(trained.result.version))
    old_params = {
        k: v
        for k, v in client.get_run(mv.run_id).data.params.items()
        if k in ("data", "rows_train", "rows_validation", "rows_test", "frauds_train")
    }
    experiment = client.get_experiment_by_name(source.experiment_name)
    run = client.create_run(experiment.experiment_id)
    for key, value in old_params.items():
        client.log_param(run.info.run_id, key, value)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "test.parquet"
        get_test_split(source, mv.run_id).to_parquet(path, index=False)
        client.log_artifact(run.info.run_id, str(path), "data")
    client.set_terminated(run.info.run_id)
    client.create_registered_model(settings.model_name)
    old_tags = {k: v for k, v in mv.tags.items() if k not in PROVENANCE_TAGS}
    client.create_model_version(
        settings.model_name, mv.source, run_id=run.info.run_id, tags=old_tags, model_id=mv.model_id
    )
    client.set_registered_model_alias(settings.model_name, "champion", "1")
    return settings


def test_an_old_version_shows_what_can_be_derived_and_unknown_for_the_rest(
    trained_embedded: Trained, tiny_frame: pd.DataFrame, workbench_env: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.conftest import REPO

    settings = _old_version(trained_embedded)
    info = get_version(settings, 1)
    provenance = get_provenance(info)
    test_labels = _hand_test_labels(tiny_frame)
    assert not provenance.recorded
    assert provenance.dataset == "tiny.csv"  # the `data` parameter
    assert provenance.rows == len(tiny_frame)  # rows_train + rows_validation + rows_test
    assert provenance.test_rows == len(test_labels)  # rows_test
    assert provenance.frauds is None and provenance.fraud_rate is None
    assert provenance.test_frauds is None and provenance.synthetic is None
    # counted from the test split once it is fetched
    assert get_operating_point(settings, info).provenance.test_frauds == int(test_labels.sum())

    listed = _invoke(settings, "versions")
    assert listed.exit_code == 0, listed.output
    assert "4,000 / unknown" in listed.stdout and "unknown:" in listed.stdout
    assert json.loads(_invoke(settings, "versions", "--json").stdout)[0]["provenance"] == {
        "dataset": "tiny.csv",
        "rows": 20_000,
        "frauds": None,
        "fraud_rate": None,
        "test_rows": 4_000,
        "test_frauds": None,
        "synthetic": None,
        "sampling_fraction": 1.0,
        "recorded": False,
    }

    for key, value in settings_env(settings).items():
        workbench_env.setenv(key, value)
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=120).run()
    assert not at.exception and not at.error, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert "20,000 rows, unknown frauds (unknown fraud)" in text
    assert f"test split 4,000 rows with {int(test_labels.sum())} frauds" in text
    assert any("Whether the data was synthetic is unknown" in c.value for c in at.caption)


def test_versions_json_holds_provenance_and_the_tables_round_their_numbers(
    trained_embedded: Trained, tiny_frame: pd.DataFrame
) -> None:
    settings = trained_embedded.settings
    listed = _invoke(settings, "versions", "--json")
    assert listed.exit_code == 0, listed.output
    [version] = json.loads(listed.stdout)
    assert list(version) == [
        "version",
        "aliases",
        "model_kind",
        "threshold",
        "metrics",
        "sampling_fraction",
        "run_id",
        "created_at",
        "provenance",
        "time_feature",
        "probability_scale",
    ]
    # the session's version was trained with the defaults: Time dropped, Platt
    assert (version["time_feature"], version["probability_scale"]) == ("drop", "platt")
    test_labels = _hand_test_labels(tiny_frame)
    assert version["provenance"]["dataset"] == "tiny.csv"
    assert version["provenance"]["rows"] == len(tiny_frame)
    assert version["provenance"]["test_frauds"] == int(test_labels.sum())
    assert version["provenance"]["synthetic"] is False
    assert version["metrics"]["auprc"] == pytest.approx(trained_embedded.result.metrics.auprc)

    status = _invoke(settings, "status", "--json")
    live = json.loads(status.stdout)["live_model"]
    assert (live["version"], live["alias"]) == (1, "champion")
    assert live["provenance"] == version["provenance"]
    text = _invoke(settings, "status").stdout
    assert "model steps: Time drop; probabilities calibrated (Platt)" in " ".join(text.split())

    # two versions trained on one day are told apart: the table gives the minute
    created = datetime.fromisoformat(version["created_at"]).astimezone(UTC)
    assert f"{created:%Y-%m-%d %H:%M}" in " ".join(_invoke(settings, "versions").stdout.split())
    for args in (("versions",), ("status",)):
        shown = _invoke(settings, *args)
        assert shown.exit_code == 0, shown.output
        assert not LONG_FLOAT.findall(shown.stdout), shown.stdout
        assert "{" not in shown.stdout, shown.stdout  # no raw dict
    table = _invoke(settings, "versions").stdout
    auprc = trained_embedded.result.metrics.auprc
    assert "tiny.csv" in table and f"{auprc:.4f}" in table
    assert f"4,000 / {int(test_labels.sum())}" in table
    assert "(synthetic)" not in table


def test_an_old_demo_model_is_known_synthetic_by_its_data_hash(tmp_path: Path) -> None:
    """A version trained by the bootstrap before the flag existed: its data hash is the
    demo file's (hashed here with hashlib), so it is synthetic; another file's is unknown."""
    from datetime import UTC, datetime
    from hashlib import sha256

    from core.registry import ModelVersionInfo

    settings = Settings(home=tmp_path / "home")
    demo = settings.home / "demo" / "transactions.csv"
    demo.parent.mkdir(parents=True)
    demo.write_text("Time,V1\n0,1.5\n")

    def old(data_sha256: str) -> ModelVersionInfo:
        return ModelVersionInfo(
            name="m",
            version=1,
            run_id="r",
            aliases=(),
            threshold=0.5,
            model_kind="lightgbm",
            created_at=datetime.now(UTC),
            tags={"data_sha256": data_sha256, "model_kind": "lightgbm"},
            params={"data": "transactions.csv"},
        )

    demo_hash = sha256(demo.read_bytes()).hexdigest()
    assert get_provenance(old(demo_hash), settings=settings).synthetic is True
    assert get_provenance(old(demo_hash)).synthetic is None  # no home to look in
    assert get_provenance(old("0" * 64), settings=settings).synthetic is None
    demo.write_text("Time,V1\n0,2.75\n")  # the demo file replaced: hashed again
    assert get_provenance(old(demo_hash), settings=settings).synthetic is None


def test_the_command_line_prints_a_data_name_with_brackets_as_it_is(
    trained_embedded: Trained,
) -> None:
    """rich reads '[v2]' as markup (printed 'tx.csv') and '[/old]' as a closing tag (raised)."""
    from core.provenance import TAG_DATA_NAME

    source = trained_embedded.settings
    settings = source.model_copy(update={"model_name": f"brackets-{uuid.uuid4().hex[:8]}"})
    point_mlflow(source)
    client = get_client(source)
    mv = client.get_model_version(source.model_name, str(trained_embedded.result.version))
    name = "tx[v2] [/old].csv"
    client.create_registered_model(settings.model_name)
    client.create_model_version(
        settings.model_name,
        mv.source,
        run_id=mv.run_id,
        tags={**mv.tags, TAG_DATA_NAME: name},
        model_id=mv.model_id,
    )
    client.set_registered_model_alias(settings.model_name, "champion", "1")
    for command in ("versions", "status"):
        result = _invoke(settings, command)
        assert result.exit_code == 0, result.output
        assert name in result.stdout, result.stdout


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_numpy_precision_recall_curve_is_scikit_learns(seed: int) -> None:
    from sklearn.metrics import precision_recall_curve

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 400)
    proba = np.round(rng.random(400), 2)  # rounded: many tied scores
    ours = compute_precision_recall(labels, proba)
    precision, recall, thresholds = precision_recall_curve(labels, proba)
    np.testing.assert_allclose(ours.precision, precision, rtol=0, atol=1e-15)
    np.testing.assert_allclose(ours.recall, recall, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ours.thresholds, thresholds)


def test_training_stores_the_test_splits_scores_as_the_model_gives_them(
    trained_embedded: Trained,
) -> None:
    settings, result = trained_embedded.settings, trained_embedded.result
    split = get_test_split(settings, result.run_id)
    model = load_model(settings, get_version(settings, result.version))
    expected = model.predict_proba(split.loc[:, list(FEATURES)].to_numpy(dtype=np.float64))
    np.testing.assert_allclose(get_test_scores(settings, result.run_id), expected, atol=1e-12)
