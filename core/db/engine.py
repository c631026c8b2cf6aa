"""Engines for the app database, and its Alembic migrations run from code."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from filelock import FileLock, Timeout
from sqlalchemy import Engine, create_engine, event, make_url, select, text
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings
from core.db.errors import describe_error
from core.db.models import DatabaseIdentity
from core.errors import BackendError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
# Our own version table, so the app tables may share a database with MLflow's.
VERSION_TABLE = "workbench_alembic_version"

_engines: dict[tuple[str, float], Engine] = {}
_upgraded: set[tuple[str, float]] = set()
_identities: dict[str, str] = {}
_lock = threading.Lock()


def _make_engine(url: str, busy_timeout: float) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # the URL names the path already: say what is wrong
                why = (
                    f"{Path(exc.filename).name!r} is not a folder"
                    if isinstance(exc, FileExistsError) and exc.filename
                    else exc.strerror or str(exc)
                )
                raise BackendError(f"app database {url} cannot be opened: {why}") from exc
        # busy_timeout: how long a writer waits for another writer's lock before failing
        engine = create_engine(url, connect_args={"timeout": busy_timeout})

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
    key = (str(settings.database_url), settings.database_busy_timeout)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _make_engine(*key)
        if upgrade and key not in _upgraded:
            upgrade_database(engine)
            _upgraded.add(key)
    return engine


def get_database_id(settings: Settings) -> str:
    """The random id stored in the app database itself (table ``workbench_database``).

    It names the database whatever URL reaches it (URLs change and carry secrets); read
    once per process and URL.

    Raises:
        BackendError: the database cannot be reached.
    """
    url = str(settings.database_url)
    known = _identities.get(url)
    if known is not None:
        return known
    try:
        with get_engine(settings).connect() as connection:
            found = connection.execute(select(DatabaseIdentity.database_id)).scalar_one()
    except SQLAlchemyError as exc:
        raise BackendError(
            f"app database {database_label(settings)} is not reachable: {str(exc).splitlines()[0]}"
        ) from exc
    _identities[url] = found
    return found


def database_address(settings: Settings) -> str:
    """A short fingerprint of where the app database is: the URL without password, query
    or driver name, hashed. Used only for records spooled before the database was ever
    reached (whose database id is not known yet)."""
    url = make_url(str(settings.database_url))
    plain = url.set(drivername=url.get_backend_name(), password=None, query={})
    rendered = plain.render_as_string(hide_password=False)
    return hashlib.sha256(rendered.encode()).hexdigest()[:16]


def database_label(settings: Settings) -> str:
    """Where the app database is, safe to show: host, port and name, or the SQLite path."""
    url = make_url(str(settings.database_url))
    if url.get_backend_name() == "sqlite":
        return f"sqlite:{url.database}"
    return f"{url.get_backend_name()}://{url.host}:{url.port or 5432}/{url.database}"


def upgrade_database(engine: Engine) -> None:
    """Run the Alembic migrations on ``engine`` up to head, one process at a time.

    Two processes starting on a new database would both find it empty and both create
    the tables; one fails ("table already exists", or a duplicate in PostgreSQL's
    catalog). So the upgrade holds a lock across processes: on SQLite a file lock beside
    the database file; on PostgreSQL a transaction-level advisory lock (released with the
    migration's commit or rollback, so a crashed process cannot leave it held). The
    second process then finds the database at head and has nothing to do.

    Raises:
        BackendError: the database cannot be reached, a migration fails, or another
            process has held the migration lock for ``MIGRATION_WAIT`` seconds.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["version_table"] = VERSION_TABLE
    where = engine.url.render_as_string(hide_password=True)
    try:
        with _sqlite_migration_lock(engine), engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                wait = {"wait": f"{MIGRATION_WAIT:.0f}s"}  # SET takes no bound parameter
                connection.execute(text("SELECT set_config('lock_timeout', :wait, true)"), wait)
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_KEY})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise BackendError(f"app database {where} failed: {describe_error(exc)}") from exc


MIGRATION_WAIT = 300.0  # seconds a process waits for another one's migration
# One fixed advisory-lock key for our migrations (advisory locks are per database, so
# MLflow's tables in the same database are not concerned): the first 8 bytes of
# sha256("fraud-workbench migrations"), as a signed 64-bit integer.
_PG_KEY = int.from_bytes(
    hashlib.sha256(b"fraud-workbench migrations").digest()[:8], "big", signed=True
)


@contextmanager
def hold_file_lock(path: str, *, wait: float, busy: str, failed: str) -> Iterator[None]:
    """Hold the file lock ``path`` (beside a SQLite database) for the block.

    Raises:
        BackendError: ``busy`` after ``wait`` seconds held by another process;
            ``failed: <reason>`` when the lock file cannot be made.
    """
    lock = FileLock(path)
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        raise BackendError(busy) from None
    except OSError as exc:
        raise BackendError(f"{failed}: {exc}") from exc
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """Hold ``<database file>.migrate.lock`` on SQLite (nothing elsewhere)."""
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with hold_file_lock(
        f"{database}.migrate.lock",
        wait=MIGRATION_WAIT,
        busy=f"app database sqlite:{database}: another process has been migrating it for "
        f"{MIGRATION_WAIT:.0f} s",
        failed=f"app database sqlite:{database} cannot be opened",
    ):
        yield


def check_database(settings: Settings) -> None:
    """Raise BackendError unless the app database answers a trivial query."""
    try:
        with get_engine(settings, upgrade=False).connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise BackendError(
            f"app database {make_url(str(settings.database_url)).render_as_string()} "
            f"is not reachable: {describe_error(exc)}"
        ) from exc


def dispose_engines() -> None:
    """Close every pooled connection (before a database is dropped, or at exit)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _upgraded.clear()
        _identities.clear()
