"""The app database: our own tables (audit log, alias history) on SQLite or PostgreSQL."""

from core.db.engine import (
    check_database,
    database_address,
    database_label,
    get_database_id,
    get_engine,
    upgrade_database,
)
from core.db.errors import ErrorKind, classify_error, describe_error
from core.db.models import AliasEvent, Base, DatabaseIdentity, Prediction, ScoringEvent

__all__ = [
    "AliasEvent",
    "Base",
    "DatabaseIdentity",
    "ErrorKind",
    "Prediction",
    "ScoringEvent",
    "check_database",
    "classify_error",
    "database_address",
    "database_label",
    "describe_error",
    "get_database_id",
    "get_engine",
    "upgrade_database",
]
