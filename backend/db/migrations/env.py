"""Alembic environment: our connection when called from code, else an engine from the URL."""

import asyncio
from typing import Any

from alembic import context
from sqlmodel import SQLModel

import backend.db.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from backend.db.engine import make_engine

config = context.config
target_metadata = SQLModel.metadata


def _configure_and_run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "", null_pool=True)
    async with engine.begin() as conn:
        await conn.run_sync(_configure_and_run)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _configure_and_run(connection)
else:
    asyncio.run(_run_async())
