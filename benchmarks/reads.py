"""The learner's reads on PostgreSQL: Today, Progress and the catalogue next to a raw top-10 read.

    uv run python benchmarks/reads.py [--duration 5] [--warmup 2] [--concurrency 16]
                                      [--rounds 3] [--only NAME] [--profile DIR]

What a nudge burst hits is thousands of phones opening the app within a minute: the
learner's reads. Creates a fresh database ``learnloop_bench_<random>`` on 127.0.0.1:5432
(user ``postgres``, trust auth), migrates it and seeds the Dutch demo organisation
(``learnloop demo``), signs the demo employee in once and measures, with that session:

- ``raw top-10``: an ASGI callable in this file whose ``GET /top`` reads the organisation's
  ten learners with the most XP from ``learner_state`` through a raw asyncpg pool and answers
  them as JSON: the ceiling for "one indexed read, one small JSON answer" on this machine;
- ``learnloop``: ``backend.app:create_app`` (factory, ``LEARNLOOP_ENV=production``):
  ``GET /api/v1/me/today``, the Today page ``/``, the Progress page ``/progress`` with its
  APIs ``/api/v1/me/xp`` and ``/api/v1/me/goals``, and the catalogue page ``/catalogue``.

Both servers run as ``uvicorn --loop uvloop --http httptools --workers 1`` on a free
127.0.0.1 port, pinned to CPU 0, both at once (the one not under load waits on its socket),
started afresh for each of ``--rounds`` rounds; each round measures the baseline first and
then every page, so the ratio compares numbers taken minutes apart. The load generator
(aiohttp, ``--concurrency`` connections each looping one GET at a time, keep-alive) runs in
its own process pinned to CPU 1. The table gives medians over the rounds: requests/s, p50,
p99, the server's CPU per request (warm-up included), PostgreSQL's CPU per request, and the
ratio to the same round's baseline, with PASS/FAIL against the issue's target (>= 0.3x).

``--profile DIR`` runs the learnloop server under ``py-spy record`` (installed separately:
``uv tool install py-spy``) and writes its collapsed stacks per round to DIR (``learnloop-N.txt``: one line per stack with
its sample count; ``flamegraph.pl`` or speedscope draw them).

Everything stops by itself; the database is dropped at the end, also on errors and Ctrl+C.
Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = "127.0.0.1"
PG = "postgres@127.0.0.1:5432"
TARGET_RATIO = 0.3


# --- the baseline: a raw ASGI app (served by uvicorn exactly like learnloop) -------------------

_pool: Any = None
_TOP = (
    "SELECT user_id, xp_total, level, current_streak FROM learner_state "
    "WHERE organisation_id = $1 ORDER BY xp_total DESC, user_id LIMIT 10"
)


async def _send(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``GET /top``: the organisation's top 10 by XP, one raw asyncpg read, as JSON."""
    global _pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                import asyncpg

                # learnloop's engine: pool_size 10 + max_overflow 20
                _pool = await asyncpg.create_pool(
                    os.environ["BENCH_RAW_DSN"], min_size=10, max_size=30
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
    if scope["path"] != "/top":
        await _send(send, 404, b'{"detail":"not found"}')
        return
    async with _pool.acquire() as conn:
        rows = await conn.fetch(_TOP, int(os.environ["BENCH_ORG_ID"]))
    body = [
        {"user_id": r[0], "xp_total": r[1], "level": r[2], "current_streak": r[3]} for r in rows
    ]
    await _send(send, 200, json.dumps(body).encode())


# --- load generator (runs in its own process) ---------------------------------------------------


async def run_load(cfg: dict[str, Any]) -> dict[str, Any]:
    """Fixed-concurrency GETs of one path over keep-alive connections; warm-up first, then
    the measured ``duration``. cfg: port, path, cookie, concurrency, warmup, duration."""
    import aiohttp

    url = f"http://{HOST}:{cfg['port']}{cfg['path']}"
    headers = {"Cookie": cfg["cookie"], "Accept-Language": "nl"} if cfg["cookie"] else {}
    done: list[tuple[float, float]] = []
    errors: list[tuple[float, str]] = []
    sizes: list[int] = []

    async def loop(session: aiohttp.ClientSession, until: float) -> None:
        while time.perf_counter() < until:
            start = time.perf_counter()
            try:
                async with session.get(url, headers=headers, allow_redirects=False) as resp:
                    body = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors.append((time.perf_counter(), repr(exc)))
                continue
            end = time.perf_counter()
            if status != 200:
                errors.append((end, f"{status}: {body[:300]!r}"))
                continue
            if not sizes:
                sizes.append(len(body))
            done.append((end, end - start))

    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=cfg["concurrency"])
    # no cookie jar: the session cookie goes as a header, Secure flag or not
    jar = aiohttp.DummyCookieJar()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=jar) as s:
        began = time.perf_counter()
        measure_from = began + cfg["warmup"]
        measure_to = measure_from + cfg["duration"]
        await asyncio.gather(*(loop(s, measure_to) for _ in range(cfg["concurrency"])))
    window = sorted(lat for end, lat in done if measure_from <= end <= measure_to)
    q = (
        statistics.quantiles(window, n=100, method="inclusive")
        if len(window) > 1
        else [window[0] if window else 0.0] * 99
    )
    return {
        "requests": len(window),
        "requests_total": len(done),
        "elapsed": cfg["duration"],
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
        "bytes": sizes[0] if sizes else 0,
        "errors": sum(1 for t, _ in errors if t >= measure_from),
        "first_errors": [e for _, e in errors[:3]],
    }


def load(cfg: dict[str, Any]) -> dict[str, Any]:
    # In its own process, pinned to the other CPU: the client never shares a core with a server.
    code = (
        "import asyncio, json, sys; sys.path.insert(0, sys.argv[1]); "
        "import uvloop; from reads import run_load; "
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


# --- servers, the database and signing in --------------------------------------------------------

sys.path.append(str(HERE))  # after the project: benchmarks/pwa.py must not shadow pwa/
from ingest import _admin, _sql, postgres_cpu_seconds, uvicorn_argv  # noqa: E402
from server_choice import _pin, free_port, group_cpu_seconds, wait_until_up  # noqa: E402


@contextlib.contextmanager
def running(app: list[str], env: dict[str, str], log: Path, py_spy: Path | None = None) -> Any:
    port = free_port()
    argv = uvicorn_argv(app, port)
    if py_spy is not None:
        argv = ["py-spy", "record", "--rate", "250", "--format", "raw", "-o", str(py_spy)]
        argv += ["--", *uvicorn_argv(app, port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
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
                # py-spy writes its flame graph when its child ends: stop uvicorn, not py-spy
                os.killpg(proc.pid, signal.SIGINT if py_spy else signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def _cookies(response: Any) -> dict[str, str]:
    out = {}
    for header in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        out[name.strip()] = rest.split(";", 1)[0]
    return out


def sign_in(port: int, email: str, password: str) -> str:
    """A Cookie header of a signed-in learner (session + CSRF cookie), read from the answers'
    Set-Cookie headers (production marks them Secure; this talks plain HTTP to 127.0.0.1)."""
    base = f"http://{HOST}:{port}"
    with urllib.request.urlopen(f"{base}/login", timeout=30) as response:
        jar = _cookies(response)
    request = urllib.request.Request(
        f"{base}/api/v1/auth/login",
        data=json.dumps({"email": email, "password": password}).encode(),
        headers={
            "content-type": "application/json",
            "x-csrf-token": jar["learnloop_csrf"],
            "cookie": f"learnloop_csrf={jar['learnloop_csrf']}",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, response.status
        jar.update(_cookies(response))
    return "; ".join(f"{k}={v}" for k, v in jar.items())


@dataclass(frozen=True)
class Scenario:
    name: str
    server: str  # "raw" | "learnloop"
    path: str


SCENARIOS = [
    Scenario("raw asyncpg top-10 (baseline)", "raw", "/top"),
    Scenario("learnloop /healthz (no reads)", "learnloop", "/healthz"),
    Scenario("GET /api/v1/me/today", "learnloop", "/api/v1/me/today"),
    Scenario("Today page /", "learnloop", "/"),
    Scenario("Progress page /progress", "learnloop", "/progress"),
    Scenario("GET /api/v1/me/xp", "learnloop", "/api/v1/me/xp"),
    Scenario("GET /api/v1/me/goals", "learnloop", "/api/v1/me/goals"),
    Scenario("Catalogue page /catalogue", "learnloop", "/catalogue"),
]


@dataclass
class Row:
    scenario: Scenario
    result: dict[str, Any]
    cpu_us: float  # server CPU per request
    pg_us: float  # PostgreSQL CPU per request

    @property
    def rps(self) -> float:
        return float(self.result["requests"]) / float(self.result["elapsed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per run")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the table: medians)")
    parser.add_argument("--only", default="", help="only pages whose name contains this")
    parser.add_argument("--profile", type=Path, help="py-spy stacks of learnloop here")
    args = parser.parse_args()
    if not (
        1 <= args.duration <= 120
        and 0 <= args.warmup <= 60
        and 1 <= args.concurrency <= 256
        and 1 <= args.rounds <= 20
    ):
        parser.error("keep it bounded: duration 1-120 s, warm-up 0-60 s, concurrency 1-256")
    db = f"learnloop_bench_{secrets.token_hex(5)}"
    url = f"postgresql+asyncpg://{PG}/{db}"
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    asyncio.run(_admin(f'CREATE DATABASE "{db}"'))
    rounds: list[list[Row]] = []
    try:
        rounds = _run_all(args, db, url)
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            print(f"dropped database {db}", file=sys.stderr)
    print_table(rounds, args)


def _run_all(args: argparse.Namespace, db: str, url: str) -> list[list[Row]]:
    env = {
        **os.environ,
        "LEARNLOOP_ENV": "production",
        "LEARNLOOP_DATABASE_URL": url,
        "LEARNLOOP_SECRET_KEY": secrets.token_urlsafe(48),
        "LEARNLOOP_LOG_LEVEL": "WARNING",
        "BENCH_RAW_DSN": f"postgresql://{PG}/{db}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("LEARNLOOP_SECRET_KEY_FILE", None)
    started = time.perf_counter()
    for step in (["migrate"], ["demo"]):
        result = subprocess.run(
            [sys.executable, "-m", "backend.cli", *step],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if result.returncode != 0:
            raise SystemExit(f"learnloop {step[0]} failed:\n{result.stdout}{result.stderr}")
    sys.path.insert(0, str(ROOT))  # the project's pwa/ package, not benchmarks/pwa.py
    from backend.demo.seed import DEMO_PASSWORD, demo_logins

    email = next(login.email for login in demo_logins() if login.role == "employee")
    org_id = asyncio.run(
        _sql(db, "SELECT organisation_id FROM user_account WHERE email = $1", email)
    )
    env["BENCH_ORG_ID"] = str(org_id)
    learners = asyncio.run(_sql(db, "SELECT count(*) FROM learner_state"))
    asyncio.run(_sql(db, "ANALYZE"))
    print(
        f"database {db}: migrated and seeded (demo organisation, {learners} learner states) in "
        f"{time.perf_counter() - started:.1f}s; signed in as {email}; load: aiohttp, "
        f"{args.concurrency} in flight, {args.warmup:g}s warm-up + {args.duration:g}s per page; "
        f"server on CPU 0, load on CPU 1; Python {platform.python_version()}",
        file=sys.stderr,
    )
    apps = {
        "raw": ["--app-dir", str(HERE), "reads:raw_app"],
        "learnloop": ["--factory", "backend.app:create_app"],
    }
    todo = [s for s in SCENARIOS if s.server == "raw" or args.only.lower() in s.name.lower()]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    rounds: list[list[Row]] = []
    with tempfile.TemporaryDirectory(prefix="learnloop-bench-") as tmp:
        for round_no in range(1, args.rounds + 1):
            spy = {
                "learnloop": args.profile / f"learnloop-{round_no}.txt" if args.profile else None
            }
            with contextlib.ExitStack() as servers:
                up = {
                    name: servers.enter_context(
                        running(apps[name], env, Path(tmp) / f"{name}.log", spy.get(name))
                    )
                    for name in ("raw", "learnloop")
                }
                cookie = sign_in(up["learnloop"][0], email, DEMO_PASSWORD)
                rounds.append([_measure(s, up[s.server], cookie, args, db, round_no) for s in todo])
    return rounds


def _measure(
    s: Scenario,
    server: tuple[int, int],
    cookie: str,
    args: argparse.Namespace,
    db: str,
    round_no: int,
) -> Row:
    port, pgid = server
    cfg = {
        "port": port,
        "path": s.path,
        "cookie": cookie if s.server == "learnloop" else "",
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "duration": args.duration,
    }
    cpu_before, pg_before = group_cpu_seconds(pgid), postgres_cpu_seconds(db)
    r = load(cfg)
    cpu = group_cpu_seconds(pgid) - cpu_before  # warm-up included
    pg_cpu = postgres_cpu_seconds(db) - pg_before
    per_request = 1e6 / max(r["requests_total"], 1)
    row = Row(s, r, cpu * per_request, pg_cpu * per_request)
    print(
        f"  round {round_no}  {s.name:<32} {row.rps:8.0f} req/s  p50 {r['p50']:7.1f} ms  "
        f"p99 {r['p99']:7.1f} ms  {r['bytes']:>7} bytes  errors {r['errors']}"
        + (f"  first errors: {r['first_errors']}" if r["first_errors"] else ""),
        file=sys.stderr,
    )
    return row


def print_table(rounds: list[list[Row]], args: argparse.Namespace) -> None:
    """One line per page: medians over the rounds; "vs raw" is the median of each round's
    requests/s over that round's baseline."""
    if not rounds or not rounds[0]:
        return
    names = [r.scenario.name for r in rounds[0]]
    by_name = {name: [rnd[i] for rnd in rounds] for i, name in enumerate(names)}
    base = names[0]
    med = statistics.median

    def ratios(name: str) -> list[float]:
        return [r.rps / b.rps for r, b in zip(by_name[name], by_name[base], strict=True)]

    print()
    print(
        f"{'page':<32} {'req/s':>7} {'min-max':>11} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'errors':>6} {'vs raw':>7} {'CPU us/req':>10} {'PG us/req':>9}"
    )
    for name, rows in by_name.items():
        each = [r.rps for r in rows]
        print(
            f"{name:<32} {med(each):>7.0f} {f'{min(each):.0f}-{max(each):.0f}':>11} "
            f"{med([r.result['p50'] for r in rows]):>7.1f} "
            f"{med([r.result['p99'] for r in rows]):>7.1f} "
            f"{sum(r.result['errors'] for r in rows):>6} {med(ratios(name)):>6.2f}x "
            f"{med([r.cpu_us for r in rows]):>10.0f} {med([r.pg_us for r in rows]):>9.0f}"
        )
    print(
        f"\nPython {platform.python_version()} ({os.path.realpath(sys.executable)}), "
        f"{args.concurrency} requests in flight, {len(rounds)} round(s) of {args.duration:g}s "
        f"measured after {args.warmup:g}s warm-up per page; medians over the rounds; vs raw: "
        "requests/s over the same round's raw top-10 read; CPU us/req: the server's own CPU "
        "per request (warm-up included); PG us/req: the PostgreSQL backends' CPU per request."
    )
    for name in names[1:]:
        if "healthz" in name:  # the framework's floor, for reading the others: no target
            continue
        each = ratios(name)
        verdict = "PASS" if med(each) >= TARGET_RATIO else "FAIL"
        print(
            f"{verdict}  {name}: {med(each):.2f}x the raw read (rounds: "
            f"{', '.join(f'{x:.2f}x' for x in each)}; target >= {TARGET_RATIO}x)"
        )


if __name__ == "__main__":
    main()
