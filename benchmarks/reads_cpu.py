"""The learner's reads' CPU per request, in-process: no HTTP, no uvicorn, no load generator.

    uv run python benchmarks/reads_cpu.py [--requests 2000] [--concurrency 16] [--only NAME]
                                          [--profile NAME] [--keep DB]

``reads.py`` measures requests/s over HTTP against a raw asyncpg read; on this shared
machine its figures move by 10-30 % between runs. This script measures the same pages'
CPU per request without uvicorn, the socket and the other process: it builds
``backend.app:create_app`` (``LEARNLOOP_ENV=production``) on a fresh ``learnloop_cpu_<random>``
database with the demo organisation (``learnloop demo``), signs the demo employee in through
the app, and calls it as an ASGI app, ``--concurrency`` requests at a time, after a warm-up;
the raw top-10 read of ``reads.py`` (``raw_app``) is measured the same way for the ratio.
It prints the process CPU per request (the app, asyncpg and the event loop, not
PostgreSQL) and the ratio raw/page.

``--profile NAME``: cProfile the page whose name contains NAME and print its top functions
(cumulative and own time). ``--dump DIR``: write each page's first answer to DIR (the CSRF
token masked), to compare pages before and after a change. ``--keep DB``: use (and keep) database DB, seeding it if it has
no organisation yet, to skip the seeding on the next run. ``--callgrind`` (with ``--only``, under
``valgrind --tool=callgrind --instr-atstart=no``): instrumentation on for the measured
requests only, so "Collected" / requests is the instructions per request, steady to a few per
cent whatever else the machine does (CPU time on a loaded machine is not)::

    PYTHONHASHSEED=0 valgrind --tool=callgrind --instr-atstart=no \\
        --callgrind-out-file=/tmp/cg.out .venv/bin/python benchmarks/reads_cpu.py \\
        --keep DB --requests 320 --only "Today page" --callgrind

Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
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
from ingest import PG, _admin, _sql  # noqa: E402

PAGES = [
    ("raw asyncpg top-10 (baseline)", "/top"),
    ("learnloop /healthz", "/healthz"),
    ("GET /api/v1/me/today", "/api/v1/me/today"),
    ("Today page /", "/"),
    ("Progress page /progress", "/progress"),
    ("GET /api/v1/me/xp", "/api/v1/me/xp"),
    ("GET /api/v1/me/goals", "/api/v1/me/goals"),
    ("Catalogue page /catalogue", "/catalogue"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per page")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--only", default="", help="only pages whose name contains this")
    parser.add_argument("--profile", default="", help="cProfile the page whose name has this")
    parser.add_argument("--keep", default="", help="use and keep this database")
    parser.add_argument("--dump", type=Path, help="write each page's first answer here")
    parser.add_argument(
        "--callgrind", action="store_true", help="toggle callgrind around the measured requests"
    )
    args = parser.parse_args()
    db = args.keep or f"learnloop_cpu_{secrets.token_hex(5)}"
    url = f"postgresql+asyncpg://{PG}/{db}"
    os.environ.update(
        LEARNLOOP_ENV="production",
        LEARNLOOP_DATABASE_URL=url,
        LEARNLOOP_SECRET_KEY=os.environ.get("BENCH_SECRET") or secrets.token_urlsafe(48),
        LEARNLOOP_LOG_LEVEL="WARNING",
        BENCH_RAW_DSN=f"postgresql://{PG}/{db}",
    )
    os.environ.pop("LEARNLOOP_SECRET_KEY_FILE", None)
    exists = asyncio.run(
        _sql("postgres", "SELECT count(*) FROM pg_database WHERE datname = $1", db)
    )
    if not exists:
        asyncio.run(_admin(f'CREATE DATABASE "{db}"'))
    try:
        if not exists or not asyncio.run(_sql(db, "SELECT count(*) FROM organisation")):
            for step in (["migrate"], ["demo"]):
                subprocess.run(
                    [sys.executable, "-m", "backend.cli", *step],
                    cwd=ROOT, check=True, capture_output=True, timeout=600,
                )  # fmt: skip
            asyncio.run(_sql(db, "ANALYZE"))
        import uvloop

        uvloop.run(_drive(args, db))
    finally:
        if not args.keep:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


class Client:
    """Calls an ASGI app with GETs; keeps the cookies it is given."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.cookies: dict[str, str] = {}

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        sent = False
        status = 0
        out: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"set-cookie":
                        key, _, rest = value.decode().partition("=")
                        self.cookies[key.strip()] = rest.split(";", 1)[0]
            elif message["type"] == "http.response.body":
                out.append(message.get("body", b""))

        raw = [
            (b"accept", b"text/html,application/json"),
            (b"accept-language", b"nl"),
            (b"host", b"127.0.0.1:8000"),
        ]
        if self.cookies:
            jar = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            raw.append((b"cookie", jar.encode()))
        for k, v in (headers or {}).items():
            raw.append((k.lower().encode(), v.encode()))
        if body:
            raw.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "headers": raw,
            "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000), "state": {},
        }  # fmt: skip
        await self.app(scope, receive, send)
        return status, b"".join(out)


async def _drive(args: argparse.Namespace, db: str) -> None:
    from reads import raw_app

    from backend.app import create_app
    from backend.demo.seed import DEMO_PASSWORD, demo_logins

    email = next(login.email for login in demo_logins() if login.role == "employee")
    os.environ["BENCH_ORG_ID"] = str(
        await _sql(db, "SELECT organisation_id FROM user_account WHERE email = $1", email)
    )
    app: Any = create_app()
    client = Client(app)
    raw = Client(raw_app)
    lifespan_q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def lifespan_send(message: dict[str, Any]) -> None:
        pass

    await lifespan_q.put({"type": "lifespan.startup"})
    raw_life = asyncio.ensure_future(raw_app({"type": "lifespan"}, lifespan_q.get, lifespan_send))
    await asyncio.sleep(0.5)
    async with app.lifespan():
        status, _ = await client.request("GET", "/login")
        csrf = client.cookies["learnloop_csrf"]
        status, body = await client.request(
            "POST",
            "/api/v1/auth/login",
            json.dumps({"email": email, "password": DEMO_PASSWORD}).encode(),
            {"content-type": "application/json", "x-csrf-token": csrf},
        )
        assert status == 200, (status, body)
        base = 0.0
        for name, path in PAGES:
            if path != "/top" and args.only.lower() not in name.lower():
                continue
            who = raw if path == "/top" else client
            if args.dump and path != "/top":
                args.dump.mkdir(parents=True, exist_ok=True)
                _, page = await who.request("GET", path)
                file = path.strip("/").replace("/", "_") or "today"
                (args.dump / f"{file}.html").write_bytes(page.replace(csrf.encode(), b"CSRF"))
            counted = args.only.lower() in name.lower()  # by callgrind: --only raw for the raw read
            cpu = await _measure(
                who,
                path,
                args,
                counted,
                profile=bool(args.profile) and (args.profile.lower() in name.lower()),
            )
            if path == "/top":
                base = cpu
            print(f"{name:<32} {cpu:8.0f} us/req  {base / cpu:5.2f}x", flush=True)
    await lifespan_q.put({"type": "lifespan.shutdown"})
    await raw_life


async def _measure(
    client: Client, path: str, args: argparse.Namespace, counted: bool, profile: bool
) -> float:
    per = max(1, args.requests // args.concurrency)
    bad: list[int] = []
    fixed = dict(client.cookies)

    async def worker(n: int) -> None:
        for _ in range(n):
            client.cookies = dict(fixed)  # every request sends the signed-in cookie
            status, body = await client.request("GET", path)
            if status != 200:
                bad.append(status)
                if len(bad) == 1:
                    print(f"  {path}: {status} {body[:300]!r}", file=sys.stderr)

    await asyncio.gather(*(worker(max(1, per // 5)) for _ in range(args.concurrency)))
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    if args.callgrind and counted:
        _callgrind("on")
    cpu = time.process_time()
    await asyncio.gather(*(worker(per) for _ in range(args.concurrency)))
    cpu = time.process_time() - cpu
    if args.callgrind and counted:
        _callgrind("off")
        print(f"  callgrind: {per * args.concurrency} requests of {path}", flush=True)
    if profiler:
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(40)
    client.cookies = fixed
    if bad:
        print(f"  {path}: {len(bad)} answers not 200", file=sys.stderr)
    return 1e6 * cpu / (per * args.concurrency)


def _callgrind(state: str) -> None:
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], capture_output=True)


if __name__ == "__main__":
    main()
