"""Identities and roles: the role map, the defaults, and core refusing ML-lead actions."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from core.aliases import ensure_alias, set_alias
from core.artifacts import GLOBAL_ARTIFACT, get_global_explanation, load_global_explanation
from core.audit import adopt_spooled, replay_spool, retry_failed
from core.auth import (
    Action,
    Actor,
    Role,
    actor_for,
    cli_actor,
    is_loopback,
    parse_groups,
    parse_role_map,
    require,
)
from core.bootstrap import ensure_demo_model
from core.config import Settings, get_settings
from core.db import AliasEvent, ScoringEvent, get_engine
from core.errors import ConfigError, InputError, NotFoundError, PermissionDenied, RefusedError
from core.registry import get_alias_version, list_versions, load_model
from core.tracking import get_client, use_tracking
from core.training import train_from_csv, train_model
from tests.conftest import ANALYST, LEAD, Trained, settings_env

ROLES = "alice=ml_lead,bob=analyst,group:fraud-leads=ml_lead,group:fraud-team=analyst"


def _role(settings: Settings, name: str, groups: tuple[str, ...] = (), **kw: bool) -> Role:
    loopback = kw.get("loopback", False)
    return actor_for(settings, name=name, groups=groups, mode="t", loopback=loopback).role


# -- the role map -----------------------------------------------------------------------


def test_a_user_entry_beats_every_group_entry(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, auth="oidc", roles=ROLES)
    assert _role(settings, "bob", ("fraud-leads",)) is Role.ANALYST
    assert _role(settings, "alice", ("fraud-team",)) is Role.ML_LEAD


def test_among_several_groups_the_highest_role_wins(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, auth="oidc", roles=ROLES)
    assert _role(settings, "carol", ("fraud-team", "fraud-leads")) is Role.ML_LEAD
    assert _role(settings, "carol", ("fraud-leads", "fraud-team")) is Role.ML_LEAD
    assert _role(settings, "dave", ("fraud-team",)) is Role.ANALYST


def test_names_and_groups_match_case_insensitively(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, auth="oidc", roles=ROLES)
    assert _role(settings, "ALICE") is Role.ML_LEAD
    assert _role(settings, "erin", ("Fraud-Leads",)) is Role.ML_LEAD


@pytest.mark.parametrize(
    ("mode", "loopback", "expected"),
    [
        ("local", True, Role.ML_LEAD),
        ("local", False, Role.ANALYST),  # a local-mode server other machines can reach
        ("oidc", True, Role.ANALYST),
        ("header", True, Role.ANALYST),
    ],
)
def test_the_default_role_of_anyone_not_mapped(
    tmp_path: Path, mode: str, loopback: bool, expected: Role
) -> None:
    settings = Settings(home=tmp_path, auth=mode, roles=ROLES)
    assert _role(settings, "zoe", ("other-group",), loopback=loopback) is expected


def test_workbench_default_role_overrides_the_default(tmp_path: Path) -> None:
    assert _role(Settings(home=tmp_path, default_role="analyst"), "zoe", loopback=True) == (
        Role.ANALYST
    )
    assert _role(Settings(home=tmp_path, auth="oidc", default_role="ml_lead"), "zoe") == (
        Role.ML_LEAD
    )
    # a mapped user keeps their own role
    settings = Settings(home=tmp_path, default_role="ml_lead", roles=ROLES)
    assert _role(settings, "bob") is Role.ANALYST


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice", "'alice' is not 'user=role'"),
        ("=ml_lead", "'=ml_lead' is not 'user=role'"),
        ("group:=analyst", "'group:=analyst' is not"),
        ("alice=admin", "'alice=admin' names the role 'admin'; roles are: analyst, ml_lead"),
        ("alice=ml_lead,ALICE=analyst", "the user 'ALICE' is given two roles"),
        ("group:x=ml_lead,group:X=analyst", "the group 'X' is given two roles"),
    ],
)
def test_a_malformed_role_map_is_a_config_error_naming_the_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings(home=tmp_path, roles=text)


def test_the_role_map_parses_spaces_empty_entries_and_the_group_prefix() -> None:
    parsed = parse_role_map(" alice = ML_LEAD ,, Group:Leads=ml_lead, bob=analyst,")
    assert parsed.users == {"alice": Role.ML_LEAD, "bob": Role.ANALYST}
    assert parsed.groups == {"leads": Role.ML_LEAD}


def test_unknown_auth_mode_and_default_role_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WORKBENCH_AUTH='ldap': unknown mode; valid modes"):
        Settings(home=tmp_path, auth="ldap")
    with pytest.raises(ConfigError, match="WORKBENCH_DEFAULT_ROLE='root'"):
        Settings(home=tmp_path, default_role="root")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("", False),  # every interface
        (None, False),
        ("192.168.1.20", False),
        ("example.org", False),
    ],
)
def test_is_loopback(address: str | None, expected: bool) -> None:
    assert is_loopback(address) is expected


def test_groups_come_from_a_list_or_a_comma_separated_string() -> None:
    assert parse_groups(["a", " b ", ""]) == ("a", "b")
    assert parse_groups("a, b,,c") == ("a", "b", "c")
    assert parse_groups(None) == ()
    assert parse_groups(42) == ()


def test_an_empty_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no user name"):
        actor_for(Settings(home=tmp_path), name="  ", mode="t", loopback=True)


def test_permissions_by_role() -> None:
    for action in (Action.SCORE, Action.EXPLAIN, Action.VIEW, Action.RUN_DRIFT):
        require(ANALYST, action)
        require(LEAD, action)
    lead_only = [
        Action.TRAIN,
        Action.MOVE_ALIAS,
        Action.SET_THRESHOLD,
        Action.MANAGE_AUDIT,
        Action.STORE_ARTIFACTS,
        Action.MANAGE_API_KEYS,
    ]
    for action in lead_only:
        require(LEAD, action)
        with pytest.raises(
            PermissionDenied, match=re.escape(f"ann (role analyst) may not {action}:")
        ):
            require(ANALYST, action)
    assert issubclass(PermissionDenied, RefusedError)  # exit code 3 in every interface


# -- core refuses each ML-lead action for an analyst, and nothing is written -------------


def _run_count(settings: Settings) -> int:
    use_tracking(settings)
    experiment = mlflow.get_experiment_by_name(settings.experiment_name)
    if experiment is None:
        return 0
    return len(get_client(settings).search_runs([experiment.experiment_id]))


def test_an_analyst_cannot_train(tmp_path: Path, tiny_csv: Path, tiny_frame) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path / "home")
    with pytest.raises(PermissionDenied, match="may not train a model"):
        train_from_csv(tiny_csv, settings=settings, actor=ANALYST)
    with pytest.raises(PermissionDenied, match="may not train a model"):  # before reading
        train_from_csv(tmp_path / "no-such.csv", settings=settings, actor=ANALYST)
    with pytest.raises(PermissionDenied, match="may not train a model"):
        train_model(tiny_frame, settings=settings, data_sha256="0" * 64, actor=ANALYST)
    with pytest.raises(PermissionDenied, match="may not train a model"):
        ensure_demo_model(settings, rows=2_000, actor=ANALYST)
    assert _run_count(settings) == 0
    assert not (tmp_path / "home" / "demo").exists()  # refused before any demo data


def test_ensure_demo_model_lets_an_analyst_through_when_a_model_is_live(
    trained_embedded: Trained,
) -> None:
    assert ensure_demo_model(trained_embedded.settings, actor=ANALYST) is None


def _alias_rows(settings: Settings) -> int:
    with Session(get_engine(settings)) as session:
        return session.scalar(select(func.count()).select_from(AliasEvent)) or 0


def test_an_analyst_cannot_move_an_alias(trained: Trained) -> None:
    settings = trained.settings
    before_rows = _alias_rows(settings)
    with pytest.raises(PermissionDenied, match="may not promote or roll back"):
        set_alias(settings, version=1, alias="analyst-try", actor=ANALYST, reason="r")
    with pytest.raises(PermissionDenied, match="may not promote or roll back"):
        ensure_alias(settings.model_copy(update={"live_alias": "unset"}), version=1, actor=ANALYST)
    assert get_alias_version(settings, "analyst-try") is None
    assert _alias_rows(settings) == before_rows  # not even an intent row


def test_an_alias_move_records_the_real_person(trained: Trained) -> None:
    settings = trained.settings
    alice = Actor(name="alice@example.com", role=Role.ML_LEAD)
    set_alias(settings, version=1, alias="by-alice", actor=alice, reason="a test")
    with Session(get_engine(settings)) as session:
        row = session.scalars(
            select(AliasEvent).where(AliasEvent.alias == "by-alice", AliasEvent.to_version == 1)
        ).one()
    assert (row.actor, row.status) == ("alice@example.com", "confirmed")


def test_training_records_who_trained(trained_embedded: Trained) -> None:
    settings = trained_embedded.settings
    version = list_versions(settings)[0]
    run = get_client(settings).get_run(version.run_id)
    assert run.data.tags["mlflow.user"] == LEAD.name
    assert version.tags["trained_by"] == LEAD.name


def test_an_analyst_cannot_replay_or_retry_audit_records(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with pytest.raises(PermissionDenied, match="may not replay, retry or adopt audit records"):
        replay_spool(settings, actor=ANALYST)
    with pytest.raises(PermissionDenied, match="may not replay, retry or adopt audit records"):
        retry_failed(settings, actor=ANALYST)
    with pytest.raises(PermissionDenied, match="may not replay, retry or adopt audit records"):
        adopt_spooled(settings, untagged=True, actor=ANALYST)
    assert replay_spool(settings, actor=LEAD) == 0


def test_an_analyst_gets_a_computed_explanation_but_never_writes_into_the_run(
    tmp_path: Path, tiny_csv: Path
) -> None:
    settings = Settings(home=tmp_path)
    run_id = train_from_csv(tiny_csv, settings=settings, actor=LEAD).run_id
    model = load_model(settings, list_versions(settings)[0])
    stored = load_global_explanation(settings, run_id)
    # a version logged before explanations were stored: remove it from the finished run
    folder = Path(get_client(settings).get_run(run_id).info.artifact_uri.removeprefix("file://"))
    (folder / GLOBAL_ARTIFACT).unlink()

    explanation = get_global_explanation(settings, model, actor=ANALYST)
    assert explanation.importance().equals(stored.importance())
    with pytest.raises(NotFoundError):
        load_global_explanation(settings, run_id)  # computed for the analyst, not stored
    get_global_explanation(settings, model, actor=LEAD)
    assert load_global_explanation(settings, run_id).importance().equals(stored.importance())


# -- the command line --------------------------------------------------------------------

runner = CliRunner()


def _invoke(settings: Settings, *args: str, **env: str):  # type: ignore[no-untyped-def]
    get_settings.cache_clear()
    try:
        return runner.invoke(app, list(args), env={**settings_env(settings), **env})
    finally:
        get_settings.cache_clear()


def test_the_cli_actor_comes_from_actor_or_the_local_user(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, roles=ROLES, local_user="olivia")
    assert cli_actor(settings, "bob") == Actor(name="bob", role=Role.ANALYST, mode="cli")
    assert cli_actor(settings) == Actor(name="olivia", role=Role.ML_LEAD, mode="cli")
    oidc = Settings(home=tmp_path, roles=ROLES, auth="oidc", local_user="olivia")
    assert cli_actor(oidc).role is Role.ANALYST  # unmapped outside local mode


def test_cli_refuses_an_analyst_with_exit_3_and_one_line(tmp_path: Path, tiny_csv: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    for args in (["train", "--data", str(tiny_csv)], ["audit", "replay"], ["bootstrap"]):
        result = _invoke(settings, "--actor", "bob", *args, WORKBENCH_ROLES=ROLES)
        assert result.exit_code == 3, (args, result.output)
        assert result.stderr.startswith("error: bob (role analyst) may not "), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert _run_count(settings) == 0


def test_whoami_names_the_actor_and_role(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    result = _invoke(settings, "--actor", "Bob", "whoami", "--json", WORKBENCH_ROLES=ROLES)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith('{"name": "Bob", "role": "analyst", "may": [')
    env_actor = _invoke(settings, "whoami", WORKBENCH_ROLES=ROLES, WORKBENCH_ACTOR="alice")
    assert env_actor.stdout.startswith("alice, role ml_lead (WORKBENCH_AUTH=local)")


def test_a_cli_score_is_audited_under_the_actor(trained_embedded: Trained, tmp_path: Path) -> None:
    settings = trained_embedded.settings
    data = tmp_path / "in.csv"
    from core.data import generate_transactions

    generate_transactions(50, seed=3).drop(columns=["Class"]).to_csv(data, index=False)
    result = _invoke(
        settings, "--actor", "bob", "score", "--data", str(data), "--out", str(tmp_path / "o.csv")
    )
    assert result.exit_code == 0, result.output
    with Session(get_engine(settings)) as session:
        actors = session.scalars(
            select(ScoringEvent.actor).where(ScoringEvent.input_name == "in.csv")
        ).all()
    assert actors == ["bob"]


def test_a_malformed_role_map_stops_every_command_with_one_line(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    for args in (["whoami"], ["versions"], ["audit", "status"]):
        result = _invoke(settings, *args, WORKBENCH_ROLES="bob=boss")
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.strip() == (
            "error: WORKBENCH_ROLES: 'bob=boss' names the role 'boss'; roles are: analyst, ml_lead"
        )
