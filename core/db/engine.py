"""Engines for the app database, and its Alembic migrations run from code."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings, mask_url
from core.errors import BackendError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
# Our own version table, so the app tables may share a database with MLflow's.
VERSION_TABLE = "workbench_alembic_version"

_engines: dict[str, Engine] = {}
_upgraded: set[str] = set()
_lock = threading.Lock()


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})


def get_engine(settings: Settings, *, upgrade: bool = True) -> Engine:
    """The (shared) engine for the app database, migrated to the latest schema once.

    Raises:
        BackendError: the database cannot be reached or migrated.
    """
    url = str(settings.database_url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _make_engine(url)
        if upgrade and url not in _upgraded:
            upgrade_database(engine)
            _upgraded.add(url)
    return engine


def upgrade_database(engine: Engine) -> None:
    """Run the Alembic migrations on ``engine`` up to head.

    Raises:
        BackendError: the database cannot be reached or a migration fails.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["version_table"] = VERSION_TABLE
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise BackendError(
            f"app database {mask_url(engine.url.render_as_string(hide_password=False))} "
            f"failed: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
        ) from exc


def check_database(settings: Settings) -> None:
    """Raise BackendError unless the app database answers a trivial query."""
    try:
        with get_engine(settings, upgrade=False).connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise BackendError(
            f"app database {mask_url(str(settings.database_url))} is not reachable: "
            f"{str(exc).splitlines()[0]}"
        ) from exc


def dispose_engines() -> None:
    """Close every pooled connection (before a database is dropped, or at exit)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _upgraded.clear()
