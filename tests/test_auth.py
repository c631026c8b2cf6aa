"""Identities and roles: the role map, the defaults, and core refusing ML-lead actions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from core.aliases import ensure_alias, set_alias
from core.artifacts import (
    GLOBAL_ARTIFACT,
    get_global_explanation,
    load_global_explanation,
    log_global_explanation,
)
from core.audit import (
    ScoringEventRecord,
    adopt_spooled,
    count_predictions,
    log_scoring,
    make_predictions_table,
    replay_spool,
    retry_failed,
    spool_status,
)
from core.auth import (
    Action,
    Actor,
    Role,
    check_name,
    name_key,
    parse_groups,
    parse_role_map,
    require,
)
from core.bootstrap import ensure_demo_model
from core.config import Settings, get_settings
from core.db import AliasEvent, ScoringEvent, get_engine
from core.db.engine import dispose_engines
from core.errors import ConfigError, InputError, NotFoundError, PermissionDenied, RefusedError
from core.identity import actor_for, cli_actor, header_actor, is_loopback, oidc_actor
from core.registry import get_alias_version, list_versions, load_model
from core.tracking import get_client, use_tracking
from core.training import train_from_csv, train_model
from tests.conftest import ANALYST, LEAD, Trained, settings_env, write_old_spool_file

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


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("  ", "the user name is empty"),
        ("bob\nINFO fake", "holds control or format characters"),
        ("bob\u200b", "holds control or format characters"),  # zero-width space
        (["alice@example.com"], "the user name is not text \\(list\\)"),
    ],
)
def test_an_unusable_name_is_refused(tmp_path: Path, name: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        actor_for(Settings(home=tmp_path), name=name, mode="t", loopback=True)


def test_only_ascii_letters_match_case_insensitively(tmp_path: Path) -> None:
    # Unicode case folding would give the Kelvin sign's account Kate's role, and 'ß' 'ss''s
    settings = Settings(home=tmp_path, auth="header", roles="kate=ml_lead,group:strasse=ml_lead")
    assert _role(settings, "KATE") is Role.ML_LEAD
    assert _role(settings, "\u212aate") is Role.ANALYST
    assert _role(settings, "x", ("STRASSE",)) is Role.ML_LEAD
    assert _role(settings, "x", ("straße",)) is Role.ANALYST
    assert name_key(" Ab\u212a ") == "ab\u212a"
    assert check_name(" bob ") == "bob"


def test_an_empty_local_user_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WORKBENCH_LOCAL_USER: the user name is empty"):
        Settings(home=tmp_path, local_user=" ")


# -- identities from a sign-in ------------------------------------------------------------


def test_oidc_names_the_user_by_the_configured_claim_else_sub(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, auth="oidc", roles=ROLES)
    claims = {"sub": "u-1", "email": "alice", "preferred_username": "al", "groups": ["x"]}
    assert oidc_actor(settings, claims) == Actor("alice", Role.ML_LEAD, "oidc", ("x",))
    by_username = settings.model_copy(update={"oidc_user_claim": "preferred_username"})
    assert oidc_actor(by_username, claims).name == "al"
    assert oidc_actor(settings, {"sub": "u-2"}) == Actor("u-2", Role.ANALYST, "oidc")


def test_oidc_refuses_an_unverified_email_and_an_odd_claim(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, auth="oidc", roles=ROLES)
    with pytest.raises(InputError, match="the e-mail 'alice' is not verified"):
        oidc_actor(settings, {"sub": "u", "email": "alice", "email_verified": False})
    assert oidc_actor(settings, {"sub": "u", "email": "alice", "email_verified": True}).role == (
        Role.ML_LEAD
    )
    with pytest.raises(InputError, match="not text"):
        oidc_actor(settings, {"sub": "u", "email": ["alice"]})


def _headers(**values: list[str]):  # type: ignore[no-untyped-def]
    # what st.context.headers.get_all returns: every value of a header, case-insensitively
    lowered = {k.lower().replace("_", "-"): v for k, v in values.items()}
    return lambda name: lowered.get(name.lower(), [])


def test_header_mode_reads_the_user_and_only_a_configured_groups_header(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, auth="header", roles=ROLES)
    headers = _headers(x_forwarded_user=["carol"], x_forwarded_groups=["fraud-leads"])
    # the groups header is off by default: a client could send it through a proxy that
    # sets only the user header
    assert header_actor(settings, headers) == Actor("carol", Role.ANALYST, "header")
    with_groups = settings.model_copy(update={"auth_groups_header": "X-Forwarded-Groups"})
    assert header_actor(with_groups, headers).role is Role.ML_LEAD
    assert header_actor(settings, _headers()) is None


def test_header_mode_refuses_a_header_sent_twice(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, auth="header", roles=ROLES, auth_groups_header="X-Forwarded-Groups"
    )
    with pytest.raises(InputError, match="the X-Forwarded-User header arrived 2 times"):
        header_actor(settings, _headers(x_forwarded_user=["mallory", "alice"]))
    with pytest.raises(InputError, match="the X-Forwarded-Groups header arrived 2 times"):
        header_actor(
            settings,
            _headers(x_forwarded_user=["bob"], x_forwarded_groups=["a", "fraud-leads"]),
        )


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
        set_alias(
            settings, version=1, alias="analyst-try", actor=ANALYST, reason="r", kind="promote"
        )
    with pytest.raises(PermissionDenied, match="may not promote or roll back"):
        ensure_alias(settings.model_copy(update={"live_alias": "unset"}), version=1, actor=ANALYST)
    assert get_alias_version(settings, "analyst-try") is None
    assert _alias_rows(settings) == before_rows  # not even an intent row


def test_an_alias_move_records_the_real_person(trained: Trained) -> None:
    settings = trained.settings
    alice = Actor(name="alice@example.com", role=Role.ML_LEAD)
    set_alias(settings, version=1, alias="by-alice", actor=alice, reason="a test", kind="promote")
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


def _one_row() -> pa.Table:
    return make_predictions_table(
        row_number=None,
        transaction_id=None,
        features=np.zeros((1, 30)),
        probability=np.zeros(1),
        decision=np.zeros(1),
    )


def test_an_analyst_cannot_replay_retry_or_adopt_and_nothing_moves(tmp_path: Path) -> None:
    blocker = tmp_path / "db"
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{blocker / 'w.db'}")
    event = ScoringEventRecord("ui", "t", "m", 1, None, 0.5, 1, 1, 0, 0)
    bad = _one_row().set_column(2, "input_hash", pa.nulls(1, pa.string()))
    assert log_scoring(settings, event, bad).stored == "set_aside"  # refused for content
    dispose_engines()
    blocker.rename(tmp_path / "db-away")
    blocker.write_text("a file where the database folder should be: unreachable")
    waiting = ScoringEventRecord("ui", "t", "m", 1, None, 0.5, 1, 1, 0, 0)
    assert log_scoring(settings, waiting, _one_row()).stored == "spool"
    blocker.unlink()
    (tmp_path / "db-away").rename(blocker)
    dispose_engines()
    write_old_spool_file(
        settings, ScoringEventRecord("ui", "t", "m", 1, None, 0.5, 1, 1, 0, 0), _one_row()
    )
    before = spool_status(settings)
    assert (len(before.waiting), len(before.set_aside), len(before.other_database)) == (1, 1, 1)
    for action in (
        lambda: replay_spool(settings, actor=ANALYST),
        lambda: retry_failed(settings, actor=ANALYST),
        lambda: adopt_spooled(settings, untagged=True, actor=ANALYST),
    ):
        with pytest.raises(PermissionDenied, match="may not replay, retry or adopt audit records"):
            action()
    after = spool_status(settings)
    assert (len(after.waiting), len(after.set_aside), len(after.other_database)) == (1, 1, 1)
    assert count_predictions(settings, waiting.event_uid) == 0
    assert replay_spool(settings, actor=LEAD) == 1  # the same records, for an ML lead


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

    with pytest.raises(PermissionDenied, match="may not store artifacts into a finished"):
        log_global_explanation(settings, run_id, stored, actor=ANALYST)
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
    with pytest.raises(InputError, match="the user name is empty"):
        cli_actor(settings, "")  # an empty --actor is refused, not the local user


def test_bootstrap_if_allowed_skips_training_for_an_analyst_and_exits_0(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    result = _invoke(settings, "bootstrap", "--if-allowed", WORKBENCH_AUTH="oidc")
    assert result.exit_code == 0, result.output
    assert "may not train, so no demo model is trained" in result.stderr
    assert _run_count(settings) == 0


def test_actor_after_the_command_gets_a_hint(tmp_path: Path) -> None:
    result = _invoke(Settings(home=tmp_path), "whoami", "--actor", "bob")
    assert result.exit_code == 2
    assert "--actor goes before the command: workbench --actor NAME COMMAND" in result.stderr


def test_cli_refuses_an_analyst_with_exit_3_and_one_line(tmp_path: Path, tiny_csv: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    refused = (
        ["train", "--data", str(tiny_csv)],
        ["audit", "replay"],
        ["audit", "retry-failed"],
        ["audit", "adopt", "--untagged", "--yes"],
        ["bootstrap"],
    )
    for args in refused:
        result = _invoke(settings, "--actor", "bob", *args, WORKBENCH_ROLES=ROLES)
        assert result.exit_code == 3, (args, result.output)
        assert result.stderr.startswith("error: bob (role analyst) may not "), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert _run_count(settings) == 0


def test_whoami_names_the_actor_and_role(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    result = _invoke(settings, "--actor", "Bob", "whoami", "--json", WORKBENCH_ROLES=ROLES)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "name": "Bob",
        "role": "analyst",
        "mode": "local",
        "may": ["explain scores", "run drift reports", "score transactions", "view pages"],
    }
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


def test_audit_adopt_takes_one_kind_of_record(tmp_path: Path) -> None:
    result = _invoke(
        Settings(home=tmp_path), "audit", "adopt", "--untagged", "--from-database", "x"
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: name one kind of record to adopt: --untagged or --from-database ID, not both"
    )
