"""The app database: our own tables (audit log, alias history) on SQLite or PostgreSQL."""

from core.db.engine import check_database, get_engine, upgrade_database
from core.db.models import AliasEvent, Base, Prediction, ScoringEvent

__all__ = [
    "AliasEvent",
    "Base",
    "Prediction",
    "ScoringEvent",
    "check_database",
    "get_engine",
    "upgrade_database",
]
