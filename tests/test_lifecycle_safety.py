"""What core does not take on trust in the lifecycle: AUPRCs, alias names, pending intents.

Review findings of issue 10: the AUPRC gate computes its evidence from the rows itself
(leakage-checked, weighted to the natural prevalence); alias names are checked before
anything is written; intents left ``pending`` are settled under the lock; the PostgreSQL
lock survives an idle-in-transaction timeout; the CSV export defuses formulas. Expected
values come from outside the code under test (scikit-learn, plain MLflow, SQLAlchemy).
"""

from __future__ import annotations

import csv
import io
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import average_precision_score
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from core.aliases import check_alias_name, set_alias
from core.compare import load_evaluation
from core.config import Settings
from core.db import AliasEvent, get_engine
from core.db.locks import lock_key, registry_lock
from core.errors import GateFailed, InputError
from core.gates import AuprcEvidence
from core.history import (
    EXTERNAL_ACTOR,
    HistoryRow,
    _record_external,
    history_csv,
    sync_alias_history,
)
from core.lifecycle import promote, rollback, set_threshold
from core.schema import FEATURES, LABEL
from core.tracking import point_mlflow
from core.training import train_model
from tests.conftest import LEAD, _settings_for, logged_probability
from tests.test_external_models import log_elsewhere
from tests.test_lifecycle import (
    Lineage,
    _alias,
    _copy,
    _invoke,
    _new_alias,
    _one_error,
    _rows,
    _tag_threshold,
)


@pytest.fixture(scope="module")
def lineage(request: pytest.FixtureRequest, tiny_frame: pd.DataFrame) -> Lineage:
    """As ``tests.test_lifecycle``'s, on the embedded backend: 1 good, 2 weak, 3 and 4
    copies of 1."""
    settings = _settings_for(request, "embedded", f"safe-{uuid.uuid4().hex[:8]}")
    train_model(tiny_frame, settings=settings, actor=LEAD, data_sha256="a" * 64)
    shuffled = np.random.default_rng(0).permutation(tiny_frame["Class"].to_numpy())
    weak = tiny_frame.assign(Class=shuffled)
    train_model(weak, settings=settings, actor=LEAD, data_sha256="b" * 64)
    assert (_copy(settings, 1), _copy(settings, 1)) == (3, 4)
    return Lineage(settings, "embedded")


def _test_split(settings: Settings, version: int) -> pd.DataFrame:
    point_mlflow(settings)
    run_id = (
        MlflowClient(str(settings.tracking_uri))
        .get_model_version(settings.model_name, str(version))
        .run_id
    )
    return pd.read_parquet(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="data/test.parquet")
    )


def _proba(settings: Settings, version: int, frame: pd.DataFrame) -> np.ndarray:
    # the version's own probabilities (its recorded calibration applied, without core): a
    # near-random model's tiny Platt slope can merge raw scores into ties, so even AUPRC
    # is read on the version's scale
    return logged_probability(settings, version, frame[list(FEATURES)].to_numpy(np.float64))


# --------------------------------------------------------------------------- the AUPRC gate


def test_promote_refuses_ready_made_auprcs(lineage: Lineage) -> None:
    settings, alias = lineage.settings, _new_alias()
    promote(settings, version=1, alias=alias, reason="start", actor=LEAD)
    made_up = AuprcEvidence(
        candidate_auprc=0.99, current_auprc=0.1, evaluation_name="x", rows=10, frauds=5
    )
    with pytest.raises(TypeError, match=r"core\.compare\.Evaluation"):
        promote(settings, version=2, alias=alias, reason="r", actor=LEAD, evaluation=made_up)  # type: ignore[arg-type]
    assert _alias(settings, alias) == 1


def test_the_training_file_as_evaluation_blocks_the_auprc_gate_as_leakage(
    lineage: Lineage, tiny_frame: pd.DataFrame, tmp_path: Path
) -> None:
    settings, alias = lineage.settings, _new_alias()
    promote(settings, version=1, alias=alias, reason="start", actor=LEAD)
    trained_on = tmp_path / "training.csv"
    tiny_frame.to_csv(trained_on, index=False)  # the file versions 1 and 3 were trained on
    rows = load_evaluation(settings, path=trained_on)
    with pytest.raises(GateFailed, match="auprc gate failed: evaluation data leaks") as refused:
        promote(settings, version=3, alias=alias, reason="r", actor=LEAD, evaluation=rows)
    assert f"of the {len(tiny_frame):,} rows of training.csv" in refused.value.results[0].detail
    # the CLI takes the file too, and refuses with exit 3
    cli = _invoke(
        settings, "promote", "--version", "3", "--alias", alias, "--reason", "r",
        "--evaluation", str(trained_on),
    )  # fmt: skip
    assert cli.exit_code == 3 and "evaluation data leaks" in _one_error(cli)
    alone = _invoke(
        settings, "promote", "--version", "3", "--alias", alias, "--reason", "r",
        "--sampling-fraction", "0.5",
    )  # fmt: skip
    assert alone.exit_code == 2 and "--evaluation" in _one_error(alone)
    assert _alias(settings, alias) == 1


def test_an_evaluation_file_with_a_sampling_fraction_is_weighted_in_core(
    lineage: Lineage, tmp_path: Path
) -> None:
    settings, alias = lineage.settings, _new_alias()
    promote(settings, version=1, alias=alias, reason="start", actor=LEAD)
    split = _test_split(settings, 1)
    held_out = tmp_path / "held_out.csv"
    split.to_csv(held_out, index=False)
    fraction = 0.05
    weights = np.where(split[LABEL].to_numpy() == 1, 1.0, 1.0 / fraction)
    expected = {
        v: average_precision_score(split[LABEL], _proba(settings, v, split), sample_weight=weights)
        for v in (1, 2)
    }
    cli = _invoke(
        settings, "promote", "--version", "2", "--alias", alias, "--reason", "shadow",
        "--evaluation", str(held_out), "--sampling-fraction", str(fraction), "--force",
    )  # fmt: skip
    assert cli.exit_code == 0, cli.output
    assert f"candidate {expected[2]:.4f} < current {expected[1]:.4f}" in cli.stdout
    assert "weighted to the natural prevalence" in cli.stdout


def test_the_default_gate_weights_with_the_current_versions_stored_sampling_fraction(
    lineage: Lineage,
) -> None:
    settings, alias = lineage.settings, _new_alias()
    current = _copy(settings, 1)  # its own version, so the tag touches no other test
    fraction = 0.2
    MlflowClient(str(settings.tracking_uri)).set_model_version_tag(
        settings.model_name, str(current), "sampling_fraction", str(fraction)
    )
    promote(settings, version=current, alias=alias, reason="start", actor=LEAD)
    split = _test_split(settings, current)
    labels = split[LABEL].to_numpy()
    weights = np.where(labels == 1, 1.0, 1.0 / fraction)
    good = average_precision_score(labels, _proba(settings, 1, split), sample_weight=weights)
    weak = average_precision_score(labels, _proba(settings, 2, split), sample_weight=weights)
    raw = average_precision_score(labels, _proba(settings, 1, split))
    assert f"{raw:.4f}" != f"{good:.4f}"  # the premise: weighting changes the figure
    move = promote(settings, version=2, alias=alias, reason="r", actor=LEAD, force=True)
    assert f"candidate {weak:.4f} < current {good:.4f}" in move.gates[0].detail
    assert "weighted to the natural prevalence" in move.gates[0].detail


def test_a_current_version_without_a_test_split_is_judged_on_the_candidates(
    lineage: Lineage, tiny_frame: pd.DataFrame
) -> None:
    settings, alias = lineage.settings, _new_alias()
    forest = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0, n_jobs=1)
    forest.fit(tiny_frame[list(FEATURES)], tiny_frame[LABEL])
    trust = ["sklearn.tree._tree.Tree"]
    elsewhere = log_elsewhere(
        settings,
        forest,
        input_example=tiny_frame[list(FEATURES)].head(5),
        skops_trusted_types=trust,
    )
    promote(settings, version=elsewhere, alias=alias, reason="no threshold", actor=LEAD, force=True)
    split = _test_split(settings, 1)
    candidate = average_precision_score(split[LABEL], _proba(settings, 1, split))
    current = average_precision_score(
        split[LABEL], forest.predict_proba(split[list(FEATURES)])[:, 1]
    )
    move = promote(settings, version=1, alias=alias, reason="r", actor=LEAD, force=True)
    detail = move.gates[0].detail
    assert f"candidate {candidate:.4f}" in detail and f"current {current:.4f}" in detail
    assert f"the current version {elsewhere} has no test split" in detail

    # a model that loads but has nothing to predict on is not called "does not load"
    bare = log_elsewhere(settings, forest, skops_trusted_types=trust)  # no input example
    with pytest.raises(GateFailed) as refused:
        promote(settings, version=bare, alias=alias, reason="r", actor=LEAD)
    auprc, loads = refused.value.results[0], refused.value.results[1]
    assert "loads, but has nothing to predict on" in loads.detail
    assert "does not load" not in auprc.detail and auprc.detail.startswith("candidate ")


# --------------------------------------------------------------------------- alias names


@pytest.mark.parametrize(
    "name", ["bad name!", "x/y", "v3", "V12", "", "latest", "Latest", "a" * 129]
)
def test_a_bad_alias_name_is_refused_before_anything_is_written(
    lineage: Lineage, name: str
) -> None:
    settings = lineage.settings
    before = len(_rows(settings))
    rule = "reserved by MLflow" if name.lower() in ("latest", "v3", "v12") else "1 to 128 letters"
    with pytest.raises(InputError, match=rule):
        promote(settings, version=1, alias=name, reason="r", actor=LEAD, force=True)
    with pytest.raises(InputError, match=rule):
        rollback(settings, alias=name, reason="r", actor=LEAD)
    with pytest.raises(InputError, match=rule):
        set_alias(settings, version=1, alias=name, actor=LEAD, reason="r", kind="promote")
    assert len(_rows(settings)) == before
    aliases = MlflowClient(str(settings.tracking_uri)).get_registered_model(settings.model_name)
    assert name not in aliases.aliases
    cli = _invoke(settings, "promote", "--version", "1", "--alias", name, "--reason", "r")
    assert cli.exit_code == 2 and rule in _one_error(cli)


def test_good_alias_names_pass_unchanged() -> None:
    for name in ("champion", "challenger_2", "shadow-A", "v", "v1x", "latest2", "a" * 128):
        assert check_alias_name(name) == name


def test_set_alias_needs_a_kind() -> None:
    with pytest.raises(TypeError, match="kind"):
        set_alias(Settings(home=Path("/nonexistent")), version=1, actor=LEAD, reason="r")  # type: ignore[call-arg]


# --------------------------------------------------------------------------- pending intents


def _pending(settings: Settings, **values: object) -> int:
    """Write a history row as a process that died would have left it."""
    event = AliasEvent(
        model_name=settings.model_name, actor="ghost", reason="died", status="pending", **values
    )
    with Session(get_engine(settings), expire_on_commit=False) as session, session.begin():
        session.add(event)
    return event.id


def _status(settings: Settings, event_id: int) -> str:
    with Session(get_engine(settings)) as session:
        return session.get(AliasEvent, event_id).status  # type: ignore[union-attr]


HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


def test_an_old_intent_is_not_blamed_for_a_move_made_later_in_mlflow(lineage: Lineage) -> None:
    settings, alias = lineage.settings, _new_alias()
    promote(settings, version=3, alias=alias, reason="start", actor=LEAD)
    dead = _pending(
        settings, alias=alias, from_version=3, to_version=1, kind="promote", created_at=HOUR_AGO
    )
    MlflowClient(str(settings.tracking_uri)).set_registered_model_alias(
        settings.model_name, alias, "1"
    )
    promote(settings, version=4, alias=alias, reason="next", actor=LEAD, expected=1)
    assert _status(settings, dead) == "abandoned"
    rows = [
        (r.kind, r.from_version, r.to_version, r.actor, r.status) for r in _rows(settings, alias)
    ]
    assert rows[-2:] == [
        ("external", 3, 1, EXTERNAL_ACTOR, "confirmed"),
        ("promote", 1, 4, "lead", "confirmed"),
    ]


def test_a_young_intent_the_registry_shows_done_is_confirmed(lineage: Lineage) -> None:
    settings, alias = lineage.settings, _new_alias()
    promote(settings, version=3, alias=alias, reason="start", actor=LEAD)
    died = _pending(settings, alias=alias, from_version=3, to_version=1, kind="promote")
    MlflowClient(str(settings.tracking_uri)).set_registered_model_alias(
        settings.model_name, alias, "1"
    )
    assert sync_alias_history(settings, alias=alias) == []  # without the lock: in flight
    assert _status(settings, died) == "pending"
    assert sync_alias_history(settings, alias=alias, settle_pending=True) == []
    assert _status(settings, died) == "confirmed"
    assert [r.kind for r in _rows(settings, alias)] == ["promote", "promote"]


def test_an_intent_whose_registry_call_never_happened_is_abandoned(lineage: Lineage) -> None:
    settings, alias = lineage.settings, _new_alias()
    promote(settings, version=1, alias=alias, reason="start", actor=LEAD)
    never = _pending(settings, alias=alias, from_version=1, to_version=3, kind="promote")
    older = _pending(settings, alias=alias, from_version=1, to_version=4, kind="promote")
    promote(settings, version=3, alias=alias, reason="now", actor=LEAD, expected=1)
    assert (_status(settings, never), _status(settings, older)) == ("abandoned", "abandoned")
    assert [r.kind for r in _rows(settings, alias) if r.status == "confirmed"] == [
        "promote",
        "promote",
    ]


def test_pending_threshold_rows_are_settled_from_the_tag(lineage: Lineage) -> None:
    settings = lineage.settings
    version = _copy(settings, 1)
    tag = _tag_threshold(settings, version)
    lost = _pending(settings, alias=None, to_version=version, kind="threshold", threshold=0.123)
    set_threshold(settings, version=version, value=0.3, reason="r", actor=LEAD)
    assert _status(settings, lost) == "abandoned"  # the tag never became 0.123
    assert tag != 0.123
    # a process died after writing the tag, before confirming: confirmed by the next change
    done = _pending(settings, alias=None, to_version=version, kind="threshold", threshold=0.3)
    old = _pending(
        settings, alias=None, to_version=version, kind="threshold", threshold=0.3,
        created_at=HOUR_AGO,
    )  # fmt: skip
    set_threshold(settings, version=version, value=0.4, reason="r", actor=LEAD)
    # ``old`` is the newest row but too old to be confirmed; ``done`` is not the newest
    assert (_status(settings, done), _status(settings, old)) == ("abandoned", "abandoned")
    young = _pending(settings, alias=None, to_version=version, kind="threshold", threshold=0.4)
    set_threshold(settings, version=version, value=0.5, reason="r", actor=LEAD)
    assert _status(settings, young) == "confirmed"


def test_the_external_record_path_keeps_one_row_per_dedupe_key(lineage: Lineage) -> None:
    settings, alias = lineage.settings, _new_alias()
    promote(settings, version=1, alias=alias, reason="start", actor=LEAD)
    with Session(get_engine(settings), expire_on_commit=False) as session:
        last = session.get(AliasEvent, _rows(settings, alias)[-1].id)
    first = _record_external(settings, alias, last, 3)
    second = _record_external(settings, alias, last, 3)
    assert first is not None and second is None
    external = [r for r in _rows(settings, alias) if r.kind == "external"]
    assert [(r.from_version, r.to_version) for r in external] == [(1, 3)]


# --------------------------------------------------------------------------- the lock


@pytest.mark.integration
def test_the_postgres_lock_outlives_an_idle_in_transaction_timeout(
    postgres_databases: dict[str, str], tmp_path: Path
) -> None:
    url = postgres_databases["app"]
    strict = f"{url}?options=-c%20idle_in_transaction_session_timeout%3D300"
    settings = Settings(home=tmp_path, database_url=strict, model_name="idle")
    other = create_engine(url)
    key = lock_key("idle", "champion")
    try:
        with registry_lock(settings, "idle", "champion"):
            time.sleep(1.5)  # the gates run: the lock's transaction is idle
            with other.connect() as connection:
                taken = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
                assert taken.scalar() is False  # still held
    finally:
        other.dispose()


# --------------------------------------------------------------------------- CSV export


def test_history_csv_defuses_formulas() -> None:
    def row(**values: str) -> HistoryRow:
        base = dict(
            id=1, time=datetime(2026, 1, 2, tzinfo=UTC), actor="ann", role="ml_lead",
            kind="promote", alias="champion", from_version=None, to_version=1,
            threshold=0.5, old_threshold=None, reason="fine", status="confirmed",
        )  # fmt: skip
        return HistoryRow(**{**base, **values})  # type: ignore[arg-type]

    rows = [
        row(reason='=HYPERLINK("http://x")', actor="+1", alias="-a"),
        row(reason="@SUM(A1)", actor="\tann", alias="\rb"),
        row(reason="ok = fine", actor="bob", alias="champion"),
    ]
    parsed = list(csv.DictReader(io.StringIO(history_csv(rows).decode(), newline="")))
    assert [(p["reason"], p["actor"], p["alias"]) for p in parsed] == [
        ('\'=HYPERLINK("http://x")', "'+1", "'-a"),
        ("'@SUM(A1)", "'\tann", "'\rb"),
        ("ok = fine", "bob", "champion"),
    ]
