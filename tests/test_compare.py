"""Comparing versions: weighted metrics, the paired bootstrap, the versions table, the
leakage guard and the sampling fraction, on real trained models and real backends.

Expected values are computed here, by hand or with scikit-learn / numpy directly, never
taken from ``core.compare``.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import average_precision_score, f1_score, precision_recall_curve
from typer.testing import CliRunner

from cli.main import app
from core.compare import (
    auprc_evidence,
    check_leakage,
    compare_versions,
    compute_prevalence_metrics,
    list_version_rows,
    load_evaluation,
    paired_bootstrap_differences,
    param_diff,
    run_leakage_checks,
)
from core.compare.bootstrap import bootstrap_average_precision
from core.compare.compare import score_evaluation
from core.compare.prevalence import compute_calibration
from core.compare.versions import mlflow_version_url
from core.config import Settings, get_settings
from core.data import generate_transactions
from core.errors import ConfigError, InputError
from core.registry import get_version, load_model
from core.schema import FEATURES
from core.tracking import get_client, point_mlflow, use_tracking
from core.training import train_from_csv
from tests.conftest import BACKENDS, LEAD, _settings_for, settings_env

FRACTION = 0.5  # the fixture's data "keeps half the legitimate rows"


# --------------------------------------------------------------------------- pure maths


def test_calibration_bins_count_their_rows_and_frauds_unweighted() -> None:
    # bins of width 0.1: [0.05, 0.07] in bin 0, 0.15 in 1, [0.55, 0.58] in 5, 0.95 in 9
    labels = np.array([0, 1, 0, 0, 1, 1])
    proba = np.array([0.05, 0.07, 0.15, 0.55, 0.58, 0.95])
    weights = np.where(labels == 1, 1.0, 2.0)  # F = 0.5
    got = compute_calibration(labels, proba, weights=weights)
    assert got.rows.tolist() == [2, 1, 2, 1]
    assert got.frauds.tolist() == [1, 0, 1, 1]
    assert got.weight.tolist() == [3.0, 2.0, 3.0, 1.0]
    assert got.observed.tolist() == pytest.approx([1 / 3, 0.0, 1 / 3, 1.0])


def test_weighted_metrics_match_a_hand_computation() -> None:
    # two frauds, four legitimate rows; F = 0.25, so each legitimate row weighs 4
    labels = np.array([1, 0, 0, 1, 0, 0])
    proba = np.array([0.9, 0.8, 0.4, 0.35, 0.2, 0.1])
    got = compute_prevalence_metrics(labels, proba, threshold=0.3, sampling_fraction=0.25, k=5)
    raw, weighted = got.raw, got.weighted
    # alerts: rows 0-3 (2 frauds, 2 legit). Raw weight 4 of 6; weighted 2 + 2*4 = 10 of 18
    assert raw.precision == pytest.approx(2 / 4) and weighted.precision == pytest.approx(2 / 10)
    assert raw.recall == weighted.recall == pytest.approx(1.0)
    assert weighted.f1 == pytest.approx(2 * 0.2 * 1 / 1.2)
    assert raw.alerts_per_10k == pytest.approx(10_000 * 4 / 6)
    assert weighted.alerts_per_10k == pytest.approx(10_000 * 10 / 18)
    # AP: recall 0.5 at 0.9 (precision 1), recall 1 at 0.35 (2 TP, 2 FP weighing 4 each)
    assert raw.auprc == pytest.approx(0.5 * 1 + 0.5 * 2 / 4)
    assert weighted.auprc == pytest.approx(0.5 * 1 + 0.5 * 2 / (2 + 8))
    # ROC-AUC: 6 of 8 fraud/legit pairs ordered right; weights within a class cancel
    assert raw.roc_auc == pytest.approx(6 / 8) and weighted.roc_auc == pytest.approx(6 / 8)
    squared = np.array([0.01, 0.64, 0.16, 0.4225, 0.04, 0.01])
    assert raw.brier == pytest.approx(squared.mean())
    assert weighted.brier == pytest.approx((squared * [1, 4, 4, 1, 4, 4]).sum() / 18)
    # top 5 by weight: the 0.9 fraud (1) and 4 of the 0.8 legit row's weight of 4
    assert weighted.precision_at_k == pytest.approx(1 / 5)
    assert raw.precision_at_k == pytest.approx(2 / 5)


def test_threshold_dependent_values_are_none_without_a_threshold() -> None:
    got = compute_prevalence_metrics(
        np.array([1, 0, 0, 1]), np.array([0.9, 0.1, 0.2, 0.3]), threshold=None, sampling_fraction=1
    )
    assert got.raw.precision is None and got.weighted.alerts_per_10k is None
    assert got.raw.auprc == pytest.approx(1.0)


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5, float("nan"), "abc"])
def test_bad_sampling_fractions_are_refused(fraction: object) -> None:
    with pytest.raises(InputError, match="sampling fraction"):
        compute_prevalence_metrics(
            np.array([1, 0]), np.array([0.9, 0.1]), threshold=None, sampling_fraction=fraction
        )


def test_bootstrap_average_precision_matches_a_slow_sklearn_loop() -> None:
    rng = np.random.default_rng(7)
    n = 400
    labels = (rng.random(n) < 0.08).astype(int)
    scores = [
        np.round(rng.random(n) * 0.6 + labels * 0.3, 2),  # many ties
        rng.random(n) * 0.5 + labels * rng.random(n),
        rng.random(n),
    ]
    drawn = rng.integers(0, n, size=(60, n))
    counts = np.stack([np.bincount(row, minlength=n) for row in drawn])
    got = bootstrap_average_precision(labels, scores, counts, legit_weights=(1.0, 8.0))
    for b, row_counts in enumerate(counts):
        for v, s in enumerate(scores):
            if not (row_counts * labels).any():
                assert np.isnan(got[0, v, b])
                continue
            raw = average_precision_score(labels, s, sample_weight=row_counts)
            weighted = average_precision_score(
                labels, s, sample_weight=row_counts * np.where(labels == 1, 1, 8.0)
            )
            assert got[0, v, b] == pytest.approx(raw, abs=1e-9)
            assert got[1, v, b] == pytest.approx(weighted, abs=1e-9)


def test_paired_bootstrap_interval_matches_the_enumerated_distribution() -> None:
    # five rows: every one of the 5**5 equally likely resamples can be enumerated
    labels = np.array([1, 1, 0, 0, 0])
    a = np.array([0.9, 0.6, 0.7, 0.2, 0.1])
    b = np.array([0.8, 0.3, 0.5, 0.4, 0.2])
    # the 5**5 draws give only 126 distinct count vectors: score each once, and repeat its
    # difference as many times as draws give it (the same values, 25 times fewer fits)
    draws = Counter(
        tuple(np.bincount(draw, minlength=5)) for draw in itertools.product(range(5), repeat=5)
    )
    exact = []
    for counts, times in draws.items():
        if (np.array(counts) * labels).any():
            difference = average_precision_score(
                labels, b, sample_weight=counts
            ) - average_precision_score(labels, a, sample_weight=counts)
            exact.extend([difference] * times)
    exact = np.array(exact)
    [[_, got]] = paired_bootstrap_differences(labels, [a, b], baseline=0, resamples=20_000, seed=1)
    assert got.difference == pytest.approx(
        average_precision_score(labels, b) - average_precision_score(labels, a)
    )
    # 20,000 resamples estimate the 2.5% and 97.5% points of the exact distribution
    assert np.quantile(exact, 0.015) <= got.low <= np.quantile(exact, 0.035)
    assert np.quantile(exact, 0.965) <= got.high <= np.quantile(exact, 0.985)
    no_fraud = 1 - len(exact) / 5**5  # share of resamples without a fraud: dropped
    assert got.dropped / 20_000 == pytest.approx(no_fraud, abs=0.01)


# --------------------------------------------------------------------------- real versions


@dataclass(frozen=True)
class Registered:
    settings: Settings
    frame: pd.DataFrame  # the training file's rows
    csv: Path
    lgbm: int  # trained with the sampling fraction, live
    logreg: int  # trained on the same file, fraction 1 (default)
    copy: int  # v1's model registered again with plain MLflow: no tags, no threshold
    forest: int  # a random forest logged and registered with plain MLflow elsewhere


@pytest.fixture(scope="module", params=BACKENDS)
def registered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    frame = generate_transactions(8_000, fraud_rate=0.03, seed=21)
    csv = tmp_path_factory.mktemp("compare") / "train.csv"
    frame.to_csv(csv, index=False)
    settings = _settings_for(request, request.param, f"cmp-{uuid.uuid4().hex[:8]}")
    lgbm = train_from_csv(csv, settings=settings, actor=LEAD, sampling_fraction=FRACTION)
    logreg = train_from_csv(csv, settings=settings, actor=LEAD, model_kind="logreg")
    point_mlflow(settings)  # MLflow resolves a models:/ source through its global URI
    source = get_client(settings).get_model_version(settings.model_name, str(lgbm.version)).source
    copy = mlflow.register_model(source, settings.model_name)
    use_tracking(settings)
    mlflow.set_experiment(f"notebook-{uuid.uuid4().hex[:6]}")
    x = frame.loc[:, list(FEATURES)]
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, frame["Class"])
    with mlflow.start_run():
        logged = mlflow.sklearn.log_model(
            forest,
            name="model",
            serialization_format="skops",
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )
    external = mlflow.register_model(logged.model_uri, settings.model_name)
    return Registered(
        settings, frame, csv, lgbm.version, logreg.version, int(copy.version), int(external.version)
    )


def _seen_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Train and validation: the first 80% by Time (stable), as the split takes them."""
    ordered = frame.sort_values("Time", kind="stable")
    return ordered.iloc[: round(len(ordered) * 0.8)]


def _sha(rows: pd.DataFrame) -> set[str]:
    values = np.ascontiguousarray(rows.loc[:, list(FEATURES)].to_numpy(dtype="<f8"))
    return {hashlib.sha256(row.tobytes()).hexdigest() for row in values}


def test_training_stores_the_fraction_time_range_and_row_hashes(registered: Registered) -> None:
    settings = registered.settings
    info = get_version(settings, registered.lgbm)
    assert float(info.tags["sampling_fraction"]) == FRACTION
    params = get_client(settings).get_run(info.run_id).data.params
    seen = _seen_rows(registered.frame)
    assert float(params["sampling_fraction"]) == FRACTION
    assert float(params["train_time_min"]) == seen["Time"].min()
    assert float(params["train_time_max"]) == seen["Time"].max()
    stored = pd.read_parquet(
        mlflow.artifacts.download_artifacts(
            run_id=info.run_id, artifact_path="data/train_row_hashes.parquet"
        )
    )
    assert set(stored["input_hash"]) == _sha(seen)
    assert float(get_version(settings, registered.logreg).tags["sampling_fraction"]) == 1.0


def test_compare_versions_on_the_live_test_split(registered: Registered) -> None:
    settings = registered.settings
    evaluation = load_evaluation(settings)
    assert evaluation.sampling_fraction == FRACTION  # the live version's stored fraction
    test = registered.frame.sort_values("Time", kind="stable").iloc[round(8_000 * 0.8) :]
    assert evaluation.rows == len(test) and evaluation.frauds == int(test["Class"].sum())
    versions = [registered.lgbm, registered.logreg, registered.copy]
    got = compare_versions(settings, evaluation, versions, resamples=200, seed=3)
    assert got.baseline == registered.lgbm  # the live version
    again = score_evaluation(settings, got.versions[0].info, evaluation)
    assert again is got.versions[0].probability  # scored once per version and rows
    labels = test["Class"].to_numpy()
    weights = np.where(labels == 1, 1.0, 1 / FRACTION)
    by_version = {c.version: c for c in got.versions}
    for compared in by_version.values():
        p = compared.probability
        assert compared.metrics.raw.auprc == pytest.approx(average_precision_score(labels, p))
        assert compared.metrics.weighted.auprc == pytest.approx(
            average_precision_score(labels, p, sample_weight=weights)
        )
        if compared.threshold is None:
            continue
        alert = p >= compared.threshold
        assert compared.metrics.raw.alerts_per_10k == pytest.approx(10_000 * alert.mean())
        weighted_alerts = 10_000 * weights[alert].sum() / weights.sum()
        assert compared.metrics.weighted.alerts_per_10k == pytest.approx(weighted_alerts)
        assert compared.metrics.raw.recall == pytest.approx(alert[labels == 1].mean())
    # the copy's scores are v1's; it has no threshold: a max-F1 suggestion, values None
    copy = by_version[registered.copy]
    assert np.array_equal(copy.probability, by_version[registered.lgbm].probability)
    assert copy.threshold is None and copy.metrics.weighted.precision is None
    *_, cuts = precision_recall_curve(labels, copy.probability)
    best_f1 = max(f1_score(labels, copy.probability >= c) for c in cuts)
    assert f1_score(labels, copy.probability >= copy.suggest_threshold) == pytest.approx(best_f1)
    assert copy.auprc_difference.difference == pytest.approx(0.0)
    assert copy.auprc_difference.low == copy.auprc_difference.high == pytest.approx(0.0)
    logreg = by_version[registered.logreg]
    expected = average_precision_score(labels, logreg.probability) - average_precision_score(
        labels, by_version[registered.lgbm].probability
    )
    assert logreg.auprc_difference.difference == pytest.approx(expected)
    assert logreg.auprc_difference.low <= expected <= logreg.auprc_difference.high
    # decision diff: rows where v1 and v2 decide differently (the copy cannot decide)
    d1 = by_version[registered.lgbm].probability >= by_version[registered.lgbm].threshold
    d2 = logreg.probability >= logreg.threshold
    table = pd.read_csv(io.BytesIO(got.decision_diff_csv()))
    assert len(table) == int((d1 != d2).sum())
    assert list(table[f"decision_v{registered.logreg}"]) == list(d2[d1 != d2].astype(int))
    assert f"decision_v{registered.copy}" not in table.columns


def test_versions_table_lists_every_version_with_what_is_known(registered: Registered) -> None:
    settings = registered.settings
    rows = {row.version: row for row in list_version_rows(settings)}
    assert set(rows) == {registered.lgbm, registered.logreg, registered.copy, registered.forest}
    lgbm = rows[registered.lgbm]
    assert lgbm.sampling_fraction == FRACTION and "champion" in lgbm.aliases
    assert lgbm.model_kind == "lightgbm" and lgbm.threshold is not None
    assert lgbm.data_sha256 == hashlib.sha256(registered.csv.read_bytes()).hexdigest()
    assert lgbm.metrics["auprc"] is not None and lgbm.weighted["auprc"] is not None
    # weighted alerts = raw alerts scaled by the weight of the test rows (hand formula)
    test = registered.frame.sort_values("Time", kind="stable").iloc[6_400:]
    y, flagged = test["Class"].to_numpy(), lgbm.metrics["alerts_per_10k"] / 10_000 * 1_600
    tp = lgbm.metrics["precision"] * flagged
    weighted_flagged = tp + (flagged - tp) / FRACTION
    weight = (y == 1).sum() + (y == 0).sum() / FRACTION
    assert lgbm.weighted["alerts_per_10k"] == pytest.approx(10_000 * weighted_flagged / weight)
    forest = rows[registered.forest]
    assert forest.threshold is None and forest.model_kind is None
    assert forest.sampling_fraction is None and forest.data_sha256 is None
    assert all(value is None for value in forest.metrics.values())
    uri = str(settings.tracking_uri)
    if uri.startswith("http"):
        link = f"{uri}/#/models/{settings.model_name}/versions/{registered.forest}"
        assert forest.mlflow_url == link
    else:
        assert forest.mlflow_url is None


def test_mlflow_links_leave_credentials_out() -> None:
    server = Settings(tracking_uri="https://ann:secret@mlflow.example.org/base/", model_name="m")
    assert mlflow_version_url(server, 7) == "https://mlflow.example.org/base/#/models/m/versions/7"
    assert mlflow_version_url(Settings(model_name="m"), 7) is None  # SQLite: no UI to link


def test_mlflow_links_go_to_the_public_ui_address_when_one_is_set(
    workbench_env: pytest.MonkeyPatch,
) -> None:
    """The UI reached elsewhere than the tracking URI (a proxy), or beside a SQLite store."""
    workbench_env.setenv("WORKBENCH_TRACKING_URI", "http://mlflow:5000")
    workbench_env.setenv("WORKBENCH_MLFLOW_UI_URL", "https://bob:pw@ml.example.org/mlflow/")
    workbench_env.setenv("WORKBENCH_MODEL_NAME", "m")
    link = "https://ml.example.org/mlflow/#/models/m/versions/7"
    assert mlflow_version_url(get_settings(), 7) == link
    beside_sqlite = Settings(model_name="m", mlflow_ui_url="http://127.0.0.1:5000")
    assert mlflow_version_url(beside_sqlite, 7) == "http://127.0.0.1:5000/#/models/m/versions/7"
    with pytest.raises(ConfigError, match="WORKBENCH_MLFLOW_UI_URL: unknown URL scheme 'ftp'"):
        Settings(mlflow_ui_url="ftp://ml.example.org")


def test_param_diff_shows_differences_only_when_asked(registered: Registered) -> None:
    settings = registered.settings
    pair = [registered.lgbm, registered.logreg]
    full = param_diff(settings, pair, differences_only=False)
    only = param_diff(settings, pair, differences_only=True)
    assert list(full.columns) == [f"version {v}" for v in pair]
    assert full.loc["model_kind"].tolist() == ["lightgbm", "logreg"]
    assert full.loc["data"].tolist() == ["train.csv", "train.csv"]
    assert "model_kind" in only.index and "data" not in only.index
    assert full.loc["num_leaves", f"version {registered.logreg}"] is None
    forest = param_diff(settings, [registered.forest], differences_only=False)
    assert list(forest.columns) == [f"version {registered.forest}"]


def test_leakage_guard(registered: Registered) -> None:
    settings = registered.settings
    split = load_evaluation(settings)
    assert check_leakage(settings, split, registered.lgbm) is None  # later rows, same file
    uploaded = load_evaluation(settings, path=registered.csv, sampling_fraction=FRACTION)
    leak = check_leakage(settings, uploaded, registered.lgbm)
    assert leak is not None and leak.kind == "shared_rows"
    assert leak.shared_rows == len(_sha(_seen_rows(registered.frame)))
    # same file, overlapping time, no stored hashes to compare (the forest has none, so
    # use a version with the time range): rows of the file that were never trained on
    overlapping = replace(split, time_min=float(registered.frame["Time"].min()))
    time_leak = check_leakage(settings, overlapping, registered.lgbm)
    assert time_leak is not None and time_leak.kind == "same_data"
    assert check_leakage(settings, uploaded, registered.forest) is None  # nothing known
    # ... which is not "no leakage": the checks say what could be checked
    assert run_leakage_checks(settings, split, registered.lgbm).checked == (
        "shared_rows",
        "same_data",
    )
    unknown = run_leakage_checks(settings, uploaded, registered.forest)
    assert unknown.leakage is None and not unknown.checkable

    evidence = auprc_evidence(
        settings, candidate=registered.logreg, current=registered.lgbm, evaluation=uploaded
    )
    labels = registered.frame["Class"].to_numpy()
    weights = np.where(labels == 1, 1.0, 1 / FRACTION)
    x = registered.frame.loc[:, list(FEATURES)].to_numpy(dtype=np.float64)
    p = load_model(settings, get_version(settings, registered.logreg)).predict_proba(x)
    assert evidence["candidate_auprc"] == pytest.approx(
        average_precision_score(labels, p, sample_weight=weights)
    )
    assert evidence["weighted"] is True and evidence["rows"] == len(labels)
    assert evidence["frauds"] == int(labels.sum())
    assert "trained on" in evidence["leakage"] and evidence["leakage_checked"] is True


def test_uploaded_evaluation_reports_bad_rows(tmp_path: Path, registered: Registered) -> None:
    frame = registered.frame.head(400).copy()
    path = tmp_path / "eval.csv"
    frame.astype({"V4": object}).assign(V4=lambda f: f["V4"].where(f.index != 5, "abc")).to_csv(
        path, index=False
    )
    got = load_evaluation(registered.settings, path=path)
    assert got.rows == 399 and got.sampling_fraction == 1.0
    assert got.rejected["row"].tolist() == [6] and "V4" in got.rejected["column"].iloc[0]
    with pytest.raises(InputError, match="not both"):
        load_evaluation(registered.settings, path=path, version=registered.lgbm)
    with pytest.raises(InputError, match="sampling fraction"):
        load_evaluation(registered.settings, path=path, sampling_fraction=0)


def test_cli_train_takes_the_sampling_fraction(tmp_path: Path) -> None:
    frame = generate_transactions(4_000, fraud_rate=0.03, seed=5)
    csv = tmp_path / "t.csv"
    frame.to_csv(csv, index=False)
    settings = Settings(home=tmp_path / "home")
    get_settings.cache_clear()
    runner = CliRunner()
    env = settings_env(settings)
    bad = runner.invoke(app, ["train", "--data", str(csv), "--sampling-fraction", "0"], env=env)
    assert bad.exit_code == 2 and "sampling fraction" in bad.stderr
    assert "Traceback" not in bad.output
    ok = runner.invoke(app, ["train", "--data", str(csv), "--sampling-fraction", "0.25"], env=env)
    assert ok.exit_code == 0, ok.output
    get_settings.cache_clear()
    assert float(get_version(settings, 1).tags["sampling_fraction"]) == 0.25


def test_real_sample_auprc_raw_and_weighted(real_sample: Path, tmp_path: Path) -> None:
    # README, "Comparing versions": the real sample keeps 4,920 of 284,315 legitimate rows
    settings = Settings(home=tmp_path / "home")
    fraction = 4920 / 284315
    train_from_csv(real_sample, settings=settings, actor=LEAD, sampling_fraction=fraction)
    evaluation = load_evaluation(settings)
    got = compare_versions(settings, evaluation, [1], resamples=10)
    metrics = got.versions[0].metrics
    # with the default steps: Time dropped, Platt with the prior correction
    assert round(metrics.raw.auprc, 3) == 0.925
    assert round(metrics.weighted.auprc, 3) == 0.752
    assert round(metrics.raw.precision, 3) == 0.917
    assert round(metrics.weighted.precision, 3) == 0.160
    assert round(metrics.raw.alerts_per_10k) == 665
    assert round(metrics.weighted.alerts_per_10k) == 71
