"""Driver errors sorted into two kinds, in one place: the database cannot be used now
(*connection*), or it refused what we sent (*content*).

The audit writer needs the difference: a connection error keeps a record waiting in the
spool, in order; a content error sets that one record aside so it cannot block the ones
behind it. SQLAlchemy wraps the errors of statements it runs, but COPY (psycopg2 and
psycopg 3) and ``executemany`` (sqlite3) run on raw driver cursors, so both the wrapped
and the raw forms are classified here, without importing any driver: every DB-API module
names its classes the same way, and PostgreSQL errors carry a SQLSTATE code.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import exc as sa_exc

from core.errors import BackendError, WorkbenchError

ErrorKind = Literal["connection", "content"]

# SQLSTATE classes that say the data was refused: 22 data exception (too long, out of
# range, bad encoding, NUL), 23 integrity constraint. Every other class (08 connection,
# 40 rollback, 53 resources, 57 operator intervention, 42 schema, ...) is not the record's
# fault, so the record waits.
_CONTENT_SQLSTATE_CLASSES = ("22", "23")
# Raised by the driver before anything reaches the server: a value it cannot send.
_CONTENT_PYTHON_ERRORS = (ValueError, TypeError, OverflowError, UnicodeError, KeyError)
_CONNECTION_WORDS = (
    "closed",
    "connect",
    "locked",
    "busy",
    "unable to open",
    "disk i/o",
    "readonly",
    "no such table",
    "not a database",
    "timeout",
)


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception inside a SQLAlchemy wrapper (or ``exc`` itself)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        return exc.orig
    return exc


def _sqlstate(exc: BaseException) -> str | None:
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)  # psycopg 3 / 2
    return code if isinstance(code, str) and len(code) == 5 else None


def _dbapi_class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def classify_error(exc: BaseException) -> ErrorKind:
    """Whether ``exc``, raised while writing to the app database, means the database
    cannot be used now (``connection``) or that it refused the data (``content``).

    Handles SQLAlchemy's wrapped errors and the raw ones of psycopg2, psycopg 3 and
    sqlite3. Errors of no database at all (a corrupt spool file, a value no driver can
    send) are content: retrying the same record will not help.

    Args:
        exc: the exception caught around a database write.

    Returns:
        ``"connection"`` or ``"content"``.
    """
    if isinstance(exc, BackendError | OSError | sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return "connection"
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return "connection"
    driver = _driver_error(exc)
    code = _sqlstate(driver)
    if code is not None:
        return "content" if code[:2] in _CONTENT_SQLSTATE_CLASSES else "connection"
    names = _dbapi_class_names(driver)
    if names & {"IntegrityError", "DataError"}:
        return "content"
    if names & {"OperationalError", "InterfaceError", "InternalError"}:
        return "connection"
    if "DatabaseError" in names:
        # sqlite3.DatabaseError ("file is not a database"), ProgrammingError on a closed
        # connection: about the database; a binding a driver cannot make: about the data.
        message = str(driver).lower()
        return "connection" if any(w in message for w in _CONNECTION_WORDS) else "content"
    if isinstance(driver, _CONTENT_PYTHON_ERRORS):
        return "content"
    if isinstance(exc, sa_exc.SQLAlchemyError):
        return "connection"
    return "content"


def describe_error(exc: BaseException) -> str:
    """One line naming what the database said (no traceback, no URL), for a reason.

    Our own errors already carry a sentence for the user, which is returned as it is.
    """
    if isinstance(exc, WorkbenchError):
        return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    driver = _driver_error(exc)
    text = str(driver).strip().splitlines()
    first = text[0][:300] if text else ""
    name = type(driver).__name__
    code = _sqlstate(driver)
    # The driver's class and SQLSTATE go last, in brackets: the sentence comes first.
    return f"{first} [{name}{f' {code}' if code else ''}]" if first else name
