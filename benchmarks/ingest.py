"""Ingestion throughput on PostgreSQL: learnloop's xAPI/events endpoints next to a bare insert.

    uv run python benchmarks/ingest.py [--duration 10] [--warmup 3] [--concurrency 16]
                                       [--learners 1000] [--batch 100] [--rounds 3]
                                       [--only NAME]

Creates a fresh database ``learnloop_bench_<random>`` on 127.0.0.1:5432 (user ``postgres``,
trust auth), migrates it with ``learnloop migrate``, seeds one organisation with ``--learners``
learners, a few courses with an ``xapi_activity_id`` and an API key, and measures:

- ``bare``: an ASGI callable in this file whose ``POST /xapi/statements`` parses the same JSON
  and inserts each statement as one row into ``bench_bare(id text primary key, body jsonb)``
  with a raw asyncpg pool (``INSERT ... ON CONFLICT DO NOTHING``) — the ceiling for "parse a
  statement, write a row" on this machine, served by the same server with the same settings;
- ``learnloop``: ``backend.app:create_app`` (factory, ``LEARNLOOP_ENV=production``), one xAPI
  statement per POST (learners spread over everyone, and all on ONE learner as the worst case),
  batches of ``--batch`` statements per POST (events/s = batch x req/s), and the native
  ``/api/v1/events`` batch.

Both servers run as ``uvicorn --loop uvloop --http httptools --workers 1`` on a free 127.0.0.1
port, pinned to CPU 0, both at once (the one not under load waits on its socket) and started
afresh for each of ``--rounds`` rounds. A round runs every scenario once, each learnloop
scenario right after the bare one it is compared with, so the machine's drift (these VMs
change speed by 2x within an hour) moves a baseline and its comparison together; the table
gives medians over the rounds, a ratio as the median of the rounds' ratios. The load
generator (aiohttp, fixed concurrency, keep-alive, unique statement ids) runs in its own
process pinned to CPU 1. PostgreSQL floats. Each connection loops without pause through
warm-up and measurement; events/s counts the requests that completed inside the measured
window (closed loop), p50/p99 are their latencies. Between scenarios the event tables are
truncated, so every scenario starts from learners without history.
After each scenario the rows in the database are counted against the events the load
generator saw accepted. Prints a table and PASS/FAIL against the issue's targets:
single-event ingestion >= 0.4x the bare insert, batch ingestion >= 10,000 events/s.

Everything stops by itself (every step has a timeout); the database is dropped at the end,
also on errors and Ctrl+C. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = "127.0.0.1"
PG = "postgres@127.0.0.1:5432"
TARGET_SINGLE_RATIO = 0.4
TARGET_BATCH_EPS = 10_000
COURSES = 20
VERBS = (
    "http://adlnet.gov/expapi/verbs/completed",
    "http://adlnet.gov/expapi/verbs/experienced",
    "http://adlnet.gov/expapi/verbs/progressed",
)


def learner_email(i: int) -> str:
    return f"learner{i}@bench.example"


def activity_iri(i: int) -> str:
    return f"https://lms.bench.example/courses/c{i}"


# --- the bare baseline: a raw ASGI app (served by uvicorn exactly like learnloop) ---------------

_pool: Any = None
_INSERT = "INSERT INTO bench_bare (id, body) VALUES ($1, $2::jsonb) ON CONFLICT DO NOTHING"


async def _send(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``POST /xapi/statements``: parse the JSON (one statement or a list), one row each."""
    global _pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                import asyncpg

                # learnloop's engine: pool_size 10 + max_overflow 20
                _pool = await asyncpg.create_pool(
                    os.environ["BENCH_BARE_DSN"], min_size=10, max_size=30
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await _pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        await _send(send, 200, b'{"status":"ok"}')
        return
    if scope["path"] != "/xapi/statements" or scope["method"] != "POST":
        await _send(send, 404, b'{"detail":"not found"}')
        return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    try:
        data = json.loads(b"".join(chunks))
    except ValueError:
        await _send(send, 400, b'{"detail":"invalid JSON"}')
        return
    statements = data if isinstance(data, list) else [data]
    if not statements or not all(isinstance(s, dict) for s in statements):
        await _send(send, 400, b'{"detail":"expected statement objects"}')
        return
    rows = [(str(s.get("id") or uuid.uuid4()), json.dumps(s)) for s in statements]
    async with _pool.acquire() as conn:
        if len(rows) == 1:
            await conn.execute(_INSERT, *rows[0])
        else:
            async with conn.transaction():
                await conn.executemany(_INSERT, rows)
    await _send(send, 200, json.dumps([r[0] for r in rows]).encode())


def postgres_cpu_seconds(db: str) -> float:
    """User + system CPU time of every live PostgreSQL backend serving database ``db``
    (Linux /proc; a backend's title names its database), plus that of the server's backends
    that have exited (the postmaster's reaped children: a pool closing an overflow
    connection takes its backend's CPU along): the database's side of a scenario."""
    ticks = 0
    postmaster = None
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not title.startswith("postgres: "):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            postmaster = fields[1]  # every backend's parent
            if f" {db} " in title:
                ticks += int(fields[11]) + int(fields[12])
    if postmaster is not None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


# --- load generator (runs in its own process) ---------------------------------------------------


def _statement(learner: int, courses: int) -> dict[str, Any]:
    when = datetime.now(UTC) - timedelta(seconds=random.randint(60, 6 * 86_400))
    course = random.randrange(courses)
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": f"mailto:{learner_email(learner)}"},
        "verb": {"id": random.choice(VERBS), "display": {"en-US": "did"}},
        "object": {
            "objectType": "Activity",
            "id": activity_iri(course),
            "definition": {"name": {"en-US": f"Bench course {course}"}},
        },
        "result": {"completion": True, "duration": f"PT{random.randint(5, 60)}M"},
        "timestamp": when.isoformat(),
    }


def _native_event(learner: int, courses: int) -> dict[str, Any]:
    when = datetime.now(UTC) - timedelta(seconds=random.randint(60, 6 * 86_400))
    return {
        "id": str(uuid.uuid4()),
        "learner": {"email": learner_email(learner)},
        "kind": random.choice(("completion", "experience", "progress")),
        "occurred_at": when.isoformat(),
        "minutes": random.randint(5, 60),
        "course": {"xapi_activity_id": activity_iri(random.randrange(courses))},
    }


async def run_load(cfg: dict[str, Any]) -> dict[str, Any]:
    """Fixed-concurrency load: ``concurrency`` loops, each one request at a time, over
    keep-alive connections; warm-up first, then the measured ``duration``.

    cfg: port, path, body ("xapi" | "native"), batch, learners, mode ("spread" | "one" |
    "partition" | "random"), concurrency, warmup, duration, courses, headers."""
    import aiohttp

    n, batch, conc = cfg["learners"], cfg["batch"], cfg["concurrency"]
    make = _statement if cfg["body"] == "xapi" else _native_event
    counter = iter(range(1 << 62))
    slices = [list(range(w * n // conc, (w + 1) * n // conc)) or [w % n] for w in range(conc)]

    def learners_for(worker: int, k: int) -> list[int]:
        mode = cfg["mode"]
        if mode == "one":
            return [0] * k
        if mode == "spread":  # round robin over everyone: concurrent requests, other learners
            return [next(counter) % n for _ in range(k)]
        if mode == "partition":  # each connection owns a slice (like one LMS per department)
            own = slices[worker]
            start = next(counter)
            return [own[(start + i) % len(own)] for i in range(k)]
        return random.sample(range(n), k) if k <= n else [random.randrange(n) for _ in range(k)]

    def body(worker: int) -> bytes:
        items = [make(learner, cfg["courses"]) for learner in learners_for(worker, batch)]
        return json.dumps(items[0] if batch == 1 else items).encode()

    url = f"http://{HOST}:{cfg['port']}{cfg['path']}"
    headers = {"Content-Type": "application/json", **cfg["headers"]}
    done: list[tuple[float, float]] = []  # (finished at, latency) of every accepted request
    errors: list[tuple[float, str]] = []

    async def loop(session: aiohttp.ClientSession, worker: int, until: float) -> None:
        # one continuous loop per connection (no pause between warm-up and measurement, so no
        # connection sits idle long enough for the server to close it)
        while time.perf_counter() < until:
            data = body(worker)
            start = time.perf_counter()
            try:
                async with session.post(url, data=data, headers=headers) as resp:
                    text = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors.append((time.perf_counter(), repr(exc)))
                continue
            end = time.perf_counter()
            if status != 200:
                errors.append((end, f"{status}: {text[:300]!r}"))
                continue
            done.append((end, end - start))

    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=conc)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        began = time.perf_counter()
        measure_from = began + cfg["warmup"]
        measure_to = measure_from + cfg["duration"]
        await asyncio.gather(*(loop(session, w, measure_to) for w in range(conc)))
    # closed-loop throughput: requests that completed inside the measured window
    window = [lat for end, lat in done if measure_from <= end <= measure_to]
    window.sort()
    q = (
        statistics.quantiles(window, n=100, method="inclusive")
        if len(window) > 1
        else [window[0] if window else 0.0] * 99
    )
    return {
        "requests": len(window),
        "elapsed": cfg["duration"],
        "events": len(window) * batch,
        "events_total": len(done) * batch,  # warm-up and the tail included: what was stored
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
        "errors": sum(1 for t, _ in errors if t >= measure_from),
        "warmup_errors": sum(1 for t, _ in errors if t < measure_from),
        "first_errors": [e for _, e in errors[:3]],
    }


def load(cfg: dict[str, Any]) -> dict[str, Any]:
    # In its own process, pinned to the other CPU: the client never shares a core with a server.
    code = (
        "import asyncio, json, sys; sys.path.insert(0, sys.argv[1]); "
        "import uvloop; from ingest import run_load; "
        "print(json.dumps(uvloop.run(run_load(json.loads(sys.argv[2])))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(HERE), json.dumps(cfg)],
        capture_output=True,
        text=True,
        timeout=cfg["warmup"] + cfg["duration"] + 120,
        preexec_fn=_pin(1),
    )
    if out.returncode != 0:
        raise SystemExit(f"load generator failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


# --- servers and the database -------------------------------------------------------------------

sys.path.append(str(HERE))  # after the project: benchmarks/pwa.py must not shadow pwa/
from server_choice import _pin, free_port, group_cpu_seconds, wait_until_up  # noqa: E402


def uvicorn_argv(app: list[str], port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", *app,
        "--loop", "uvloop", "--http", "httptools",
        "--host", HOST, "--port", str(port), "--workers", "1",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


@contextlib.contextmanager
def running(app: list[str], env: dict[str, str], log: Path) -> Iterator[tuple[int, int]]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            uvicorn_argv(app, port),
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops everything
            preexec_fn=_pin(0),
        )
        try:
            wait_until_up(port, proc)
            yield port, proc.pid
        except BaseException:
            sys.stderr.write(log.read_text(errors="replace")[-3000:])
            raise
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://{PG}/postgres", timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _sql(db: str, sql: str, *args: Any) -> Any:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://{PG}/{db}", timeout=10)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def seed(url: str, learners: int) -> str:
    """One organisation, ``learners`` learners, ``COURSES`` courses; returns an API key."""
    from sqlalchemy import insert

    from backend.context import AppContext
    from backend.db.models import Course, Organisation, User
    from backend.db.types import utcnow
    from backend.integrations.services import create_api_key
    from backend.settings import Settings

    ctx = AppContext.from_settings(Settings(database_url=url, env="test"), null_pool=True)
    try:
        async with ctx.sessionmaker() as session:
            org = Organisation(name="Bench BV", slug="bench", default_timezone="Europe/Amsterdam")
            session.add(org)
            await session.commit()
            assert org.id is not None
            now = utcnow()
            chunk = 2000  # one INSERT takes at most 32,767 parameters (11 per learner)
            for first in range(0, learners, chunk):
                await session.exec(
                    insert(User).values(
                        [
                            {
                                "organisation_id": org.id,
                                "email": learner_email(i),
                                "display_name": f"Learner {i}",
                                "roles": ["employee"],
                                "timezone": "Europe/Amsterdam",
                                "locale": "nl",
                                "is_active": True,
                                "leaderboard_opt_in": False,
                                "created_at": now,
                            }
                            for i in range(first, min(first + chunk, learners))
                        ]
                    )
                )
            await session.exec(
                insert(Course).values(
                    [
                        {
                            "organisation_id": org.id,
                            "title": f"Bench course {i}",
                            "description": "",
                            "provider": "bench",
                            "format": "elearning",
                            "duration_minutes": 30 + i,
                            "cost_cents": 0,
                            "xapi_activity_id": activity_iri(i),
                            "hot_skill": i % 5 == 0,
                            "created_at": now,
                        }
                        for i in range(COURSES)
                    ]
                )
            )
            await session.commit()
            created = await create_api_key(session, org.id, "bench LMS", None)
            return created.key
    finally:
        await ctx.engine.dispose()


EVENT_TABLES = (
    "learning_event, xp_ledger, badge_award, learner_state, team_challenge_day, xapi_statement"
)


@dataclass(frozen=True)
class Scenario:
    name: str
    server: str  # "bare" | "learnloop"
    path: str
    body: str  # "xapi" | "native"
    batch: int
    mode: str  # how statements pick learners, see run_load
    single: bool  # compared against the 0.4x target
    batch_target: bool  # compared against the 10,000 events/s target


@dataclass
class Row:
    scenario: Scenario
    result: dict[str, Any]
    cpu_us: float  # server CPU per event
    rows_ok: bool
    pg_us: float = 0.0  # PostgreSQL's CPU per event (its backends, checkpointer, WAL writer)

    @property
    def eps(self) -> float:
        return float(self.result["events"]) / float(self.result["elapsed"])


def scenarios(batch: int) -> list[Scenario]:
    b = f"x{batch}"
    return [
        Scenario("bare insert, 1 statement/POST", "bare", "/xapi/statements", "xapi", 1, "spread", False, False),
        Scenario("xAPI 1 statement/POST, spread", "learnloop", "/xapi/statements", "xapi", 1, "spread", True, False),
        Scenario("xAPI 1 statement/POST, ONE learner", "learnloop", "/xapi/statements", "xapi", 1, "one", False, False),
        Scenario(f"bare insert, {b} batch", "bare", "/xapi/statements", "xapi", batch, "partition", False, False),
        Scenario(f"xAPI {b} batch, own learners/conn", "learnloop", "/xapi/statements", "xapi", batch, "partition", False, True),
        Scenario(f"xAPI {b} batch, random learners", "learnloop", "/xapi/statements", "xapi", batch, "random", False, False),
        Scenario(f"events API {b} batch, own/conn", "learnloop", "/api/v1/events", "native", batch, "partition", False, False),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per run")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--learners", type=int, default=1000, help="learners in the org")
    parser.add_argument("--batch", type=int, default=100, help="statements per batch POST")
    parser.add_argument("--only", default="", help="run only scenarios whose name contains this")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of every scenario (the table: medians)"
    )
    args = parser.parse_args()
    if not (
        1 <= args.duration <= 120
        and 0 <= args.warmup <= 60
        and 1 <= args.concurrency <= 256
        and 1 <= args.learners <= 100_000
        and 2 <= args.batch <= 1000
        and 1 <= args.rounds <= 20
    ):
        parser.error(
            "keep it bounded: duration 1-120 s, warm-up 0-60 s, concurrency 1-256, "
            "learners 1-100000, batch 2-1000, rounds 1-20"
        )
    db = f"learnloop_bench_{secrets.token_hex(5)}"
    url = f"postgresql+asyncpg://{PG}/{db}"
    # SIGTERM (e.g. from a CI timeout) unwinds like Ctrl+C, so the finally below still runs
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    asyncio.run(_admin(f'CREATE DATABASE "{db}"'))
    rows: list[list[Row]] = []
    try:
        rows = _run_all(args, db, url)
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            print(f"dropped database {db}", file=sys.stderr)
    print_table(rows, args)


def _run_all(args: argparse.Namespace, db: str, url: str) -> list[list[Row]]:
    env = {
        **os.environ,
        "LEARNLOOP_ENV": "production",
        "LEARNLOOP_DATABASE_URL": url,
        "LEARNLOOP_SECRET_KEY": secrets.token_urlsafe(48),
        "LEARNLOOP_LOG_LEVEL": "WARNING",
        "BENCH_BARE_DSN": f"postgresql://{PG}/{db}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("LEARNLOOP_SECRET_KEY_FILE", None)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "backend.cli", "migrate"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"learnloop migrate failed:\n{result.stdout}{result.stderr}")
    api_key = asyncio.run(seed(url, args.learners))
    asyncio.run(_sql(db, "CREATE TABLE bench_bare (id text PRIMARY KEY, body jsonb NOT NULL)"))
    # planner statistics, as autovacuum keeps them in any database that has been up a while
    # (without, PostgreSQL guesses the freshly seeded tables are empty and scans them)
    asyncio.run(_sql(db, "ANALYZE"))
    print(
        f"database {db}: migrated and seeded ({args.learners} learners, {COURSES} courses) in "
        f"{time.perf_counter() - started:.1f}s; load: aiohttp, {args.concurrency} in flight, "
        f"{args.warmup:g}s warm-up + {args.duration:g}s per scenario; server on CPU 0, "
        f"load on CPU 1; Python {platform.python_version()} at {sys.executable}",
        file=sys.stderr,
    )
    apps = {
        "bare": ["--app-dir", str(HERE), "ingest:bare_app"],
        "learnloop": ["--factory", "backend.app:create_app"],
    }
    headers = {
        "bare": {"X-Experience-API-Version": "1.0.3"},
        "learnloop": {"Authorization": f"Bearer {api_key}", "X-Experience-API-Version": "1.0.3"},
    }
    todo = [s for s in scenarios(args.batch) if args.only.lower() in s.name.lower()]
    rounds: list[list[Row]] = []
    with tempfile.TemporaryDirectory(prefix="learnloop-bench-") as tmp:
        for round_no in range(1, args.rounds + 1):
            # both servers up at once (the idle one waits on its socket), started afresh each
            # round: a baseline is measured right before the scenarios compared with it
            with contextlib.ExitStack() as servers:
                up = {
                    server: servers.enter_context(
                        running(apps[server], env, Path(tmp) / f"{server}.log")
                    )
                    for server in dict.fromkeys(s.server for s in todo)
                }
                rounds.append(
                    [_measure(s, up[s.server], headers[s.server], args, db, round_no) for s in todo]
                )
    return rounds


def _measure(
    s: Scenario,
    server: tuple[int, int],
    headers: dict[str, str],
    args: argparse.Namespace,
    db: str,
    round_no: int,
) -> Row:
    port, pgid = server
    # CASCADE: tables added later (kudos, nudges) reference learning_event
    asyncio.run(_sql(db, f"TRUNCATE {EVENT_TABLES}, bench_bare CASCADE"))
    cfg = {
        "port": port,
        "path": s.path,
        "body": s.body,
        "batch": s.batch,
        "learners": args.learners,
        "mode": s.mode,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "duration": args.duration,
        "courses": COURSES,
        "headers": headers,
    }
    cpu_before, pg_before = group_cpu_seconds(pgid), postgres_cpu_seconds(db)
    r = load(cfg)
    cpu = group_cpu_seconds(pgid) - cpu_before  # warm-up included
    pg_cpu = postgres_cpu_seconds(db) - pg_before
    table = "bench_bare" if s.server == "bare" else "learning_event"
    stored = asyncio.run(_sql(db, f"SELECT count(*) FROM {table}"))
    per_event = 1e6 / max(r["events_total"], 1)
    row = Row(s, r, cpu * per_event, stored == r["events_total"], pg_cpu * per_event)
    print(
        f"  round {round_no}  {s.name:<38} {row.eps:8.0f} events/s  p50 {r['p50']:7.1f} ms  "
        f"p99 {r['p99']:7.1f} ms  errors {r['errors']}  "
        f"rows {stored}/{r['events_total']}"
        + (f"  first errors: {r['first_errors']}" if r["first_errors"] else ""),
        file=sys.stderr,
    )
    return row


def print_table(rounds: list[list[Row]], args: argparse.Namespace) -> None:
    """One line per scenario: medians over the rounds (events/s also as min-max); "vs bare"
    is the median of each round's ratio to that round's bare single insert."""
    if not rounds or not rounds[0]:
        return
    names = [r.scenario.name for r in rounds[0]]
    by_name = {name: [rnd[i] for rnd in rounds] for i, name in enumerate(names)}
    bare_name = next((n for n in names if n.startswith("bare insert, 1")), None)

    def ratios(name: str, base: str | None = bare_name) -> list[float]:
        """Each round's events/s of ``name`` over the same round's ``base``."""
        if base is None:
            return []
        return [r.eps / b.eps for r, b in zip(by_name[name], by_name[base], strict=True)]

    med = statistics.median
    print()
    print(
        f"{'scenario':<38} {'requests':>8} {'events/s':>9} {'min-max':>13} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'errors':>6} {'vs bare':>7} {'CPU us/ev':>9} {'PG us/ev':>8} {'rows':>4}"
    )
    for name, rows in by_name.items():
        eps = [r.eps for r in rows]
        ratio = f"{med(ratios(name)):6.2f}x" if bare_name else "     -"
        print(
            f"{name:<38} {med([r.result['requests'] for r in rows]):>8.0f} {med(eps):>9.0f} "
            f"{f'{min(eps):.0f}-{max(eps):.0f}':>13} "
            f"{med([r.result['p50'] for r in rows]):>8.1f} "
            f"{med([r.result['p99'] for r in rows]):>8.1f} "
            f"{sum(r.result['errors'] for r in rows):>6} {ratio:>7} "
            f"{med([r.cpu_us for r in rows]):>9.0f} {med([r.pg_us for r in rows]):>8.0f} "
            f"{'ok' if all(r.rows_ok for r in rows) else 'MISS':>4}"
        )
    print(
        f"\nPython {platform.python_version()} ({os.path.realpath(sys.executable)}), "
        f"{args.concurrency} requests in flight, {args.learners} learners, {len(rounds)} "
        f"round(s) of {args.duration:g}s measured after {args.warmup:g}s warm-up per scenario; "
        "medians over the rounds; vs bare: events/s over the bare single insert of the same "
        "round; CPU us/ev: the app server's own CPU per event (PostgreSQL not included); "
        "PG us/ev: CPU per event of the PostgreSQL backends serving the bench database (and "
        "of backends that exited meanwhile); rows: stored rows equal the events the load "
        "generator saw accepted."
    )
    few = [
        n
        for n, rows in by_name.items()
        if min(r.result["requests"] for r in rows) < args.concurrency
    ]
    if few:
        print(
            f"note: fewer than {args.concurrency} requests completed in the window for "
            f"{', '.join(few)}: too coarse to read, raise --duration"
        )
    single = next((n for n in names if by_name[n][0].scenario.single), None)
    if single and bare_name:
        each = ratios(single)
        verdict = "PASS" if med(each) >= TARGET_SINGLE_RATIO else "FAIL"
        print(
            f"{verdict}  single-event ingestion {med(each):.2f}x the bare insert (median; rounds: "
            f"{', '.join(f'{x:.2f}x' for x in each)}; target >= {TARGET_SINGLE_RATIO}x)"
        )
    batch = next((n for n in names if by_name[n][0].scenario.batch_target), None)
    if batch:
        each_eps = [r.eps for r in by_name[batch]]
        verdict = "PASS" if med(each_eps) >= TARGET_BATCH_EPS else "FAIL"
        bare_batch = next((n for n in names if n.startswith("bare insert, x")), None)
        share = ""
        if bare_batch:
            share = f"; {med(ratios(batch, bare_batch)):.2f} of this machine's bare batch insert"
        print(
            f"{verdict}  batch ingestion {med(each_eps):,.0f} events/s (median; rounds: "
            f"{', '.join(f'{x:,.0f}' for x in each_eps)}{share}; "
            f"target >= {TARGET_BATCH_EPS:,} events/s)"
        )


if __name__ == "__main__":
    main()
