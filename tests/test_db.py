"""Our tables: the same migrations on SQLite and PostgreSQL, and clear errors when down."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from core.config import Settings
from core.db import get_engine, upgrade_database
from core.db.engine import MIGRATIONS, VERSION_TABLE, check_database
from core.errors import BackendError
from tests.conftest import free_port

TABLES = {"scoring_events", "predictions", "alias_events", VERSION_TABLE}


def test_migrations_create_the_same_tables_on_each_backend(backend_settings: Settings) -> None:
    engine = get_engine(backend_settings)
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) >= TABLES
    columns = {c["name"] for c in inspector.get_columns("predictions")}
    assert {
        "event_id",
        "row_number",
        "transaction_id",
        "input_hash",
        "probability",
        "decision",
        "reasons",
    } <= columns
    upgrade_database(engine)  # idempotent: running again changes nothing
    check_database(backend_settings)


def test_the_migrated_schema_matches_the_models(backend_settings: Settings) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from core.db.models import Base

    engine = get_engine(backend_settings)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_name": lambda name, kind, _parent: name != VERSION_TABLE}
        )
        assert compare_metadata(context, Base.metadata) == []
        # rows without a transaction id are left out of its index (migration 0002)
        if engine.dialect.name == "sqlite":
            sql = "SELECT sql FROM sqlite_master WHERE name = 'ix_predictions_transaction_id'"
        else:
            sql = (
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_predictions_transaction_id'"
            )
        definition = connection.exec_driver_sql(sql).scalar_one()
    assert "transaction_id IS NOT NULL" in definition


def test_unreachable_postgres_is_a_backend_error_with_masked_url(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    settings = Settings(home=tmp_path, database_url=f"postgresql://app:pw123@127.0.0.1:{port}/wb")
    with pytest.raises(
        BackendError, match=r"app database postgresql://app:\*\*\*@127.0.0.1"
    ) as caught:
        check_database(settings)
    assert "pw123" not in str(caught.value)
    with pytest.raises(BackendError, match="failed"):
        get_engine(settings)


# --------------------------------------------------------------------------- driver errors


def _raised(action) -> BaseException:  # type: ignore[no-untyped-def]
    try:
        action()
    except BaseException as exc:  # the error itself is under test
        return exc
    raise AssertionError("expected the driver to raise")


def _sqlite_errors(tmp_path: Path) -> dict[str, BaseException]:
    import sqlite3

    db = sqlite3.connect(tmp_path / "t.db")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    errors = {
        "executemany NOT NULL": _raised(
            lambda: db.executemany("INSERT INTO t (v) VALUES (?)", [("a",), (None,)])
        ),
        "binding a value sqlite cannot take": _raised(
            lambda: db.execute("INSERT INTO t (v) VALUES (?)", (object(),))
        ),
        "cannot open": _raised(lambda: sqlite3.connect(folder).execute("SELECT 1")),
    }
    db.rollback()
    db.close()
    return errors


def test_sqlite_driver_errors_are_classified(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import IntegrityError, OperationalError

    from core.db import classify_error, describe_error

    raw = _sqlite_errors(tmp_path)
    assert classify_error(raw["executemany NOT NULL"]) == "content"
    assert classify_error(raw["binding a value sqlite cannot take"]) == "content"
    assert classify_error(raw["cannot open"]) == "connection"
    assert "NOT NULL constraint failed: t.v" in describe_error(raw["executemany NOT NULL"])

    engine = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    with pytest.raises(IntegrityError) as wrapped, engine.begin() as connection:
        connection.execute(text("INSERT INTO t (v) VALUES (NULL)"))
    assert classify_error(wrapped.value) == "content"
    locked = create_engine(f"sqlite:///{tmp_path / 't.db'}", connect_args={"timeout": 0.1})
    with engine.connect() as holder:
        holder.exec_driver_sql("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="locked") as busy, locked.begin() as c:
            c.execute(text("INSERT INTO t (v) VALUES ('x')"))
        holder.rollback()
    assert classify_error(busy.value) == "connection"  # waits, is never set aside
    assert classify_error(BackendError("down")) == "connection"


@pytest.mark.integration
@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_postgres_driver_errors_are_classified_on_the_live_server(
    driver: str, postgres_databases: dict[str, str]
) -> None:
    """COPY runs on the raw driver cursor: its errors come unwrapped, from psycopg2 and from
    psycopg 3 (SQLAlchemy 2.1's driver for a plain ``postgresql://`` URL)."""
    import importlib

    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.exc import DataError

    from core.db import classify_error, describe_error

    module = importlib.import_module(driver)
    url = make_url(postgres_databases["app"])
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = module.connect(dsn)
    try:
        cursor = connection.cursor()
        cursor.execute("CREATE TEMP TABLE t (id varchar(4) NOT NULL, n integer)")
        connection.commit()
        copy_sql = "COPY t (id, n) FROM STDIN WITH (FORMAT csv)"

        def copy(data: str) -> None:
            if driver == "psycopg2":
                import io

                cursor.copy_expert(copy_sql, io.StringIO(data))
            else:
                with cursor.copy(copy_sql) as writer:
                    writer.write(data)

        too_long = _raised(lambda: copy("toolong,1\n"))
        connection.rollback()
        out_of_range = _raised(lambda: copy(f"ok,{2**40}\n"))
        connection.rollback()
        null = _raised(lambda: copy(",1\n"))
        connection.rollback()
        nul = _raised(lambda: cursor.execute("INSERT INTO t VALUES (%s, 1)", ("a\x00",)))
        connection.rollback()
    finally:
        connection.close()
    for refused in (too_long, out_of_range, null):
        assert type(refused).__module__.split(".")[0] == driver  # raw, not wrapped
    # a NUL is refused by psycopg2 before sending (ValueError), by psycopg 3 as DataError
    for refused in (too_long, out_of_range, null, nul):
        assert classify_error(refused) == "content", describe_error(refused)
    assert "22001]" in describe_error(too_long) and "22003]" in describe_error(out_of_range)

    dead = f"postgresql://nobody@127.0.0.1:{free_port()}/gone"
    refused_connection = _raised(lambda: module.connect(dead, connect_timeout=3))
    assert classify_error(refused_connection) == "connection"
    engine = create_engine(url.set(drivername=f"postgresql+{driver}"))
    with pytest.raises(DataError) as wrapped, engine.begin() as conn:
        conn.execute(text("SELECT CAST(:v AS integer)"), {"v": str(2**40)})
    assert classify_error(wrapped.value) == "content"
    engine.dispose()


def test_migration_0003_keeps_existing_rows_complete_and_names_the_database(
    tmp_path: Path,
) -> None:
    """Rows written before 0003 become complete (scoring) and confirmed (alias moves); the
    database gets one random id."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'at-0002.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["version_table"] = VERSION_TABLE
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        connection.execute(
            text(
                "INSERT INTO scoring_events (event_uid, created_at, source, actor, model_name,"
                " model_version, threshold, rows_in, rows_scored, rows_rejected, alerts)"
                " VALUES ('old', '2026-01-02 03:04:05.000000', 'cli', 'a', 'm', 1, 0.5,"
                " 1, 1, 0, 0)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO alias_events (created_at, model_name, alias, to_version, actor,"
                " reason) VALUES ('2026-01-02 03:04:05.000000', 'm', 'champion', 1, 'a', 'r')"
            )
        )
    upgrade_database(engine)
    with engine.connect() as connection:
        event = connection.execute(
            text("SELECT status, updated_at, created_at FROM scoring_events")
        ).one()
        alias_status = connection.execute(text("SELECT status FROM alias_events")).scalar_one()
        ids = connection.execute(text("SELECT database_id FROM workbench_database")).all()
    assert event[0] == "complete" and event[1] == event[2]
    assert alias_status == "confirmed"
    assert len(ids) == 1 and len(ids[0][0]) == 36
    engine.dispose()


# --------------------------------------------------------------------------- migration race

_MIGRATE = """
import sys, time
from pathlib import Path
from core.config import Settings
from core.db import get_database_id
go = Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():  # all processes start migrating at the same moment
    time.sleep(0.002)
print(get_database_id(Settings(home=sys.argv[3], database_url=sys.argv[1])), flush=True)
"""


def _migrate_at_once(url: str, tmp_path: Path, *, processes: int = 2) -> list[str]:
    """Start ``processes`` fresh processes that migrate ``url`` at the same moment; return
    the database id each one reads (each fails the test if its process failed)."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE, url, str(go), str(tmp_path / f"home-{k}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for k in range(processes)
    ]
    for process in started:  # each has imported core and waits
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    go.touch()
    ids = []
    for process in started:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err[-3000:]
        ids.append(out.strip())
    return ids


@pytest.mark.timeout(600)
def test_processes_migrating_a_new_sqlite_database_at_once_do_not_collide(
    tmp_path: Path,
) -> None:
    for attempt in range(3):  # a collision needs the timing to line up: try a few times
        folder = tmp_path / f"attempt-{attempt}"
        folder.mkdir()
        url = f"sqlite:///{folder / 'new.db'}"
        ids = _migrate_at_once(url, folder)
        assert len(set(ids)) == 1 and len(ids[0]) == 36, ids  # one database, one id
        _assert_migrated_once(url)


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_processes_migrating_a_new_postgres_database_at_once_do_not_collide(
    tmp_path: Path,
) -> None:
    import uuid

    import psycopg2

    from tests.conftest import PG_ADMIN_URL, unavailable

    try:
        admin = psycopg2.connect(PG_ADMIN_URL, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        unavailable(f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}".strip())
    admin.autocommit = True
    server = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    try:
        # both drivers: psycopg 3 binds parameters on the server, psycopg2 on the client
        for attempt, driver in enumerate(["psycopg2", "psycopg", "psycopg2", "psycopg"]):
            name = f"wb_test_race_{uuid.uuid4().hex[:8]}"
            with admin.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
            try:
                url = f"postgresql+{driver}://{server}/{name}"
                folder = tmp_path / f"attempt-{attempt}"
                folder.mkdir()
                ids = _migrate_at_once(url, folder)
                assert len(set(ids)) == 1 and len(ids[0]) == 36, ids
                _assert_migrated_once(url)
            finally:
                with admin.cursor() as cursor:
                    cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def _assert_migrated_once(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
            ids = connection.execute(text("SELECT database_id FROM workbench_database")).all()
        newest = max(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9]*.py"))
        assert [v[0] for v in versions] == [newest] and len(ids) == 1
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()
