"""API keys: made, listed and revoked by ML leads; checked in memory; stored as hashes only."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, select
from typer.testing import CliRunner

from cli.main import app
from core.apikeys import (
    ApiKeyCache,
    NewApiKey,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)
from core.config import Settings, get_settings
from core.db import get_engine
from core.errors import BackendError, InputError, NotFoundError, PermissionDenied
from tests.conftest import ANALYST, LEAD, PG_ADMIN_URL, settings_env, unavailable

# Written out here, not imported: the key text the issue asks for.
KEY_TEXT = re.compile(r"fwb_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")

runner = CliRunner()


def _name(what: str = "key") -> str:
    """A name no other test uses (the embedded app database is shared by the session)."""
    return f"{what}-{uuid.uuid4().hex[:8]}"


def _secret(made: NewApiKey) -> str:
    match = KEY_TEXT.fullmatch(made.key)
    assert match is not None, made.key
    return match.group(2)


def _loaded(settings: Settings) -> ApiKeyCache:
    cache = ApiKeyCache(settings)
    cache.refresh()
    return cache


# --------------------------------------------------------------------------- core


def test_a_new_key_authenticates_with_its_name_and_scopes(backend_settings: Settings) -> None:
    name = _name()
    admin = create_api_key(backend_settings, name=name, scopes=("admin",), actor=LEAD)
    scorer = create_api_key(backend_settings, name=_name(), actor=LEAD)
    match = KEY_TEXT.fullmatch(admin.key)
    assert match is not None and match.group(1) == admin.info.key_id
    assert admin.key not in repr(admin)  # a logged object does not leak the key

    cache = ApiKeyCache(backend_settings)
    assert cache.loaded_at is None and cache.authenticate(admin.key) is None
    cache.refresh()
    assert cache.loaded_at is not None
    found = cache.authenticate(admin.key)
    assert found is not None
    assert (found.name, found.key_id, found.scopes) == (name, admin.info.key_id, ("admin",))
    assert found.created_by == LEAD.name and found.revoked_at is None
    assert found.allows("admin") and found.allows("score")  # admin implies score
    plain = cache.authenticate(scorer.key)
    assert plain is not None and plain.scopes == ("score",)
    assert plain.allows("score") and not plain.allows("admin")


def test_wrong_keys_are_refused(backend_settings: Settings) -> None:
    one = create_api_key(backend_settings, name=_name(), actor=LEAD)
    other = create_api_key(backend_settings, name=_name(), actor=LEAD)
    cache = _loaded(backend_settings)
    assert cache.authenticate(one.key) is not None
    secret = _secret(one)
    changed = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    wrong = [
        f"fwb_{one.info.key_id}_{changed}",  # one character of the secret changed
        f"fwb_{other.info.key_id}_{secret}",  # another key's id with this secret
        f"fwb_{one.info.key_id}_{_secret(other)}",  # this id with another key's secret
        f"fwb_{one.info.key_id}_{secret}x",  # one character more
        one.key.upper(),
        f"Bearer {one.key}",  # the header's value, not the key
        one.key + "\n",
        one.key[:-1] + "é",
        one.key[:-1] + "\udc80",  # a lone surrogate: cannot even be encoded
        "fwb_00000000_" + secret,
        "not-a-key",
        "",
        None,
    ]
    for token in wrong:
        assert cache.authenticate(token) is None, token


def test_the_database_holds_the_hash_and_never_the_key(backend_settings: Settings) -> None:
    made = create_api_key(backend_settings, name=_name(), actor=LEAD)
    engine = get_engine(backend_settings)
    table = Table("api_keys", MetaData(), autoload_with=engine)  # read as stored
    with engine.connect() as connection:
        row = connection.execute(select(table).where(table.c.key_id == made.info.key_id)).one()
    secret = _secret(made)
    for column, value in row._mapping.items():
        assert secret not in str(value), column
        assert made.key not in str(value), column
    assert row.key_hash == hashlib.sha256(made.key.encode()).hexdigest()


def test_a_revoked_key_is_refused_after_the_next_refresh(backend_settings: Settings) -> None:
    name = _name()
    made = create_api_key(backend_settings, name=name, actor=LEAD)
    cache = _loaded(backend_settings)
    revoked = revoke_api_key(backend_settings, name_or_id=name, actor=LEAD)
    assert revoked.key_id == made.info.key_id and revoked.revoked_by == LEAD.name
    assert revoked.revoked_at is not None
    # the cache answers from memory until its next refresh: the sidecar refreshes it
    # every WORKBENCH_API_KEY_REFRESH seconds
    assert cache.authenticate(made.key) is not None
    cache.refresh()
    assert cache.authenticate(made.key) is None

    listed = {k.key_id: k for k in list_api_keys(backend_settings, actor=LEAD)}
    assert listed[made.info.key_id].revoked_by == LEAD.name
    active = list_api_keys(backend_settings, actor=LEAD, include_revoked=False)
    assert made.info.key_id not in {k.key_id for k in active}


def test_a_name_is_unique_among_active_keys_only(backend_settings: Settings) -> None:
    name = _name()
    first = create_api_key(backend_settings, name=name, actor=LEAD)
    with pytest.raises(InputError, match=f"an active API key named '{name}' exists; revoke it"):
        create_api_key(backend_settings, name=name, scopes=("admin",), actor=LEAD)
    revoke_api_key(backend_settings, name_or_id=name, actor=LEAD)
    second = create_api_key(backend_settings, name=name, actor=LEAD)  # a revoked name is free
    assert second.info.key_id != first.info.key_id

    mine = [k for k in list_api_keys(backend_settings, actor=LEAD) if k.name == name]
    assert [(k.key_id, k.revoked_at is None) for k in mine] == [
        (first.info.key_id, False),
        (second.info.key_id, True),
    ]
    # revoking by key id; then neither the name nor the id finds an active key
    revoke_api_key(backend_settings, name_or_id=second.info.key_id, actor=LEAD)
    with pytest.raises(NotFoundError, match=f"'{name}'.*revoked already"):
        revoke_api_key(backend_settings, name_or_id=name, actor=LEAD)
    with pytest.raises(NotFoundError, match=second.info.key_id):
        revoke_api_key(backend_settings, name_or_id=second.info.key_id, actor=LEAD)
    missing = _name("never-made")
    with pytest.raises(NotFoundError, match=f"no API key is named '{missing}'"):
        revoke_api_key(backend_settings, name_or_id=missing, actor=LEAD)


def test_a_key_id_already_taken_is_drawn_again(
    backend_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = create_api_key(backend_settings, name=_name(), actor=LEAD).info.key_id
    fresh = secrets.token_hex(4)
    draws = iter([taken, taken, fresh])  # the random source, not our code, is replaced
    monkeypatch.setattr(secrets, "token_hex", lambda _n: next(draws))
    made = create_api_key(backend_settings, name=_name(), actor=LEAD)
    assert made.info.key_id == fresh and made.key.startswith(f"fwb_{fresh}_")
    monkeypatch.undo()
    assert _loaded(backend_settings).authenticate(made.key) is not None


def test_a_key_id_wins_over_a_name_that_looks_like_one(backend_settings: Settings) -> None:
    target = create_api_key(backend_settings, name=_name(), actor=LEAD)
    lookalike = create_api_key(backend_settings, name=target.info.key_id, actor=LEAD)
    revoked = revoke_api_key(backend_settings, name_or_id=target.info.key_id, actor=LEAD)
    assert revoked.key_id == target.info.key_id
    cache = _loaded(backend_settings)
    assert cache.authenticate(target.key) is None
    assert cache.authenticate(lookalike.key) is not None


def test_only_an_ml_lead_manages_keys(backend_settings: Settings) -> None:
    name = _name()
    made = create_api_key(backend_settings, name=name, actor=LEAD)
    refused = "ann \\(role analyst\\) may not manage API keys"
    with pytest.raises(PermissionDenied, match=refused):
        create_api_key(backend_settings, name=_name(), actor=ANALYST)
    with pytest.raises(PermissionDenied, match=refused):
        list_api_keys(backend_settings, actor=ANALYST)
    with pytest.raises(PermissionDenied, match=refused):
        revoke_api_key(backend_settings, name_or_id=name, actor=ANALYST)
    assert ANALYST.name not in {k.created_by for k in list_api_keys(backend_settings, actor=LEAD)}
    assert _loaded(backend_settings).authenticate(made.key) is not None  # not revoked


def test_bad_names_and_scopes_are_refused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    for scopes, message in [
        (
            ("score", "bogus"),
            "unknown API key scope\\(s\\): 'bogus'; valid scopes are: score, admin",
        ),
        ((), "needs at least one scope"),
    ]:
        with pytest.raises(InputError, match=message):
            create_api_key(settings, name=_name(), scopes=scopes, actor=LEAD)
    for name, message in [
        ("  ", "API key name is empty"),
        ("a\x00b", "control or format characters"),
        ("n" * 129, "129 characters long; at most 128"),
    ]:
        with pytest.raises(InputError, match=message):
            create_api_key(settings, name=name, actor=LEAD)
    assert list_api_keys(settings, actor=LEAD) == []
    made = create_api_key(settings, name="n" * 128, scopes=(" Admin", "score"), actor=LEAD)
    assert made.info.scopes == ("score", "admin")


# --------------------------------------------------------------------------- database down


@dataclass(frozen=True)
class Outage:
    """An app database of a test's own, and how to take it down and bring it back."""

    settings: Settings
    down: Callable[[], None]
    up: Callable[[], None]


def _sqlite_outage(tmp_path: Path) -> Iterator[Outage]:
    """An app database on SQLite whose folder is moved away (and back)."""
    folder = tmp_path / "db"
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{folder}/app.db")

    def down() -> None:
        get_engine(settings).dispose()  # close the open connections: the next one fails
        folder.rename(tmp_path / "db-away")

    def up() -> None:
        (tmp_path / "db-away").rename(folder)

    yield Outage(settings, down, up)


def _postgres_outage(tmp_path: Path) -> Iterator[Outage]:
    """A database of its own on the local PostgreSQL that stops taking connections."""
    import psycopg2

    try:
        admin = psycopg2.connect(PG_ADMIN_URL, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        unavailable(f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}".strip())
    admin.autocommit = True
    name = f"wb_test_keys_{uuid.uuid4().hex[:8]}"
    server = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    url = f"postgresql+psycopg2://{server}/{name}"
    settings = Settings(home=tmp_path / "home", database_url=url)

    def down() -> None:
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )

    def up() -> None:
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Outage(settings, down, up)
    finally:
        get_engine(settings, upgrade=False).dispose()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


OUTAGES = {"sqlite-moved-away": _sqlite_outage, "postgresql-refusing": _postgres_outage}


@pytest.fixture(
    params=[
        "sqlite-moved-away",
        pytest.param("postgresql-refusing", marks=pytest.mark.integration),
    ]
)
def outage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outage]:
    yield from OUTAGES[request.param](tmp_path)


def test_with_the_database_down_the_last_good_keys_stay_in_use(outage: Outage) -> None:
    settings = outage.settings
    made = create_api_key(settings, name=_name(), actor=LEAD)
    cache = _loaded(settings)
    loaded = cache.loaded_at
    outage.down()
    with pytest.raises(BackendError, match=r"loading the API keys: app database .* failed"):
        cache.refresh()
    assert cache.loaded_at == loaded
    # authenticate never touches the database: it answers while the database is down,
    # in microseconds (about 2 us measured; 100 us allowed for a loaded machine)
    found = cache.authenticate(made.key)
    assert found is not None and found.key_id == made.info.key_id
    started = time.perf_counter()
    for _ in range(10_000):
        cache.authenticate(made.key)
    assert time.perf_counter() - started < 1.0
    with pytest.raises(BackendError):
        list_api_keys(settings, actor=LEAD)
    outage.up()
    cache.refresh()
    assert cache.loaded_at is not None and loaded is not None and cache.loaded_at > loaded
    assert cache.authenticate(made.key) is not None


# --------------------------------------------------------------------------- command line


def _invoke(settings: Settings, *args: str, **env: str):  # type: ignore[no-untyped-def]
    get_settings.cache_clear()
    try:
        return runner.invoke(app, list(args), env={**settings_env(settings), **env})
    finally:
        get_settings.cache_clear()


def _one_error(result) -> str:  # type: ignore[no-untyped-def]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    return errors[0]


def test_cli_creates_lists_and_revokes_keys(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    created = _invoke(
        settings, "--actor", "cli-lead", "api-key", "create", "queue", "--scope", "admin"
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert KEY_TEXT.fullmatch(key), created.stdout  # the key alone on stdout, once
    assert "not shown again" in created.stderr and "Authorization: Bearer" in created.stderr
    found = _loaded(settings).authenticate(key)
    assert found is not None and found.name == "queue" and found.scopes == ("admin",)

    as_json = _invoke(settings, "--actor", "cli-lead", "api-key", "create", "batch", "--json")
    assert as_json.exit_code == 0, as_json.output
    record = json.loads(as_json.stdout)
    assert set(record) == {"key", "key_id", "name", "scopes"}
    assert KEY_TEXT.fullmatch(record["key"]) and record["key"][4:12] == record["key_id"]
    assert (record["name"], record["scopes"]) == ("batch", ["score"])

    listed = _invoke(settings, "api-key", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KEY", "ID", "SCOPES", "CREATED", "BY", "REVOKED"]
    assert lines[1].split()[:3] == ["queue", key[4:12], "admin"] and "cli-lead" in lines[1]
    assert lines[2].split()[:3] == ["batch", record["key_id"], "score"]
    stored_hash = hashlib.sha256(key.encode()).hexdigest()
    for secret in (key, key[13:], record["key"][13:], stored_hash):
        assert secret not in listed.stdout
    listed_json = json.loads(_invoke(settings, "api-key", "list", "--json").stdout)
    assert [k["name"] for k in listed_json] == ["queue", "batch"]
    assert all("key" not in k and "key_hash" not in k for k in listed_json)

    revoked = _invoke(settings, "api-key", "revoke", "queue")
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked API key 'queue' (id {key[4:12]})" in revoked.stdout
    assert "within WORKBENCH_API_KEY_REFRESH seconds (default 5)" in revoked.stdout
    assert _loaded(settings).authenticate(key) is None
    active = _invoke(settings, "api-key", "list", "--active")
    assert [line.split()[0] for line in active.stdout.splitlines()] == ["NAME", "batch"]
    again = _invoke(settings, "api-key", "revoke", "queue")
    assert again.exit_code == 2 and "revoked already" in _one_error(again)
    taken = _invoke(settings, "api-key", "create", "batch")
    assert taken.exit_code == 2 and taken.stdout == ""
    assert "an active API key named 'batch' exists" in _one_error(taken)
    bad = _invoke(settings, "api-key", "create", "other", "--scope", "root")
    assert bad.exit_code == 2 and "valid scopes are: score, admin" in _one_error(bad)


def test_cli_refuses_an_analyst_with_exit_3(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    made = create_api_key(settings, name="kept", actor=LEAD)
    for args in (["create", "mine"], ["list"], ["revoke", "kept"]):
        result = _invoke(
            settings, "--actor", "ann", "api-key", *args, WORKBENCH_ROLES="ann=analyst"
        )
        assert result.exit_code == 3, (args, result.output)
        assert result.stdout == ""  # no key, no list
        assert _one_error(result).startswith("error: ann (role analyst) may not manage API keys")
    assert [k.name for k in list_api_keys(settings, actor=LEAD)] == ["kept"]
    assert _loaded(settings).authenticate(made.key) is not None


def test_cli_with_the_database_unreachable_exits_1_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a regular file: nothing can be opened under it\n")
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{blocker}/app.db")
    for args in (["create", "k"], ["list"], ["revoke", "k"]):
        result = _invoke(settings, "api-key", *args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stdout == ""
        assert "cannot be opened" in _one_error(result)
