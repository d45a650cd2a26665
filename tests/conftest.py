"""Shared fixtures: every database test runs on PostgreSQL.

The server is LEARNLOOP_TEST_DATABASE_URL's when it is set (CI: the machine's PostgreSQL 15),
else an embedded one (backend.db.embedded) started once per run in a temporary directory.
The suite creates its own throw-away database on it, migrates it once, and empties every
table before each test.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from backend.app import create_app
from backend.auth.passwords import TEST_HASH_COST
from backend.context import AppContext
from backend.db import embedded
from backend.db.engine import make_engine
from backend.db.migrate import upgrade
from backend.settings import Settings
from tests.factories import World, build_world

PG_ENV = "LEARNLOOP_TEST_DATABASE_URL"


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
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a database on the server this run uses (its throw-away databases go beside)."""
    configured = os.environ.get(PG_ENV, "").strip()
    if configured:
        return configured
    server = embedded.start(
        tmp_path_factory.mktemp("embedded") / "pgdata", cleanup="delete", announce=False
    )
    return server.url("postgres")


@pytest.fixture(scope="session")
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A database of this test run, migrated once."""
    name = f"learnloop_test_{uuid.uuid4().hex[:10]}"
    url = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_create_database(postgres_server, name))
    asyncio.run(_migrate(url))
    yield url
    asyncio.run(_drop_database(postgres_server, name))


@pytest.fixture
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    """The run's database, every table emptied."""
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
