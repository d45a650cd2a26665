"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from LEARNLOOP_TEST_DATABASE_URL (default: postgresql+asyncpg://postgres@127.0.0.1:5432/test).
The suite creates its own throw-away database next to it, migrates it once, and empties
every table before each test. When that server can't be reached the PostgreSQL half is
skipped with the reason, except with CI=true, where a missing PostgreSQL fails the run.
"""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from backend.app import create_app
from backend.auth.passwords import TEST_HASH_COST
from backend.context import AppContext
from backend.db.engine import make_engine
from backend.db.migrate import upgrade
from backend.settings import Settings
from tests.factories import World, build_world

PG_ENV = "LEARNLOOP_TEST_DATABASE_URL"
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _missing_postgres(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


async def _create_database(admin_url: str, name: str) -> None:
    engine = make_engine(admin_url, null_pool=True)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()


async def _drop_database(admin_url: str, name: str) -> None:
    engine = make_engine(admin_url, null_pool=True)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


async def _migrate(url: str) -> None:
    engine = make_engine(url, null_pool=True)
    await upgrade(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this test run, or None when unavailable."""
    base = os.environ.get(PG_ENV) or PG_DEFAULT
    name = f"learnloop_test_{uuid.uuid4().hex[:10]}"
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(_create_database(base, name))
    except Exception as exc:  # unreachable server: report it per test, below
        yield f"error:{exc}"
        return
    asyncio.run(_migrate(url))
    yield url
    asyncio.run(_drop_database(base, name))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy (fast, and still the real migrations)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, postgres_url: str | None
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        target = tmp_path / "learnloop.db"
        shutil.copyfile(sqlite_template, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    if postgres_url is None or postgres_url.startswith("error:"):
        detail = (postgres_url or "")[6:]
        _missing_postgres(
            f"cannot reach {os.environ.get(PG_ENV) or PG_DEFAULT} ({PG_ENV}): {detail}"
        )
    assert postgres_url is not None
    engine = make_engine(postgres_url, null_pool=True)
    async with engine.begin() as conn:
        # DELETE beats TRUNCATE by far on tables this small; children first
        for table in reversed(SQLModel.metadata.sorted_tables):
            await conn.execute(table.delete())
    await engine.dispose()
    yield postgres_url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret-" + "x" * 40,
        env="test",
        password_cost=TEST_HASH_COST,
        login_attempts_per_window=5,
    )


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    context = AppContext.from_settings(settings, null_pool=True)
    yield context
    await context.engine.dispose()


@pytest.fixture
def app(ctx: AppContext) -> Litestar:
    return create_app(context=ctx)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as c:
        yield c


@pytest.fixture
async def world(ctx: AppContext) -> World:
    """Two organisations with people in every role, teams, courses and API keys."""
    return await build_world(ctx)
