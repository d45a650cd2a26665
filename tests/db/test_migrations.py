"""The Alembic migrations and the SQLModel tables describe the same schema, on both databases."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from backend.db.engine import make_engine
from backend.db.migrate import downgrade, upgrade


def _diff(sync_connection: Any) -> list[Any]:
    context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url, null_pool=True)
    async with engine.connect() as conn:
        differences = await conn.run_sync(_diff)
    await engine.dispose()
    assert differences == [], f"models and migrations disagree: {differences}"


async def test_migrations_downgrade_to_nothing_and_back(database_url: str) -> None:
    engine = make_engine(database_url, null_pool=True)
    await downgrade(engine, "base")
    async with engine.connect() as conn:
        tables = await conn.run_sync(
            lambda c: set(inspect(c).get_table_names()) - {"alembic_version"}
        )
    assert tables == set()
    await upgrade(engine)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        differences = await conn.run_sync(_diff)
    await engine.dispose()
    assert {t.name for t in SQLModel.metadata.sorted_tables} <= tables
    assert differences == []
