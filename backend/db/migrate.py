"""Alembic, driven from code: ``learnloop migrate``, ``serve`` on SQLite, and the tests."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to ``revision`` over one of our own connections."""
    await _migrate(engine, lambda cfg: command.upgrade(cfg, revision))


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    await _migrate(engine, lambda cfg: command.downgrade(cfg, revision))


async def _migrate(engine: AsyncEngine, run: Callable[[Config], None]) -> None:
    """``run`` Alembic in one transaction. On SQLite with foreign key enforcement off, as
    SQLite's own recipe for schema changes says: a batch migration rebuilds a table by
    dropping it, and dropping a table that others reference would run their ``ON DELETE``
    actions (``SET NULL``, ``CASCADE``) on every row. The keys are checked before commit."""

    sqlite = engine.dialect.name == "sqlite"

    def _run(sync_connection: Any) -> None:
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        cfg.attributes["connection"] = sync_connection
        run(cfg)
        if sqlite:
            broken = sync_connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")

    async with engine.connect() as conn:
        if sqlite:  # before the transaction begins: inside one SQLite ignores the pragma
            await conn.run_sync(_sqlite_foreign_keys, False)
        try:
            async with conn.begin():
                await conn.run_sync(_run)
        finally:
            if sqlite:
                await conn.run_sync(_sqlite_foreign_keys, True)


def _sqlite_foreign_keys(sync_connection: Any, enforce: bool) -> None:
    # on the driver's connection: a statement through SQLAlchemy would begin a transaction
    cursor = sync_connection.connection.dbapi_connection.cursor()
    cursor.execute(f"PRAGMA foreign_keys={'ON' if enforce else 'OFF'}")
    cursor.close()
