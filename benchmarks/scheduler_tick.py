"""The nudge scheduler tick on PostgreSQL: 1,000,000 learners, 1% due.

    uv run python benchmarks/scheduler_tick.py [--learners 1000000] [--due-percent 1]
                                               [--batch 1000] [--orgs 10] [--gc app|python]

Creates a fresh database ``learnloop_bench_<random>`` on 127.0.0.1:5432 (user ``postgres``,
trust auth), migrates it, and bulk-loads with ``generate_series`` (no ORM): ``--orgs``
organisations, ``--learners`` people with their ``learner_state`` rows (timezones Amsterdam,
New York and Kolkata, reminder times 07:00-21:45 or adaptive, some opt-outs), recent
learning for every tenth learner (4 events each, with their XP in the ledger) and for every
due one, badges and kudos for some due learners, and two running challenges per
organisation. Every state row changed at the tick's ``now`` (so the tick reads every due
learner's recent XP), every seventh learner just reached level 3 and every ninth one's
streak is at 4, its longest (celebrations: a level where the recent XP says so, a 4-week
milestone in weekly mode). ``--due-percent`` of the learners have ``next_nudge_at`` in the
past; the rest are spread over the next 24 hours.

Then it prints the plan of the due-learner query (``EXPLAIN ANALYZE``, in a transaction that
is rolled back: it must be an index scan on ``ix_learner_state_next_nudge_at``), times one
full tick (``backend.nudges.scheduler.run_tick``: every due learner processed, in batches of
``--batch``), checks that no learner is left due, times a second tick (nothing due), and
prints a table with PASS/FAIL against the target (the full tick under 1 s). The tick's
process has its garbage collector tuned as a learnloop server process tunes it at startup
(``--gc app``, the default: ``serve`` runs the tick inside) or Python's defaults
(``--gc python``).

The database is dropped at the end, also on errors and Ctrl+C. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import random
import re
import secrets
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG = "postgres@127.0.0.1:5432"
TARGET_SECONDS = 1.0
GC_CHOICES = {
    "app": "tuned as at a learnloop server's startup (gc.freeze, young generation every 100,000)",
    "python": "Python's defaults",
}
# a Tuesday, 17:30 UTC: evening in Amsterdam, lunch in New York, night in Kolkata
NOW = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://{PG}/postgres", timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


SEED_SQL = [
    """
    INSERT INTO organisation (name, slug, default_timezone, default_locale, settings, created_at)
    SELECT 'Org ' || o, 'org-' || o, 'Europe/Amsterdam', 'nl',
           json_build_object('nudges_on_weekends', o % 2 = 0, 'streak_mode',
                             CASE WHEN o % 3 = 0 THEN 'daily' ELSE 'weekly' END),
           $1::timestamptz - interval '400 days'
    FROM generate_series(1, $2::int) AS o
    """,
    """
    INSERT INTO user_account (organisation_id, email, display_name, roles, timezone, locale,
        is_active, leaderboard_opt_in, reminder_time, quiet_hours_start, quiet_hours_end,
        nudge_kinds_off, created_at)
    SELECT 1 + (i % $2::int), 'l' || i || '@bench.example', 'Learner ' || i, '["employee"]'::json,
           (ARRAY['Europe/Amsterdam', 'America/New_York', 'Asia/Kolkata'])[1 + (i % 3)],
           CASE WHEN i % 4 = 0 THEN 'en' ELSE 'nl' END,
           i % 97 <> 0, false,
           CASE WHEN i % 5 = 0 THEN NULL
                ELSE make_time(7 + (i % 15), (i % 4) * 15, 0) END,
           time '21:00', time '08:00',
           CASE WHEN i % 11 = 0 THEN '["budget"]'::json ELSE '[]'::json END,
           $1::timestamptz - interval '300 days'
    FROM generate_series(1, $3::int) AS i
    """,
    """
    INSERT INTO learner_state (user_id, organisation_id, xp_total, level, current_streak,
        longest_streak, freezes_banked, last_active_date, weekly_goal_minutes, data, version,
        next_nudge_at, updated_at)
    SELECT u.id, u.organisation_id, CASE WHEN u.id % 7 = 0 THEN 310 ELSE 500 END, 3, u.id % 9,
           CASE WHEN u.id % 9 = 4 THEN 4 ELSE 10 END, u.id % 3,
           ($1::timestamptz)::date - (u.id % 6), 60, '{}'::json, 1,
           CASE WHEN u.id % $4::int = 0 THEN $1::timestamptz - (u.id % 600) * interval '1 second'
                ELSE $1::timestamptz + (1 + u.id % 86399) * interval '1 second' END,
           $1::timestamptz
    FROM user_account u
    """,
    """
    INSERT INTO learning_event (organisation_id, user_id, idempotency_key, kind, source, title,
        minutes, occurred_at, local_date, payload_hash, payload, created_at)
    SELECT u.organisation_id, u.id, 'bench:' || u.id || ':' || e,
           CASE WHEN e = 1 THEN 'completion' ELSE 'informal' END, 'api', 'Bench learning',
           10 + e * 5, t, t::date, '', '{}'::json, t
    FROM user_account u
    CROSS JOIN generate_series(1, 4) AS e
    CROSS JOIN LATERAL (
        SELECT $1::timestamptz - ((u.id + e * 5) % 20) * interval '1 day'
               - (e * 3 + u.id % 7) * interval '1 hour' AS t
    ) AS moment
    WHERE u.id % 10 = 0 OR u.id % $4::int = 0
    """,
    """
    INSERT INTO xp_ledger (organisation_id, user_id, event_id, amount, reason, local_date,
        created_at)
    SELECT e.organisation_id, e.user_id, e.id, 20, e.kind, e.local_date, e.occurred_at
    FROM learning_event e
    """,
    """
    INSERT INTO badge_definition (organisation_id, code, name, name_en, description,
        description_en, criterion, tiers, is_active, created_at)
    SELECT o.id, 'explorer', 'Ontdekker', 'Explorer', '', '', '{}'::json, '[]'::json, true,
           $1::timestamptz
    FROM organisation o
    """,
    """
    INSERT INTO badge_award (organisation_id, user_id, badge_code, tier, evidence, public_id,
        awarded_at)
    SELECT u.organisation_id, u.id, 'explorer', 'bronze', '[]'::json, md5(u.id::text),
           $1::timestamptz - interval '2 hours'
    FROM user_account u WHERE u.id % ($4::int * 3) = 0
    """,
    """
    INSERT INTO kudos (organisation_id, from_user_id, to_user_id, message, created_at)
    SELECT u.organisation_id, u.id - $2::int, u.id, 'Thanks!', $1::timestamptz - interval '1 hour'
    FROM user_account u WHERE u.id % ($4::int * 5) = 0 AND u.id > $2::int
    """,
    """
    INSERT INTO challenge (organisation_id, kind, title, description, starts_on, ends_on,
        definition, pledge, progress, created_at)
    SELECT o.id, 'individual', 'Winter sprint ' || c, '', ($1::timestamptz)::date - c,
           ($1::timestamptz)::date + 10 - c * 5, '{}'::json, '', 0, $1::timestamptz - interval '3 days'
    FROM organisation o CROSS JOIN generate_series(1, 2) AS c
    """,
]


async def seed(url: str, learners: int, orgs: int, due_every: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"), timeout=10)
    try:
        params = {1: NOW, 2: orgs, 3: learners, 4: due_every}
        for sql in SEED_SQL:
            # asyncpg wants $1..$k: renumber the parameters this statement uses
            wanted = sorted({int(p) for p in re.findall(r"\$(\d)", sql)})
            numbered = re.sub(r"\$(\d)", lambda m, w=wanted: f"${w.index(int(m[1])) + 1}", sql)
            await conn.execute(numbered, *(params[p] for p in wanted))
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def reset(url: str, due_every: int) -> None:
    """Back to the seeded state: no outbox rows, the same learners due as after seeding."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"), timeout=10)
    try:
        await conn.execute("TRUNCATE nudge CASCADE")
        await conn.execute(
            "UPDATE learner_state SET next_nudge_at = $1::timestamptz"
            " - (user_id % 600) * interval '1 second' WHERE user_id % $2::int = 0",
            NOW,
            due_every,
        )
        await conn.execute("VACUUM ANALYZE learner_state")
        await conn.execute("VACUUM ANALYZE nudge")
    finally:
        await conn.close()


async def explain_due_query(ctx: object, batch: int) -> list[str]:
    """The plan of the tick's batch statement on PostgreSQL (in a transaction rolled back)."""
    from sqlalchemy import text

    from backend.nudges.store import BATCH_SQL, batch_parameters

    engine = ctx.engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))  # opens the transaction
        driver: Any = (await conn.get_raw_connection()).driver_connection
        rows = await driver.fetch(
            "EXPLAIN (ANALYZE, BUFFERS) " + BATCH_SQL, *batch_parameters(NOW, batch)
        )
        await conn.rollback()
    return [BATCH_SQL, *(r[0] for r in rows)]


def configure_gc(collector: str) -> None:
    """The cyclic garbage collector as the process running the tick has it: ``app``, tuned as
    ``serve`` and ``learnloop worker`` tune it at startup (``backend.process_tuning``);
    ``python``, Python's defaults."""
    if collector == "app":
        from backend.process_tuning import tune_garbage_collector

        tune_garbage_collector()


def _tick_process(
    url: str,
    batch: int,
    workers: int | None,
    collector: str,
    seed: int,
    barrier: Any,
    results: Any,
) -> None:
    """One scheduler process: connect, wait for the others, run one tick, report."""
    from backend.auth.passwords import TEST_HASH_COST
    from backend.context import AppContext
    from backend.nudges.scheduler import run_tick
    from backend.settings import Settings

    configure_gc(collector)

    async def tick() -> None:
        settings = Settings(
            database_url=url, secret_key=secrets.token_urlsafe(48), password_cost=TEST_HASH_COST
        )
        ctx = AppContext.from_settings(settings)
        try:
            # a running worker's pool is warm: open its connections before the start
            backends = []
            async with contextlib.AsyncExitStack() as stack:
                for _ in range(workers or 2):
                    conn = await stack.enter_async_context(ctx.engine.connect())
                    raw = await conn.get_raw_connection()
                    driver: Any = raw.driver_connection
                    backends.append(driver.get_server_pid())
            results.put(backends)
            barrier.wait()  # everyone is connected: the parent reads the CPU counters
            barrier.wait()
            backend_cpu = process_cpu_seconds(backends)
            cpu = time.process_time()
            started = time.perf_counter()
            created = await run_tick(
                ctx, NOW, batch_size=batch, rng=random.Random(seed), workers=workers
            )
            ended = time.perf_counter()
            cpu = time.process_time() - cpu
            # this process's backends end with it: read their CPU now
            after = process_cpu_seconds(backends)
            pg = sum(seconds - backend_cpu.get(pid, 0.0) for pid, seconds in after.items())
            results.put((started, ended, cpu, created, pg))
        finally:
            await ctx.engine.dispose()

    asyncio.run(tick())


def run_in_processes(
    url: str, batch: int, workers: int | None, collector: str, processes: int, ready: Any
) -> tuple[float, float, int, float]:
    """One tick by several scheduler processes at once (SKIP LOCKED splits the due learners):
    the wall time from the common start until the last one is done, their CPU, nudges made and
    their PostgreSQL backends' CPU.
    ``ready()`` runs once all are connected, just before they start."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(processes + 1)
    results = spawn.Queue()
    children = [
        spawn.Process(
            target=_tick_process, args=(url, batch, workers, collector, n, barrier, results)
        )
        for n in range(processes)
    ]
    for child in children:
        child.start()
    backends = [pid for _ in children for pid in results.get(timeout=600)]
    barrier.wait()
    ready(backends)
    barrier.wait()
    reports = [results.get(timeout=600) for _ in children]
    for child in children:
        child.join()
    wall = max(r[1] for r in reports) - min(r[0] for r in reports)
    return wall, sum(r[2] for r in reports), sum(r[3] for r in reports), sum(r[4] for r in reports)


async def measure(
    url: str,
    batch: int,
    profile: bool = False,
    workers: int | None = None,
    processes: int = 1,
    collector: str = "app",
) -> dict[str, Any]:
    from sqlalchemy import text

    from backend.auth.passwords import TEST_HASH_COST
    from backend.context import AppContext
    from backend.nudges.scheduler import run_tick
    from backend.settings import Settings

    settings = Settings(
        database_url=url, secret_key=secrets.token_urlsafe(48), password_cost=TEST_HASH_COST
    )
    ctx = AppContext.from_settings(settings)
    try:
        async with ctx.engine.connect() as conn:
            learners = (await conn.execute(text("SELECT count(*) FROM learner_state"))).scalar_one()
            due = (
                await conn.execute(
                    text("SELECT count(*) FROM learner_state WHERE next_nudge_at <= :now"),
                    {"now": NOW},
                )
            ).scalar_one()
        if processes == 1:
            configure_gc(collector)  # before the clocks start: it imports the app
        plan = await explain_due_query(ctx, batch)
        for line in plan:
            print(line, file=sys.stderr)
        scans = [
            name
            for name in ("ix_learner_state_next_nudge_at", "ix_learning_event_user_occurred")
            if any(name in line and "Index" in line for line in plan)
        ]
        steps: dict[str, float] = {}
        profiler = cProfile.Profile() if profile else None
        cpu_started = time.process_time()
        db = url.rsplit("/", 1)[1]
        pg_started = process_cpu_seconds(await postgres_pids(url, db))
        machine_started = machine_cpu_seconds()
        started = time.perf_counter()
        if processes > 1:
            pids = await postgres_pids(url, db)

            def ready(backends: list[int]) -> None:
                nonlocal pg_started, machine_started
                pg_started = process_cpu_seconds(pids)
                machine_started = machine_cpu_seconds()

            tick, cpu, created, children_pg = run_in_processes(
                url, batch, workers, collector, processes, ready
            )
        else:
            if profiler:
                profiler.enable()
            created = await run_tick(
                ctx,
                NOW,
                batch_size=batch,
                rng=random.Random(1),
                workers=workers,
                step_seconds=steps,
            )
            tick = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
        machine = machine_cpu_seconds() - machine_started
        # backends opened during the tick count from zero
        pg_after = process_cpu_seconds(await postgres_pids(url, db))
        pg_cpu = sum(cpu - pg_started.get(pid, 0.0) for pid, cpu in pg_after.items())
        if processes > 1:
            pg_cpu += children_pg
        print(
            "steps (s, summed over batches): "
            + ", ".join(f"{name} {seconds:.3f}" for name, seconds in steps.items()),
            file=sys.stderr,
        )
        if profiler:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
        async with ctx.engine.connect() as conn:
            left = (
                await conn.execute(
                    text("SELECT count(*) FROM learner_state WHERE next_nudge_at <= :now"),
                    {"now": NOW},
                )
            ).scalar_one()
            rows = (await conn.execute(text("SELECT count(*) FROM nudge"))).scalar_one()
            kinds = (
                await conn.execute(
                    text("SELECT kind, count(*) FROM nudge GROUP BY kind ORDER BY 2 DESC")
                )
            ).all()
        started = time.perf_counter()
        again = await run_tick(ctx, NOW, batch_size=batch)
        idle = time.perf_counter() - started
    finally:
        await ctx.engine.dispose()
    print("nudges by kind: " + ", ".join(f"{k} {n}" for k, n in kinds), file=sys.stderr)
    return {
        "learners": learners,
        "due": due,
        "tick": tick,
        "cpu": cpu,
        "machine": machine,
        "pg_cpu": pg_cpu,
        "created": created,
        "rows": rows,
        "left": left,
        "idle": idle,
        "again": again,
        "index_scans": ", ".join(scans) or "none",
        "collector": collector,
    }


async def postgres_pids(url: str, db: str) -> list[int]:
    """Server processes working for this database: its backends and the shared writers."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"), timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
            " OR backend_type IN ('checkpointer', 'background writer', 'walwriter')",
            db,
        )
    finally:
        await conn.close()
    return [r[0] for r in rows]


def process_cpu_seconds(pids: list[int]) -> dict[int, float]:
    """utime + stime of these processes (PostgreSQL runs on this machine: /proc)."""
    found: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far (all cores; Linux ``/proc/stat``)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def print_table(r: dict[str, Any]) -> None:
    per = 1000 * float(r["tick"]) / max(1, int(r["due"]))
    print()
    print(
        "| learners | due | tick seconds | tick CPU s (Python) | PostgreSQL CPU s "
        "| machine CPU s | nudges created | ms per due learner | idle tick s |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {int(r['learners']):,} | {int(r['due']):,} | {float(r['tick']):.3f} | "
        f"{float(r['cpu']):.3f} | {float(r['pg_cpu']):.2f} | {float(r['machine']):.2f} | "
        f"{int(r['created']):,} | "
        f"{per:.3f} | {float(r['idle']):.4f} |"
    )
    load = os.getloadavg()[0]
    print(f"\n(load average {load:.1f} on {os.cpu_count()} CPUs while measuring)")
    print(f"garbage collector: {GC_CHOICES[r['collector']]}")
    print(f"batch statement plan (EXPLAIN ANALYZE): index scans on {r['index_scans']}")
    ok = float(r["tick"]) < TARGET_SECONDS and int(r["left"]) == 0
    print()
    print(
        f"{'PASS' if ok else 'FAIL'}: full tick {float(r['tick']):.3f} s "
        f"(target < {TARGET_SECONDS:g} s); learners still due afterwards: {r['left']}; "
        f"outbox rows {r['rows']} = created {r['created']}; second tick created {r['again']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=1_000_000)
    parser.add_argument("--due-percent", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--orgs", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="cProfile the full tick")
    parser.add_argument(
        "--repeat", type=int, default=1, help="ticks to time (the due learners reset between)"
    )
    parser.add_argument("--db", help="reuse this (kept) benchmark database instead of seeding")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--workers", type=int, help="batches in flight (default: run_tick's)")
    parser.add_argument(
        "--processes", type=int, default=1, help="scheduler processes ticking at once"
    )
    parser.add_argument(
        "--gc",
        choices=sorted(GC_CHOICES),
        default="app",
        help="the tick's process: collector tuned as the app tunes it (default) or Python's",
    )
    args = parser.parse_args()
    if not (
        1000 <= args.learners <= 5_000_000
        and 0.01 <= args.due_percent <= 50
        and 10 <= args.batch <= 10_000
        and 1 <= args.orgs <= 1000
    ):
        parser.error(
            "keep it bounded: learners 1000-5M, due 0.01-50 %, batch 10-10000, orgs 1-1000"
        )
    due_every = max(1, round(100 / args.due_percent))
    if args.db and not re.fullmatch(r"learnloop_bench_[0-9a-f]{10}", args.db):
        parser.error("--db takes a learnloop_bench_<hex> database this script created")
    db = args.db or f"learnloop_bench_{secrets.token_hex(5)}"
    url = f"postgresql+asyncpg://{PG}/{db}"
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if not args.db:
        asyncio.run(_admin(f'CREATE DATABASE "{db}"'))
    results: list[dict[str, Any]] = []
    try:
        from backend.db.engine import make_engine
        from backend.db.migrate import upgrade

        async def migrate() -> None:
            engine = make_engine(url, null_pool=True)
            await upgrade(engine)
            await engine.dispose()

        if args.db:
            asyncio.run(reset(url, due_every))
        else:
            started = time.perf_counter()
            asyncio.run(migrate())
            asyncio.run(seed(url, args.learners, args.orgs, due_every))
            print(
                f"database {db}: migrated and loaded {args.learners:,} learners in "
                f"{time.perf_counter() - started:.1f}s",
                file=sys.stderr,
            )
        for attempt in range(max(1, args.repeat)):
            if attempt:
                asyncio.run(reset(url, due_every))
            results.append(
                asyncio.run(
                    measure(url, args.batch, args.profile, args.workers, args.processes, args.gc)
                )
            )
    finally:
        if args.keep:
            print(f"kept database {db} (reuse with --db {db})", file=sys.stderr)
        else:
            with contextlib.suppress(Exception):
                asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
                print(f"dropped database {db}", file=sys.stderr)
    for result in results:
        print_table(result)


if __name__ == "__main__":
    main()
