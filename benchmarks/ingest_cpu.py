"""App CPU per ingested event, in-process: learnloop's xAPI statements route on PostgreSQL, no HTTP.

    uv run python benchmarks/ingest_cpu.py [--batches 480] [--batch 100] [--concurrency 16]
                                           [--learners 1000] [--default-badges] [--callgrind]

``ingest.py`` measures throughput over HTTP against a bare baseline; on these VMs its
figures drift by 10-30 % between runs of the same code, too much to see a change of a few
per cent. This script measures the same work without the drift's main sources: it builds
the app (``backend.app:create_app``, ``LEARNLOOP_ENV=production``) on a fresh
``learnloop_cpu_<random>`` database (seeded like ``ingest.py``'s: one organisation,
``--learners`` learners, 20 courses; with ``--default-badges`` also the badges
``learnloop create-org`` gives), and calls it as an ASGI app with xAPI statement
POSTs (bodies made up front, each connection's own learners, timestamps up to six days
back), ``--concurrency`` at a time, after three warm-up batches per connection.

It prints the app's CPU per event (process time: the app, asyncpg and the event loop, not
PostgreSQL) and how many requests were answered 200. With ``--callgrind``, run it
under ``valgrind --tool=callgrind --instr-atstart=no``: it switches instrumentation on for
the measured batches only (``callgrind_control -i on``), so valgrind's "Collected" count is
the instructions of those batches, repeatable to ~0.3 % (the seed is fixed; set
``PYTHONHASHSEED=0``), whatever else the machine does:

    PYTHONHASHSEED=0 valgrind --tool=callgrind --instr-atstart=no \\
        --callgrind-out-file=/tmp/cg.out .venv/bin/python benchmarks/ingest_cpu.py \\
        --batches 160 --callgrind

Divide "Collected" by batches x batch for instructions per event. The database is dropped
at the end. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(HERE))
from ingest import COURSES, PG, _admin, _sql, _statement, postgres_cpu_seconds, seed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=480, help="measured requests in all")
    parser.add_argument("--batch", type=int, default=100, help="statements per request")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--learners", type=int, default=1000, help="learners in the org")
    parser.add_argument(
        "--default-badges",
        action="store_true",
        help="give the organisation the default badges, as `learnloop create-org` does",
    )
    parser.add_argument(
        "--callgrind", action="store_true", help="toggle callgrind around the measured batches"
    )
    args = parser.parse_args()
    db = f"learnloop_cpu_{secrets.token_hex(5)}"
    url = f"postgresql+asyncpg://{PG}/{db}"
    asyncio.run(_admin(f"CREATE DATABASE {db}"))
    try:
        os.environ.update(
            LEARNLOOP_ENV="production",
            LEARNLOOP_DATABASE_URL=url,
            LEARNLOOP_SECRET_KEY=secrets.token_urlsafe(48),
            LEARNLOOP_LOG_LEVEL="WARNING",
        )
        os.environ.pop("LEARNLOOP_SECRET_KEY_FILE", None)
        subprocess.run(
            [sys.executable, "-m", "backend.cli", "migrate"],
            cwd=ROOT, check=True, capture_output=True, timeout=180,
        )  # fmt: skip
        api_key = asyncio.run(seed(url, args.learners))
        if args.default_badges:
            asyncio.run(_add_default_badges(url))
        asyncio.run(_sql(db, "ANALYZE"))
        import uvloop

        uvloop.run(_drive(args, api_key, db))
    finally:
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))


async def _drive(args: argparse.Namespace, api_key: str, db: str) -> None:
    from backend.app import create_app

    app: Any = create_app()
    conc, batch, n = args.concurrency, args.batch, args.learners
    per_connection = max(1, args.batches // conc)
    own = [list(range(w * n // conc, (w + 1) * n // conc)) or [w % n] for w in range(conc)]
    random.seed(1)

    def body(worker: int, i: int) -> bytes:
        learners = own[worker]
        items = [
            _statement(learners[(i * batch + j) % len(learners)], COURSES) for j in range(batch)
        ]
        return json.dumps(items if batch > 1 else items[0]).encode()

    bodies = [[body(w, i) for i in range(per_connection + 3)] for w in range(conc)]
    headers = [
        (b"authorization", f"Bearer {api_key}".encode()),
        (b"x-experience-api-version", b"1.0.3"),
        (b"content-type", b"application/json"),
    ]
    statuses: list[int] = []

    async def post(data: bytes) -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": data, "more_body": False}
            await asyncio.sleep(3600)  # the client never goes away
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/xapi/statements",
            "raw_path": b"/xapi/statements", "query_string": b"", "root_path": "",
            "headers": [*headers, (b"content-length", str(len(data)).encode())],
            "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000), "state": {},
        }  # fmt: skip
        await app(scope, receive, send)

    async def connection(worker: int, first: int, last: int) -> None:
        for i in range(first, last):
            await post(bodies[worker][i])

    async with app.lifespan():
        await asyncio.gather(*(connection(w, 0, 3) for w in range(conc)))  # warm-up
        statuses.clear()
        if args.callgrind:
            _callgrind("on")
        cpu, wall = time.process_time(), time.perf_counter()
        pg_cpu = postgres_cpu_seconds(db)
        await asyncio.gather(*(connection(w, 3, 3 + per_connection) for w in range(conc)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        pg_cpu = postgres_cpu_seconds(db) - pg_cpu
        if args.callgrind:
            _callgrind("off")
    events = per_connection * conc * batch
    refused = sorted({s for s in statuses if s != 200})
    print(
        f"{events:,} events in {per_connection * conc} requests of {batch}: "
        f"app CPU {1e6 * cpu / events:.1f} us per event, PostgreSQL CPU "
        f"{1e6 * pg_cpu / events:.1f} us per event, {events / wall:,.0f} events/s "
        f"in-process; {statuses.count(200)} of {per_connection * conc} requests answered 200"
        + (f"; statuses other than 200: {refused}" if refused else "")
    )


async def _add_default_badges(url: str) -> None:
    from backend.badges.defaults import ensure_default_badges
    from backend.context import AppContext
    from backend.settings import Settings

    ctx = AppContext.from_settings(Settings(database_url=url, env="test"), null_pool=True)
    try:
        async with ctx.sessionmaker() as session:
            org_id = await _sql_value(session, "SELECT id FROM organisation")
            await ensure_default_badges(session, org_id)
            await session.commit()
    finally:
        await ctx.engine.dispose()


async def _sql_value(session: Any, sql: str) -> Any:
    from sqlalchemy import text

    return (await session.exec(text(sql))).scalar_one()


def _callgrind(state: str) -> None:
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], capture_output=True)


if __name__ == "__main__":
    main()
