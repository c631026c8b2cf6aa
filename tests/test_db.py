"""Our tables: the same migrations on SQLite and PostgreSQL, and clear errors when down."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from core.config import Settings
from core.db import get_engine, upgrade_database
from core.db.engine import VERSION_TABLE, check_database
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
