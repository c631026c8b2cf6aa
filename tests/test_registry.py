"""Training, registry and aliases: the same tests on the embedded and the real backends."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.aliases import set_alias
from core.artifacts import (
    download_artifact,
    get_global_explanation,
    load_global_explanation,
    log_global_explanation,
)
from core.config import Settings
from core.db import AliasEvent, get_engine
from core.errors import BackendError, InputError, NotFoundError
from core.explain import compute_global
from core.models import LightGBMModel
from core.reference import ReferenceStats
from core.registry import (
    MissingThresholdError,
    ModelVersionInfo,
    format_threshold,
    get_alias_version,
    get_version,
    get_version_by_alias,
    list_versions,
    load_model,
    read_threshold,
)
from core.schema import FEATURES
from core.scoring import resolve_model, score_file, score_record
from core.tracking import get_client, point_mlflow, use_tracking
from core.training import train_model
from core.training.outputs import log_and_register
from core.training.split import split_by_time
from core.training.train import _fit, _xy, file_sha256
from tests.conftest import LEAD, Trained, analyst, free_port, logged_probability


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
    assert load_model(settings, live).adapter is model.adapter  # loaded once per version
    test = pd.read_parquet(download_artifact(settings, live.run_id, "data/test.parquet"))
    proba = model.predict_proba(test[list(FEATURES)].to_numpy())
    assert proba.shape == (len(test),)
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
    first = train_model(tiny_frame, settings=settings, actor=LEAD, data_sha256="a" * 64)
    second = train_model(
        tiny_frame, settings=settings, actor=LEAD, model_kind="logreg", data_sha256="b" * 64
    )
    assert (first.version, second.version) == (1, 2)
    assert second.alias_set is None
    assert get_version_by_alias(settings).version == 1

    listed = list_versions(settings)
    assert [v.version for v in listed] == [2, 1]
    assert listed[1].aliases == ("champion",) and listed[0].model_kind == "logreg"
    assert listed[0].metrics["auprc"] == pytest.approx(second.metrics.auprc)

    previous = set_alias(
        settings, version=2, actor=LEAD, reason="logreg is simpler", kind="promote"
    )
    assert previous == 1 and get_version_by_alias(settings).version == 2
    with Session(get_engine(settings)) as session:
        events = session.scalars(
            select(AliasEvent)
            .where(AliasEvent.model_name == settings.model_name)
            .order_by(AliasEvent.id)
        ).all()
    assert [(e.from_version, e.to_version, e.actor, e.status) for e in events] == [
        (None, 1, "lead", "confirmed"),  # the person who trained, not "train"
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
            tiny_frame,
            settings=Settings(home=tmp_path),
            model_kind="xgboost",
            data_sha256="0",
            actor=LEAD,
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


# --------------------------------------------------------------------------- registration


@pytest.fixture(scope="module")
def fitted_lightgbm(tiny_frame: pd.DataFrame) -> tuple[object, pd.DataFrame]:
    split = split_by_time(tiny_frame)
    (xt, yt), (xv, yv) = _xy(split.train), _xy(split.validation)
    return _fit("lightgbm", xt, yt, xv, yv)[0], xt


def test_registration_writes_the_tags_with_the_version(
    backend_settings: Settings, fitted_lightgbm: tuple[object, pd.DataFrame]
) -> None:
    """The tags come with the version from the one registration call, not a later one."""
    settings = backend_settings
    model, x_train = fitted_lightgbm
    tags = {"threshold": "0.25", "model_kind": "lightgbm", "data_sha256": "c" * 64}
    use_tracking(settings)
    with mlflow.start_run():
        version = log_and_register(LightGBMModel.from_fitted(model), x_train, settings, tags=tags)
    stored = get_client(settings).get_model_version(settings.model_name, str(version))
    assert {k: stored.tags.get(k) for k in tags} == tags
    info = get_version(settings, version, with_metrics=False)
    assert (info.threshold, info.model_kind) == (0.25, "lightgbm")
    # and the kind is in the immutable artifact too
    mlmodel = Path(download_artifact(settings, stored.run_id, "model/MLmodel")).read_text()
    assert "model_kind: lightgbm" in mlmodel


# --------------------------------------------------------------------------- thresholds


def _copy_version(trained: Trained, threshold: str | None) -> Settings:
    """The trained model registered again under a fresh name, with a chosen threshold tag."""
    source = trained.settings
    settings = source.model_copy(update={"model_name": f"copy-{uuid.uuid4().hex[:8]}"})
    point_mlflow(source)  # MLflow resolves a models:/ source through its global URI
    client = get_client(source)
    mv = client.get_model_version(source.model_name, str(trained.result.version))
    client.create_registered_model(settings.model_name)
    tags = {"model_kind": "lightgbm"} | ({} if threshold is None else {"threshold": threshold})
    client.create_model_version(
        settings.model_name, mv.source, run_id=mv.run_id, tags=tags, model_id=mv.model_id
    )
    return settings


@pytest.mark.parametrize(
    ("tag", "problem"),
    [
        (None, "it has no 'threshold' tag"),
        ("abc", "its 'threshold' tag 'abc' is not a number"),
        ("nan", "its 'threshold' tag 'nan' is not between 0 and 1"),
        ("1.5", "its 'threshold' tag '1.5' is not between 0 and 1"),
        ("0", "its 'threshold' tag '0' is not between 0 and 1"),
    ],
)
def test_a_version_without_a_valid_threshold_predicts_lists_but_never_decides(
    trained_embedded: Trained,
    tiny_frame: pd.DataFrame,
    tmp_path: Path,
    tag: str | None,
    problem: str,
) -> None:
    settings = _copy_version(trained_embedded, tag)
    [listed] = list_versions(settings)
    assert (listed.version, listed.threshold, listed.threshold_text) == (1, None, "missing")
    assert get_version(settings, 1).threshold_problem == problem
    choice = resolve_model(settings, version=1)  # loading and predicting need no threshold
    x = tiny_frame[list(FEATURES)].head(3).to_numpy()
    assert choice.model.predict_proba(x).shape == (3,)
    expected = rf"{settings.model_name} version 1 cannot decide alerts: {problem}\. Set its"
    with pytest.raises(MissingThresholdError, match=expected):
        read_threshold(settings, choice.model.info)
    record = tiny_frame[list(FEATURES)].iloc[0].to_dict()
    with pytest.raises(InputError, match=expected):
        score_record(
            record, settings=settings, choice=choice, source_kind="cli", actor=analyst("t")
        )
    path = tmp_path / "few.csv"
    tiny_frame.head(5).to_csv(path, index=False)
    with pytest.raises(MissingThresholdError, match=expected):
        score_file(path, settings=settings, choice=choice, source_kind="cli", actor=analyst("t"))


def test_a_changed_threshold_decides_from_the_next_call(
    trained_embedded: Trained, tiny_frame: pd.DataFrame, tmp_path: Path
) -> None:
    settings = _copy_version(trained_embedded, "0.5")
    choice = resolve_model(settings, version=1)  # resolved and cached once, like the app
    row = tiny_frame[list(FEATURES)].iloc[[0]]
    p = float(logged_probability(settings, 1, row.to_numpy())[0])  # read without core
    path = tmp_path / "one.csv"
    row.to_csv(path, index=False)
    client = get_client(settings)
    for threshold, alert in ((p / 2, 1), ((1 + p) / 2, 0), (p / 3, 1)):
        client.set_model_version_tag(settings.model_name, "1", "threshold", repr(threshold))
        single = score_record(
            row.iloc[0].to_dict(),
            settings=settings,
            choice=choice,
            source_kind="ui",
            actor=analyst("t"),
        )
        batch = score_file(
            path, settings=settings, choice=choice, source_kind="cli", actor=analyst("t")
        )
        assert (single.decision, single.threshold) == (alert, threshold)
        assert (batch.alerts, batch.threshold) == (alert, threshold)


# --------------------------------------------------------------------------- downloads


def test_a_missing_artifact_is_not_found_on_every_backend(trained: Trained) -> None:
    settings, run_id = trained.settings, trained.result.run_id
    with pytest.raises(
        NotFoundError, match=rf"run {run_id} has no artifact explain/nothing\.parquet"
    ):
        download_artifact(settings, run_id, "explain/nothing.parquet")


def test_a_failed_download_is_a_backend_error_and_overwrites_nothing(trained: Trained) -> None:
    """An unreachable S3 endpoint is not "missing": no recompute, no overwrite."""
    settings, run_id = trained.settings, trained.result.run_id
    if settings.artifact_scheme != "s3":
        pytest.skip("only an S3 artifact store has an endpoint to make unreachable")
    model = load_model(settings, get_version_by_alias(settings))
    # a run whose stored explanation is a marker of 7 rows, and that has no test split
    client = get_client(settings)
    experiment = client.get_experiment_by_name(settings.experiment_name)
    other = client.create_run(experiment.experiment_id).info.run_id
    test = pd.read_parquet(download_artifact(settings, run_id, "data/test.parquet"))
    marker = compute_global(model.adapter, test.head(7), rows=7)
    log_global_explanation(settings, other, marker, actor=LEAD)
    broken = settings.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    try:
        with pytest.raises(BackendError, match=r"reference/feature_stats\.json of run"):
            download_artifact(broken, run_id, "reference/feature_stats.json")
        elsewhere = replace(model, info=replace(model.info, run_id=other))
        with pytest.raises(BackendError):
            get_global_explanation(broken, elsewhere, actor=LEAD)
    finally:
        settings.apply_to_environment()  # MLflow reads the endpoint from the environment
    assert len(load_global_explanation(settings, other).features) == 7


def test_a_malformed_threshold_is_one_clear_line_in_the_cli_and_an_error_on_the_pages(
    trained_embedded: Trained,
    tiny_csv: Path,
    tmp_path: Path,
    workbench_env: pytest.MonkeyPatch,
) -> None:
    from streamlit.testing.v1 import AppTest
    from typer.testing import CliRunner

    from cli.main import app
    from core.config import get_settings
    from tests.conftest import REPO, settings_env

    settings = _copy_version(trained_embedded, "abc")
    get_client(settings).set_registered_model_alias(settings.model_name, "champion", "1")
    env = settings_env(settings)
    problem = (
        f"{settings.model_name} version 1 cannot decide alerts: its 'threshold' tag 'abc' "
        "is not a number. Set its 'threshold' version tag"
    )
    runner = CliRunner()
    get_settings.cache_clear()
    listed = runner.invoke(app, ["versions"], env=env)
    assert listed.exit_code == 0
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert next(r for r in rows if r[:1] == ["1"])[:3] == ["1", "@champion", "missing"]
    get_settings.cache_clear()
    out = tmp_path / "o.csv"
    scored = runner.invoke(app, ["score", "--data", str(tiny_csv), "--out", str(out)], env=env)
    assert scored.exit_code == 2 and not out.exists()
    [line] = scored.stderr.strip().splitlines()
    assert line.startswith(f"error: {problem}")

    for key, value in env.items():
        workbench_env.setenv(key, value)
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=120).run()
    assert not at.exception and any("decision threshold missing" in m.value for m in at.markdown)
    at = at.switch_page(str(REPO / "pages" / "score.py")).run()
    at.number_input(key="form_V14").set_value(-9.0)
    at.button[0].click().run()
    assert not at.exception and problem in at.error[0].value
    assert at.number_input(key="form_V14").value == -9.0
    at = at.switch_page(str(REPO / "pages" / "explain.py")).run()
    assert not at.exception and problem in at.warning[0].value


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
        set_alias(down, version=1, alias="unreachable-db", actor=LEAD, reason="r", kind="promote")
    assert get_alias_version(trained.settings, "unreachable-db") is None


def test_a_reserved_alias_name_is_refused_before_any_history_row(trained: Trained) -> None:
    settings = trained.settings
    with pytest.raises(InputError, match="reserved"):  # a bad alias name is bad input
        set_alias(
            settings, version=1, alias="v7", actor=LEAD, reason="a reserved name", kind="promote"
        )
    assert _alias_events(settings, "v7") == []  # checked before the intent is written
    assert (
        set_alias(settings, version=1, alias="moved-ok", actor=LEAD, reason="r", kind="promote")
        is None
    )
    assert _alias_events(settings, "moved-ok") == [(None, 1, "confirmed")]
    assert get_alias_version(settings, "moved-ok") == 1


@contextmanager
def _confirmation_refused(settings: Settings) -> Iterator[None]:
    """The app database takes the intent row and any other write, but refuses to confirm
    a move of this model (a trigger), as a database that fails at that moment would."""
    model = settings.model_name
    engine = get_engine(settings)
    if engine.dialect.name == "sqlite":
        create = [
            f"CREATE TRIGGER refuse_confirm BEFORE UPDATE OF status ON alias_events "
            f"WHEN NEW.status = 'confirmed' AND NEW.model_name = '{model}' "
            "BEGIN SELECT RAISE(ABORT, 'confirmation refused by the test'); END"
        ]
        drop = ["DROP TRIGGER refuse_confirm"]
    else:
        create = [
            "CREATE FUNCTION refuse_confirm() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.status = 'confirmed' AND NEW.model_name = '{model}' THEN "
            "RAISE EXCEPTION 'confirmation refused by the test'; END IF; RETURN NEW; END "
            "$$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_confirm BEFORE UPDATE ON alias_events "
            "FOR EACH ROW EXECUTE FUNCTION refuse_confirm()",
        ]
        drop = ["DROP TRIGGER refuse_confirm ON alias_events", "DROP FUNCTION refuse_confirm()"]
    with engine.begin() as connection:
        for statement in create:
            connection.execute(text(statement))
    try:
        yield
    finally:
        with engine.begin() as connection:
            for statement in drop:
                connection.execute(text(statement))


def test_a_move_whose_history_cannot_be_confirmed_is_undone(trained: Trained) -> None:
    """The registry moved, the confirmation failed: the alias goes back, the row says so."""
    source = trained.settings
    settings = source.model_copy(update={"model_name": f"undo-{uuid.uuid4().hex[:8]}"})
    mv = get_client(source).get_model_version(source.model_name, str(trained.result.version))
    point_mlflow(source)  # MLflow resolves a models:/ source through its global URI
    for _ in range(2):  # versions 1 and 2 of a model of its own: the trained one, twice
        mlflow.register_model(mv.source, settings.model_name, tags=mv.tags)
    assert (
        set_alias(settings, version=1, alias="undo-me", actor=LEAD, reason="r", kind="promote")
        is None
    )
    with _confirmation_refused(settings), pytest.raises(BackendError) as refused:
        set_alias(settings, version=2, alias="undo-me", actor=LEAD, reason="r", kind="promote")
    assert "confirmation refused by the test" in str(refused.value)
    assert "undo-me was moved back (version 1)" in str(refused.value)
    assert get_alias_version(settings, "undo-me") == 1
    assert _alias_events(settings, "undo-me") == [(None, 1, "confirmed"), (1, 2, "failed")]

    # from unset: the alias is removed again
    with _confirmation_refused(settings), pytest.raises(BackendError, match=r"\(unset\)"):
        set_alias(settings, version=2, alias="fresh", actor=LEAD, reason="r", kind="promote")
    assert get_alias_version(settings, "fresh") is None
    assert _alias_events(settings, "fresh") == [(None, 2, "failed")]


def test_an_unreachable_registry_writes_no_history(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, tracking_uri=f"http://127.0.0.1:{free_port()}", model_name="gone"
    )
    with pytest.raises(BackendError):
        set_alias(settings, version=1, alias="champion", actor=LEAD, reason="r", kind="promote")
    assert _alias_events(settings, "champion") == []


@pytest.mark.parametrize(
    ("tag", "shown"),
    [
        ("0.25", 0.25),
        ("1.0", 1.0),
        (None, None),
        ("0", None),
        ("1.5", None),
        ("nan", None),
        ("x", None),
    ],
)
def test_a_versions_sampling_fraction_for_display(tag: str | None, shown: float | None) -> None:
    """Unknown (absent or not a fraction in (0, 1]) is None: shown as n/a, never an error."""
    info = ModelVersionInfo(
        name="m",
        version=1,
        run_id="",
        aliases=(),
        threshold=None,
        model_kind="unknown",
        created_at=datetime.now(UTC),
        tags={} if tag is None else {"sampling_fraction": tag},
    )
    assert info.sampling_fraction == shown


@pytest.mark.parametrize(
    ("threshold", "text"),
    [
        # a calibrated, prior-corrected threshold is a natural-prevalence rate: small (the
        # bench's LightGBM at F = 0.0173 cuts at 0.0066), so four decimals lose it
        (0.006612345, "0.006612"),
        (0.000123456, "0.0001235"),
        (0.00004, "0.00004000"),
        (0.2764, "0.2764"),  # a raw-scale threshold reads as before
        (0.5, "0.5000"),
    ],
)
def test_a_threshold_is_shown_to_four_significant_digits(threshold: float, text: str) -> None:
    info = ModelVersionInfo(
        name="m",
        version=1,
        run_id="",
        aliases=(),
        threshold=threshold,
        model_kind="lightgbm",
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert info.threshold_text == text == format_threshold(threshold)
