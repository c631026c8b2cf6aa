"""Promote through gates, roll back, change a threshold, and the history of it all.

The same tests on the three backends (``lineage`` is built once per backend). Expected
values come from outside the code under test: AUPRCs with scikit-learn on predictions of
the models loaded through plain MLflow, alias positions and tags read with MlflowClient,
history rows read from the table with SQLAlchemy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.metrics import average_precision_score
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from core.config import Settings, get_settings
from core.db import AliasEvent, get_engine
from core.errors import GateFailed, InputError, NotFoundError, PermissionDenied, StaleAliasError
from core.history import EXTERNAL_ACTOR, history_csv, list_alias_history, sync_alias_history
from core.lifecycle import promote, rollback, set_threshold
from core.schema import FEATURES
from core.scoring import resolve_model, score_record
from core.tracking import point_mlflow
from core.training import train_model
from tests.conftest import (
    ANALYST,
    BACKENDS,
    LEAD,
    REPO,
    _settings_for,
    analyst,
    logged_probability,
    settings_env,
)

runner = CliRunner()


@dataclass(frozen=True)
class Lineage:
    """A registered model with: 1 good (trained; champion), 2 weak (shuffled labels),
    3 and 4 copies of 1 (same artifacts, own version numbers and threshold tags)."""

    settings: Settings
    backend: str


def _copy(settings: Settings, version: int) -> int:
    client = MlflowClient(str(settings.tracking_uri))
    point_mlflow(settings)  # a models:/ source resolves through MLflow's global URI
    mv = client.get_model_version(settings.model_name, str(version))
    # a tracking server checks the source against model_id, which its answers leave out
    model_id = mv.model_id or mv.source.removeprefix("models:/")
    made = client.create_model_version(
        settings.model_name, mv.source, run_id=mv.run_id, tags=mv.tags, model_id=model_id
    )
    return int(made.version)


@pytest.fixture(scope="module", params=BACKENDS)
def lineage(request: pytest.FixtureRequest, tiny_frame: pd.DataFrame) -> Lineage:
    settings = _settings_for(request, request.param, f"life-{uuid.uuid4().hex[:8]}")
    train_model(tiny_frame, settings=settings, actor=LEAD, data_sha256="a" * 64)
    shuffled = np.random.default_rng(0).permutation(tiny_frame["Class"].to_numpy())
    weak = tiny_frame.assign(Class=shuffled)
    train_model(weak, settings=settings, actor=LEAD, data_sha256="b" * 64)
    assert (_copy(settings, 1), _copy(settings, 1)) == (3, 4)
    return Lineage(settings, request.param)


def _alias(settings: Settings, alias: str) -> int | None:
    """Where the registry says the alias points (plain MlflowClient)."""
    aliases = (
        MlflowClient(str(settings.tracking_uri)).get_registered_model(settings.model_name).aliases
    )
    return int(aliases[alias]) if alias in aliases else None


def _tag_threshold(settings: Settings, version: int) -> float:
    mv = MlflowClient(str(settings.tracking_uri)).get_model_version(
        settings.model_name, str(version)
    )
    return float(mv.tags["threshold"])


def _rows(settings: Settings, alias: str | None = None) -> list[AliasEvent]:
    """The history table's rows for the model (and alias), oldest first."""
    query = select(AliasEvent).where(AliasEvent.model_name == settings.model_name)
    if alias is not None:
        query = query.where(AliasEvent.alias == alias)
    with Session(get_engine(settings)) as session:
        return list(session.scalars(query.order_by(AliasEvent.id)).all())


def _auprc_by_hand(settings: Settings, *, version: int, rows_of: int) -> float:
    """AUPRC of ``version`` on the test split of ``rows_of``, with MLflow and sklearn only."""
    point_mlflow(settings)
    client = MlflowClient(str(settings.tracking_uri))
    run_id = client.get_model_version(settings.model_name, str(rows_of)).run_id
    test = pd.read_parquet(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="data/test.parquet")
    )
    proba = logged_probability(settings, version, test[list(FEATURES)].to_numpy(np.float64))
    return float(average_precision_score(test["Class"].to_numpy(), proba))


def _new_alias() -> str:
    return f"a-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------- promote


def test_a_promote_moves_the_alias_and_records_actor_role_threshold_and_gates(
    lineage: Lineage,
) -> None:
    settings, alias = lineage.settings, _new_alias()
    first = promote(settings, version=1, alias=alias, reason="first", actor=LEAD, expected=None)
    assert _alias(settings, alias) == 1
    assert [g.name for g in first.gates] == ["auprc", "loads", "signature", "threshold"]
    assert all(g.passed for g in first.gates)
    assert "points nowhere" in first.gates[0].detail  # nothing to compare with yet

    moved = promote(
        settings, version=3, alias=alias, reason="same model, new number", actor=LEAD, expected=1
    )
    assert _alias(settings, alias) == 3
    by_hand = _auprc_by_hand(settings, version=1, rows_of=1)  # 3 is a copy of 1
    assert f"candidate {by_hand:.4f} >= current {by_hand:.4f}" in moved.gates[0].detail
    rows = _rows(settings, alias)
    assert [(r.kind, r.from_version, r.to_version, r.actor, r.role, r.status) for r in rows] == [
        ("promote", None, 1, "lead", "ml_lead", "confirmed"),
        ("promote", 1, 3, "lead", "ml_lead", "confirmed"),
    ]
    assert rows[1].threshold == pytest.approx(_tag_threshold(settings, 3))
    assert rows[1].reason == "same model, new number" and rows[1].id == moved.event_id
    assert [(g["name"], g["passed"]) for g in rows[1].gates] == [
        ("auprc", True),
        ("loads", True),
        ("signature", True),
        ("threshold", True),
    ]


def test_a_worse_model_is_blocked_and_nothing_moves(lineage: Lineage) -> None:
    settings, alias = lineage.settings, _new_alias()
    promote(settings, version=1, alias=alias, reason="start", actor=LEAD)
    good = _auprc_by_hand(settings, version=1, rows_of=1)
    weak = _auprc_by_hand(settings, version=2, rows_of=1)
    assert weak < good - settings.promote_auprc_tolerance  # the premise, computed by hand
    before = len(_rows(settings))
    with pytest.raises(GateFailed, match="auprc gate failed") as refused:
        promote(settings, version=2, alias=alias, reason="try it", actor=LEAD, expected=1)
    auprc = refused.value.results[0]
    assert not auprc.passed
    assert f"candidate {weak:.4f} < current {good:.4f}" in auprc.detail
    assert _alias(settings, alias) == 1 and len(_rows(settings)) == before


def test_an_override_is_recorded_as_such_with_the_gates(lineage: Lineage) -> None:
    settings, alias = lineage.settings, _new_alias()
    promote(settings, version=1, alias=alias, reason="start", actor=LEAD)
    move = promote(
        settings,
        version=2,
        alias=alias,
        reason="shadow test of the weak one",
        actor=LEAD,
        expected=1,
        force=True,
    )
    assert (move.kind, _alias(settings, alias)) == ("override", 2)
    last = _rows(settings, alias)[-1]
    assert (last.kind, last.from_version, last.to_version) == ("override", 1, 2)
    assert {g["name"]: g["passed"] for g in last.gates} == {
        "auprc": False,
        "loads": True,
        "signature": True,
        "threshold": True,
    }
    assert last.reason == "shadow test of the weak one"


def test_a_stale_compare_and_set_fails_and_names_who_moved_it(lineage: Lineage) -> None:
    settings, alias = lineage.settings, _new_alias()
    promote(settings, version=1, alias=alias, reason="start", actor=lead_named("bob"))
    before = len(_rows(settings))
    with pytest.raises(StaleAliasError, match=r"is at version 1, not version 3 .*moved by bob"):
        promote(settings, version=4, alias=alias, reason="r", actor=LEAD, expected=3)
    with pytest.raises(StaleAliasError, match="not unset"):
        promote(settings, version=4, alias=alias, reason="r", actor=LEAD, expected=None)
    assert _alias(settings, alias) == 1 and len(_rows(settings)) == before
    # a move made directly in MLflow: the refusal says so (from the synced history)
    MlflowClient(str(settings.tracking_uri)).set_registered_model_alias(
        settings.model_name, alias, "3"
    )
    with pytest.raises(StaleAliasError, match=r"at version 3, not version 1.*outside the work"):
        promote(settings, version=4, alias=alias, reason="r", actor=LEAD, expected=1)
    assert _alias(settings, alias) == 3


def lead_named(name: str):  # type: ignore[no-untyped-def]
    from core.auth import Actor, Role

    return Actor(name=name, role=Role.ML_LEAD, mode="test")


# --------------------------------------------------------------------------- rollback


def test_rollback_goes_back_one_step_from_history_and_a_second_undoes_it(
    lineage: Lineage,
) -> None:
    settings, alias = lineage.settings, _new_alias()
    promote(settings, version=3, alias=alias, reason="one", actor=LEAD)
    promote(settings, version=1, alias=alias, reason="two", actor=LEAD, expected=3)
    back = rollback(settings, alias=alias, reason="1 misbehaves", actor=LEAD)
    assert (back.from_version, back.to_version, back.kind) == (1, 3, "rollback")  # not 1 - 1
    assert _alias(settings, alias) == 3
    again = rollback(settings, alias=alias, reason="undo the rollback", actor=LEAD)
    assert (again.from_version, again.to_version) == (3, 1) and _alias(settings, alias) == 1
    rows = _rows(settings, alias)
    assert [(r.kind, r.from_version, r.to_version) for r in rows] == [
        ("promote", None, 3),
        ("promote", 3, 1),
        ("rollback", 1, 3),
        ("rollback", 3, 1),
    ]
    assert rows[2].reason == "1 misbehaves" and rows[2].role == "ml_lead"


def test_rollback_refuses_without_history_from_unset_and_to_a_deleted_version(
    lineage: Lineage,
) -> None:
    settings, alias = lineage.settings, _new_alias()
    with pytest.raises(InputError, match="no history to roll back"):
        rollback(settings, alias=alias, reason="r", actor=LEAD)
    promote(settings, version=1, alias=alias, reason="r", actor=LEAD)
    with pytest.raises(InputError, match="was unset; a rollback would remove it"):
        rollback(settings, alias=alias, reason="r", actor=LEAD)
    gone = _copy(settings, 1)
    promote(settings, version=gone, alias=alias, reason="r", actor=LEAD)
    promote(settings, version=1, alias=alias, reason="r", actor=LEAD)
    client = MlflowClient(str(settings.tracking_uri))
    kept = client.get_model_version(settings.model_name, str(gone)).tags["threshold"]
    client.delete_model_version_tag(settings.model_name, str(gone), "threshold")
    with pytest.raises(GateFailed, match="threshold: no valid threshold"):
        rollback(settings, alias=alias, reason="r", actor=LEAD)
    client.set_model_version_tag(settings.model_name, str(gone), "threshold", kept)
    MlflowClient(str(settings.tracking_uri)).delete_model_version(settings.model_name, str(gone))
    with pytest.raises(NotFoundError, match=f"back to version {gone}: it no longer exists"):
        rollback(settings, alias=alias, reason="r", actor=LEAD)
    assert _alias(settings, alias) == 1


# --------------------------------------------------------------------------- roles


def test_an_analyst_is_refused_in_core_and_nothing_is_written(lineage: Lineage) -> None:
    settings, alias = lineage.settings, _new_alias()
    before = len(_rows(settings))
    threshold = _tag_threshold(settings, 1)
    with pytest.raises(PermissionDenied, match="may not promote or roll back"):
        promote(settings, version=1, alias=alias, reason="r", actor=ANALYST)
    with pytest.raises(PermissionDenied, match="may not promote or roll back"):
        rollback(settings, alias=settings.live_alias, reason="r", actor=ANALYST)
    with pytest.raises(PermissionDenied, match="may not change a decision threshold"):
        set_threshold(settings, version=1, value=0.5, reason="r", actor=ANALYST)
    assert len(_rows(settings)) == before and _alias(settings, alias) is None
    assert _tag_threshold(settings, 1) == threshold


def test_a_reason_is_required(lineage: Lineage) -> None:
    settings = lineage.settings
    for reason in ("", "   \n"):
        with pytest.raises(InputError, match="a reason is required"):
            promote(settings, version=1, alias=_new_alias(), reason=reason, actor=LEAD)
        with pytest.raises(InputError, match="a reason is required"):
            set_threshold(settings, version=1, value=0.5, reason=reason, actor=LEAD)


# --------------------------------------------------------------------------- thresholds


def test_a_threshold_change_alters_decisions_on_the_next_score(
    lineage: Lineage, tiny_frame: pd.DataFrame
) -> None:
    settings = lineage.settings
    original = _tag_threshold(settings, 3)
    choice = resolve_model(settings, version=3)  # resolved once, as the app keeps it
    row = tiny_frame[list(FEATURES)].iloc[[0]]
    p = float(logged_probability(settings, 3, row.to_numpy(dtype=np.float64))[0])
    try:
        for value, alert in ((p / 2, 1), ((1 + p) / 2, 0)):
            change = set_threshold(settings, version=3, value=value, reason="tune", actor=LEAD)
            assert _tag_threshold(settings, 3) == value
            scored = score_record(
                row.iloc[0].to_dict(),
                settings=settings,
                choice=choice,
                source_kind="ui",
                actor=analyst("t"),
            )
            assert (scored.decision, scored.threshold) == (alert, value)
            last = _rows(settings)[-1]
            assert (last.kind, last.alias, last.to_version, last.id) == (
                "threshold",
                None,
                3,
                change.event_id,
            )
            assert (last.threshold, last.status) == (value, "confirmed")
        assert last.old_threshold == p / 2  # the first change's value
    finally:
        set_threshold(settings, version=3, value=original, reason="restore", actor=LEAD)


@pytest.mark.parametrize("value", [0, 1, 1.5, -0.1, float("nan"), float("inf"), "abc", True])
def test_a_bad_threshold_is_refused_before_anything_is_written(value: object) -> None:
    settings = Settings(home=Path("/nonexistent-never-touched"))
    with pytest.raises(InputError, match="threshold"):
        set_threshold(settings, version=1, value=value, reason="r", actor=LEAD)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- two processes

_AT_ONCE = """
import sys, time
from pathlib import Path
from core.auth import Actor, Role
from core.config import Settings
from core.errors import StaleAliasError
from core.history import sync_alias_history
from core.lifecycle import promote
go, what, alias = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
settings = Settings()
print("ready", flush=True)
while not go.exists():  # every process starts at the same moment
    time.sleep(0.002)
if what == "sync":
    print(len(sync_alias_history(settings, alias=alias)), flush=True)
else:
    version = int(what)
    lead = Actor(name=f"p{version}", role=Role.ML_LEAD, mode="test")
    try:
        move = promote(settings, version=version, alias=alias, reason="race", actor=lead,
                       expected=1, force=True)
        print("moved", move.from_version, move.to_version, flush=True)
    except StaleAliasError:
        print("stale", flush=True)
"""


def _at_once(settings: Settings, tmp_path: Path, alias: str, whats: list[str]) -> list[str]:
    """Run ``_AT_ONCE`` in one process per item of ``whats``, released together."""
    go = tmp_path / f"go-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, **settings_env(settings), "PYTHONPATH": str(REPO)}
    started = [
        subprocess.Popen(
            [sys.executable, "-c", _AT_ONCE, str(go), what, alias],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for what in whats
    ]
    for process in started:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    go.touch()
    outputs = []
    for process in started:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
        outputs.append(out.strip())
    return outputs


@pytest.mark.timeout(600)
def test_concurrent_promotions_from_two_processes_keep_a_consistent_history(
    lineage: Lineage, tmp_path: Path
) -> None:
    """Both saw the alias at 1: one moves it, the other is refused as stale; the history
    is one chain (each move starts where the previous one ended)."""
    settings, alias = lineage.settings, _new_alias()
    promote(settings, version=1, alias=alias, reason="start", actor=LEAD)
    outcomes = _at_once(settings, tmp_path, alias, ["3", "4"])
    assert sorted(o.split()[0] for o in outcomes) == ["moved", "stale"], outcomes
    winner = int(next(o for o in outcomes if o.startswith("moved")).split()[2])
    assert _alias(settings, alias) == winner
    rows = [r for r in _rows(settings, alias) if r.status == "confirmed"]
    assert [(r.from_version, r.to_version) for r in rows] == [(None, 1), (1, winner)]
    assert [r.status for r in _rows(settings, alias)] == ["confirmed", "confirmed"]


@pytest.mark.timeout(600)
def test_a_move_made_in_mlflow_is_recorded_once_as_external_even_from_two_processes(
    lineage: Lineage, tmp_path: Path
) -> None:
    settings, alias = lineage.settings, _new_alias()
    promote(settings, version=1, alias=alias, reason="start", actor=LEAD)
    client = MlflowClient(str(settings.tracking_uri))
    for attempt, version in enumerate((3, 1)):  # a collision needs the timing: try twice
        client.set_registered_model_alias(settings.model_name, alias, str(version))
        counts = _at_once(settings, tmp_path, alias, ["sync", "sync"])
        assert sorted(counts) == ["0", "1"], counts
        external = [r for r in _rows(settings, alias) if r.kind == "external"]
        assert len(external) == attempt + 1
        last = external[-1]
        assert (last.actor, last.role, last.to_version) == (EXTERNAL_ACTOR, None, version)
        assert last.from_version == (1 if attempt == 0 else 3)
    assert sync_alias_history(settings, alias=alias) == []  # nothing new: in step


def test_the_dedupe_key_is_unique_in_the_database(lineage: Lineage) -> None:
    from sqlalchemy.exc import IntegrityError

    settings = lineage.settings
    model_name = f"dedupe-{uuid.uuid4().hex[:8]}"  # not the lineage's: its sync would see it

    def external(key: str) -> AliasEvent:
        return AliasEvent(
            model_name=model_name,
            alias="x",
            from_version=None,
            to_version=1,
            actor="a",
            reason="r",
            kind="external",
            dedupe_key=key,
        )

    key = uuid.uuid4().hex
    with Session(get_engine(settings)) as session, session.begin():
        session.add(external(key))
    with pytest.raises(IntegrityError), Session(get_engine(settings)) as session, session.begin():
        session.add(external(key))


# --------------------------------------------------------------------------- history


def test_history_lists_newest_first_filters_and_exports_csv(lineage: Lineage) -> None:
    settings, alias = lineage.settings, _new_alias()
    promote(settings, version=1, alias=alias, reason='a, with "quotes"', actor=LEAD)
    promote(settings, version=3, alias=alias, reason="b", actor=LEAD)
    rows = list_alias_history(settings, alias=alias)
    assert [(r.kind, r.from_version, r.to_version, r.reason) for r in rows] == [
        ("promote", 1, 3, "b"),
        ("promote", None, 1, 'a, with "quotes"'),
    ]
    assert [r.id for r in list_alias_history(settings, alias=alias, limit=1)] == [rows[0].id]
    parsed = pd.read_csv(pd.io.common.BytesIO(history_csv(rows)))
    assert list(parsed.columns) == [
        "time",
        "actor",
        "role",
        "kind",
        "alias",
        "from_version",
        "to_version",
        "threshold",
        "old_threshold",
        "reason",
        "gates",
        "status",
    ]
    assert parsed["reason"].tolist() == ["b", 'a, with "quotes"']
    assert parsed["to_version"].tolist() == [3, 1] and parsed["actor"].tolist() == ["lead"] * 2
    gates = json.loads(parsed["gates"][0])
    assert [g["name"] for g in gates] == ["auprc", "loads", "signature", "threshold"]
    with pytest.raises(InputError, match="limit"):
        list_alias_history(settings, limit=0)


def test_migration_0004_gives_existing_rows_their_kind(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from core.db import upgrade_database
    from core.db.engine import MIGRATIONS, VERSION_TABLE

    engine = create_engine(f"sqlite:///{tmp_path / 'at-0003.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["version_table"] = VERSION_TABLE
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
        for reason, source in (("first model: live alias was unset", None), ("why", 1)):
            connection.execute(
                text(
                    "INSERT INTO alias_events (created_at, model_name, alias, from_version,"
                    " to_version, actor, reason, status) VALUES ('2026-01-02 03:04:05', 'm',"
                    " 'champion', :source, 2, 'a', :reason, 'confirmed')"
                ),
                {"source": source, "reason": reason},
            )
    upgrade_database(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT kind, role, gates, dedupe_key FROM alias_events ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [("first", None, None, None), ("promote", None, None, None)]
    settings = Settings(
        home=tmp_path, database_url=f"sqlite:///{tmp_path / 'at-0003.db'}", model_name="m"
    )
    assert [r.kind for r in list_alias_history(settings)] == ["promote", "first"]
    engine.dispose()


# --------------------------------------------------------------------------- CLI


def _invoke(settings: Settings, *args: str):  # type: ignore[no-untyped-def]
    get_settings.cache_clear()
    try:
        return runner.invoke(app, list(args), env=settings_env(settings))
    finally:
        get_settings.cache_clear()


def _one_error(result) -> str:  # type: ignore[no-untyped-def]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    return errors[0]


@pytest.mark.parametrize("lineage", ["embedded"], indirect=True)
def test_cli_promote_rollback_threshold_history_and_their_exit_codes(
    lineage: Lineage, tmp_path: Path
) -> None:
    settings, alias = lineage.settings, _new_alias()
    done = _invoke(
        settings,
        "--actor",
        "cli-lead",
        "promote",
        "--version",
        "1",
        "--alias",
        alias,
        "--reason",
        "go",
        "--expected",
        "none",
    )
    assert done.exit_code == 0, done.output
    assert [line.split()[:2] for line in done.stdout.splitlines()[:4]] == [
        ["PASS", "auprc:"],
        ["PASS", "loads:"],
        ["PASS", "signature:"],
        ["PASS", "threshold:"],
    ]
    assert f"@{alias}: unset -> version 1 (promote" in done.stdout

    weak = _invoke(settings, "promote", "--version", "2", "--alias", alias, "--reason", "r")
    assert weak.exit_code == 3 and "FAIL auprc:" in weak.stdout
    assert "auprc gate failed" in _one_error(weak) and _alias(settings, alias) == 1

    stale = _invoke(
        settings, "promote", "--version", "3", "--alias", alias, "--reason", "r", "--expected", "4"
    )
    assert stale.exit_code == 3 and "moved by cli-lead" in _one_error(stale)
    bad = _invoke(
        settings,
        "promote",
        "--version",
        "3",
        "--alias",
        alias,
        "--reason",
        "r",
        "--expected",
        "four",
    )
    assert bad.exit_code == 2 and "--expected 'four'" in _one_error(bad)
    empty = _invoke(settings, "promote", "--version", "3", "--alias", alias, "--reason", " ")
    assert empty.exit_code == 2 and "a reason is required" in _one_error(empty)
    missing = _invoke(settings, "promote", "--version", "99", "--alias", alias, "--reason", "r")
    assert missing.exit_code == 2 and "version 99" in _one_error(missing)

    forced = _invoke(
        settings, "promote", "--version", "2", "--alias", alias, "--reason", "shadow", "--force"
    )
    assert forced.exit_code == 0 and "(override" in forced.stdout and "FAIL auprc" in forced.stdout
    back = _invoke(settings, "rollback", "--alias", alias, "--reason", "too weak")
    assert back.exit_code == 0 and f"@{alias}: version 2 -> version 1 (rollback" in back.stdout
    assert _alias(settings, alias) == 1
    none = _invoke(settings, "rollback", "--alias", _new_alias(), "--reason", "r")
    assert none.exit_code == 2 and "no history to roll back" in _one_error(none)

    old = _tag_threshold(settings, 4)
    changed = _invoke(settings, "threshold", "--version", "4", "--value", "0.25", "--reason", "r")
    assert changed.exit_code == 0 and f"threshold {old:.4f} -> 0.2500" in changed.stdout
    assert _tag_threshold(settings, 4) == 0.25
    wrong = _invoke(settings, "threshold", "--version", "4", "--value", "1", "--reason", "r")
    assert wrong.exit_code == 2 and "strictly between 0 and 1" in _one_error(wrong)

    listed = _invoke(settings, "history", "--alias", alias, "--json")
    assert listed.exit_code == 0
    kinds = [(r["kind"], r["from_version"], r["to_version"]) for r in json.loads(listed.stdout)]
    assert kinds == [("rollback", 2, 1), ("override", 1, 2), ("promote", None, 1)]
    out = tmp_path / "history.csv"
    exported = _invoke(settings, "history", "--csv", str(out))
    assert exported.exit_code == 0 and "threshold of v4" in exported.stdout
    written = pd.read_csv(out)
    assert ((written.kind == "threshold") & (written.to_version == 4)).sum() == 1
    nowhere = _invoke(settings, "history", "--csv", str(tmp_path / "no" / "h.csv"))
    assert nowhere.exit_code == 2 and "does not exist" in _one_error(nowhere)


@pytest.mark.parametrize("lineage", ["embedded"], indirect=True)
def test_cli_refuses_an_analyst_with_exit_3(lineage: Lineage, monkeypatch: pytest.MonkeyPatch):
    settings = lineage.settings
    env = {**settings_env(settings), "WORKBENCH_ROLES": "ann=analyst"}
    for args in (
        ["promote", "--version", "1", "--alias", _new_alias(), "--reason", "r"],
        ["rollback", "--alias", settings.live_alias, "--reason", "r"],
        ["threshold", "--version", "1", "--value", "0.5", "--reason", "r"],
    ):
        get_settings.cache_clear()
        result = runner.invoke(app, ["--actor", "ann", *args], env=env)
        get_settings.cache_clear()
        assert result.exit_code == 3, result.output
        assert "ann (role analyst) may not" in _one_error(result)
