"""The insights' queries on PostgreSQL: 100,000 learners and 10,000,000 learning events.

    uv run python benchmarks/insights.py [--learners 100000] [--events 10000000]
                                         [--weeks 52] [--team-size 10] [--nudges 500000]
                                         [--runs 20] [--live-runs 5] [--period-weeks 12]
                                         [--team-plans] [--keep] [--db NAME]

Creates a fresh database ``learnloop_bench_<random>`` on 127.0.0.1:5432 (user ``postgres``,
trust auth), migrates it and seeds one organisation: ``--learners`` people in teams of
``--team-size`` (each with a manager; job families; learner states with streaks), 40
competencies, 400 courses (job families, one or two competencies each), three organisation
challenges and ``--nudges`` nudges with generate_series; then ``--events`` learning events
over the last ``--weeks`` weeks with COPY in chunks of 1,000,000 rows (progress, completions,
experiences, informal moments and a few testimonials; some learners far more active than
others). The COPY runs without foreign-key checks and triggers (``session_replication_role
= replica``); the rollups are then built by ``learnloop_insights_rebuild``, the SQL of the
ingestion trigger and of the migration's backfill (tests/insights/test_queries.py shows the
trigger's rows equal the rebuilt ones). ``VACUUM ANALYZE`` after seeding.

Then it runs each insights query (``backend.insights.queries``, for a group made by
``privacy.group_for`` as the pages do) over the pages' preset period of the last
``--period-weeks`` weeks (the leadership summary: the last month):

- ``org, live``: the whole organisation from the rollups (``--live-runs`` times each), as an
  organisation under ``snapshots.MIN_LEARNERS`` is always answered, with
  ``EXPLAIN (ANALYZE, BUFFERS)`` of every SQL statement each query sends;
- the worker's refresh (``snapshots.refresh``: every kept query for every preset), timed;
- ``org, kept``: the whole organisation as the app answers a large one, from the kept series;
- ``team``: one team, live (plans too with ``--team-plans``);

``--runs`` times each (p50/p99), with the sum of the p50s (one insights page showing all of
them), and one plain ``SELECT count(*) FROM learning_event`` timed in the same run as the
yardstick (ratio = query p50 / count p50). PASS/FAIL: every query the app serves (team live,
organisation kept) under 1 s at p99 and one page of them under 1 s at p50.

The database is dropped at the end (unless ``--keep``; ``--db`` reuses a kept one), also on
errors and Ctrl+C. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import secrets
import signal
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG = "postgres@127.0.0.1:5432"
TARGET_SECONDS = 1.0
CHUNK = 1_000_000
COMPETENCIES = 40
COURSES = 400
FAMILIES = ("Finance", "Sales", "IT", "Operations", "HR", "Marketing", "Legal", "Support")
# kind, share of events, minutes range
KINDS = (
    ("progress", 0.42, (0, 30)),
    ("completion", 0.15, (10, 90)),
    ("experience", 0.10, (5, 45)),
    ("informal", 0.31, (2, 30)),
    ("testimonial", 0.02, (0, 0)),
)


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://{PG}/postgres", timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_url(url: str) -> str:
    return url.replace("postgresql+asyncpg", "postgresql")


# $1 today, $2 learners, $3 team size, $4 nudges, $5 weeks of history
SEED_SQL = [
    """
    INSERT INTO organisation (name, slug, default_timezone, default_locale, settings, created_at)
    VALUES ('Bench BV', 'bench', 'Europe/Amsterdam', 'nl', '{"streak_mode": "weekly"}'::json,
            $1::date - 800)
    """,
    f"""
    INSERT INTO user_account (organisation_id, email, display_name, roles, timezone, locale,
        is_active, leaderboard_opt_in, quiet_hours_start, quiet_hours_end, nudge_kinds_off,
        job_family, created_at)
    SELECT 1, 'l' || i || '@bench.example', 'Learner ' || i,
           CASE WHEN i % $3::int = 0 THEN '["employee", "manager"]'::json
                WHEN i = 1 THEN '["employee", "ld_admin"]'::json
                ELSE '["employee"]'::json END,
           'Europe/Amsterdam', 'nl', i % 211 <> 0, false, time '21:00', time '08:00',
           '[]'::json,
           CASE WHEN i % 13 = 0 THEN NULL
                ELSE (ARRAY{list(FAMILIES)!r})[1 + (i / $3::int) % {len(FAMILIES)}] END,
           $1::date - 700
    FROM generate_series(1, $2::int) AS i
    """,
    """
    INSERT INTO team (organisation_id, name, created_at)
    SELECT 1, 'Team ' || t, $1::date - 700
    FROM generate_series(0, ($2::int - 1) / $3::int) AS t
    """,
    """
    INSERT INTO team_membership (team_id, user_id, organisation_id, is_manager)
    SELECT t.id, u.id, 1, u.id % $3::int = 0
    FROM user_account u JOIN team t ON t.name = 'Team ' || ((u.id - 1) / $3::int)
    """,
    f"""
    INSERT INTO competency (organisation_id, name, description)
    SELECT 1, 'Competency ' || c, '' FROM generate_series(1, {COMPETENCIES}) AS c
    """,
    f"""
    INSERT INTO course (organisation_id, title, description, provider, format, duration_minutes,
        cost_cents, hot_skill, job_family, created_at)
    SELECT 1, 'Course ' || c, '', 'Bench', 'elearning', 30 + c % 90, (c % 20) * 2500,
           c % 17 = 0,
           CASE WHEN c % 9 = 0 THEN NULL
                ELSE (ARRAY{list(FAMILIES)!r})[1 + c % {len(FAMILIES)}] END,
           $1::date - 700
    FROM generate_series(1, {COURSES}) AS c
    """,
    f"""
    INSERT INTO course_competency (course_id, competency_id, organisation_id)
    SELECT c.id, 1 + (c.id * k) % {COMPETENCIES}, 1
    FROM course c CROSS JOIN generate_series(1, 2) AS k
    WHERE k = 1 OR c.id % 2 = 0
    ON CONFLICT DO NOTHING
    """,
    """
    INSERT INTO learner_state (user_id, organisation_id, xp_total, level, current_streak,
        longest_streak, freezes_banked, last_active_date, weekly_goal_minutes, data, version,
        updated_at)
    SELECT u.id, 1, 500, 3, (u.id * 7) % 23, 30, u.id % 2, $1::date - (u.id % 40), 60,
           '{}'::json, 1, $1::date
    FROM user_account u
    """,
    """
    INSERT INTO challenge (organisation_id, kind, title, description, starts_on, ends_on,
        definition, pledge, message, closing_message, progress, created_at)
    SELECT 1, 'individual', title, '', $1::date - starts, $1::date - starts + days,
           json_build_object('challenge_id', 'bench-' || n, 'title', title,
                             'starts_on', $1::date - starts, 'ends_on', $1::date - starts + days,
                             'event_kind', kind, 'target_count', target,
                             'competency_id', competency, 'hot_skill_only', hot),
           '', '', '', 0, $1::date - 100
    FROM (VALUES (1, 'Three completions in four weeks', 60, 28, 'completion', 3, NULL, false),
                 (2, 'Five moments about Competency 3', 30, 27, 'informal', 5, 3, false),
                 (3, 'A hot skill this month', 20, 30, 'completion', 1, NULL, true))
         AS v(n, title, starts, days, kind, target, competency, hot)
    """,
    """
    INSERT INTO nudge (id, organisation_id, user_id, kind, variant, dedupe_key, locale, title,
        body, url, status, due_at, attempts, last_error, created_at, sent_at, clicked_at,
        learned_at)
    SELECT md5('n' || n), 1, 1 + (n::bigint * 7919) % $2::int,
           (ARRAY['reminder', 'streak_risk', 'goal_progress', 'kudos_received'])[1 + n % 4],
           (ARRAY['a', 'b', 'c'])[1 + (n / 4) % 3], 'bench:' || n, 'nl', 't', 'b', '/',
           'sent', t, 1, '', t, t,
           CASE WHEN n % 5 = 0 THEN t + interval '10 minutes' END,
           CASE WHEN n % 7 < 2 THEN t + interval '3 hours' END
    FROM generate_series(1, $4::int) AS n
    CROSS JOIN LATERAL (SELECT ($1::date - (n % 56))::timestamptz + interval '18 hours' AS t) x
    """,
]


def _renumbered(sql: str, params: dict[int, Any]) -> tuple[str, list[Any]]:
    wanted = sorted({int(p) for p in re.findall(r"\$(\d)", sql)})
    numbered = re.sub(r"\$(\d)", lambda m: f"${wanted.index(int(m[1])) + 1}", sql)
    return numbered, [params[p] for p in wanted]


def _event_rows(first: int, count: int, learners: int, today: date, weeks: int) -> list[tuple]:
    """``count`` learning_event rows, numbered from ``first`` (their idempotency keys)."""
    rnd = random.Random(first)
    kinds = [k for k, _, _ in KINDS]
    weights = [w for _, w, _ in KINDS]
    minutes = {k: m for k, _, m in KINDS}
    days = weeks * 7
    rows = []
    chosen = rnd.choices(kinds, weights, k=count)
    for n, kind in enumerate(chosen, start=first):
        # some learners learn far more than others
        user = 1 + int(learners * rnd.random() ** 1.6)
        day = today - timedelta(days=int(days * rnd.random()))
        low, high = minutes[kind]
        course = competency = None
        if kind == "informal":
            if rnd.random() < 0.6:
                competency = 1 + rnd.randrange(COMPETENCIES)
        else:
            course = 1 + rnd.randrange(COURSES)
        when = datetime(day.year, day.month, day.day, 9 + n % 10, tzinfo=UTC)
        rows.append(
            (
                1,
                user,
                f"b{n}",
                kind,
                "api" if kind != "informal" else "pwa",
                course,
                competency,
                "Bench learning",
                rnd.randint(low, high),
                when,
                day,
                "",
                "{}",
                when,
            )
        )
    return rows


EVENT_COLUMNS = (
    "organisation_id",
    "user_id",
    "idempotency_key",
    "kind",
    "source",
    "course_id",
    "competency_id",
    "title",
    "minutes",
    "occurred_at",
    "local_date",
    "payload_hash",
    "payload",
    "created_at",
)


async def seed(url: str, args: argparse.Namespace, today: date) -> dict[str, float]:
    import asyncpg

    timings: dict[str, float] = {}
    conn = await asyncpg.connect(_pg_url(url), timeout=10)
    try:
        started = time.perf_counter()
        params = {1: today, 2: args.learners, 3: args.team_size, 4: args.nudges, 5: args.weeks}
        for sql in SEED_SQL:
            statement, values = _renumbered(sql, params)
            await conn.execute(statement, *values)
        timings["people, teams, catalogue, states, nudges"] = time.perf_counter() - started
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        # COPY without the row-by-row foreign-key checks and the rollup trigger; the rollups
        # are then built by learnloop_insights_rebuild, the same SQL as the trigger's (the
        # migration's backfill). tests/insights/test_queries.py shows both give equal rows.
        await conn.execute("SET session_replication_role = replica")
        done = 0
        while done < args.events:
            count = min(CHUNK, args.events - done)
            rows = await loop.run_in_executor(
                None, _event_rows, done, count, args.learners, today, args.weeks
            )
            await conn.copy_records_to_table("learning_event", records=rows, columns=EVENT_COLUMNS)
            done += count
            print(
                f"  {done:,} events copied ({time.perf_counter() - started:.0f}s)",
                file=sys.stderr,
            )
        await conn.execute("SET session_replication_role = origin")
        timings["events (COPY)"] = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("SET work_mem = '256MB'")
        await conn.execute("SELECT learnloop_insights_rebuild(1)")
        timings["rollups (learnloop_insights_rebuild)"] = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        timings["VACUUM ANALYZE"] = time.perf_counter() - started
    finally:
        await conn.close()
    return timings


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(url: str, args: argparse.Namespace, today: date) -> dict[str, Any]:
    from sqlalchemy import event, text
    from sqlmodel.ext.asyncio.session import AsyncSession

    from backend.auth.principal import Principal
    from backend.db.engine import make_engine
    from backend.insights import queries, snapshots
    from backend.insights.privacy import group_for
    from backend.insights.series import Period
    from backend.tenancy import OrgScope

    engine = make_engine(url)
    captured: list[tuple[str, Any]] = []
    capturing = False

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if capturing:
            captured.append((statement, parameters))

    functions = [
        queries.weekly_active_learners,
        queries.streak_distribution,
        queries.minutes_over_time,
        queries.completions_over_time,
        queries.learning_by_competency,
        queries.horizontal_vertical,
        queries.challenge_participation,
        queries.nudge_effectiveness,
        queries.leadership_summary,
    ]
    monday = today - timedelta(days=today.weekday())
    # a preset period of the pages (periods.parse_period), and the last month for the summary
    period = Period(monday - timedelta(weeks=args.period_weeks - 1), today)
    last_month = snapshots.preset_periods(today)[-1]
    principal = Principal(
        organisation_id=1, user_id=1, roles=frozenset({"employee", "ld_admin"}), via="cli"
    )
    result: dict[str, Any] = {"rows": [], "plans": [], "period": period}

    async def timed(label: str, group: Any, runs: int, plans: bool) -> None:
        nonlocal capturing
        for function in functions:
            asked = last_month if function is queries.leadership_summary else period
            # live: the query itself, not its kept answers (a reused database may have some)
            query = snapshots.KEPT[function.__name__] if label == "org, live" else function
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                series = await query(scope, group, asked)
                times.append(time.perf_counter() - t0)
            result["rows"].append((label, function.__name__, times, len(series.rows)))
            if plans:
                captured.clear()
                capturing = True
                await query(scope, group, asked)
                capturing = False
                conn = await session.connection()
                for statement, parameters in list(captured):
                    if not statement.lstrip().upper().startswith("SELECT"):
                        continue
                    plan = await conn.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                    )
                    result["plans"].append((label, function.__name__, [r[0] for r in plan.all()]))
        await session.rollback()

    async with AsyncSession(engine, expire_on_commit=False) as session:
        scope = OrgScope(session, principal)
        team_id = (await session.execute(text("SELECT min(id) FROM team"))).scalar_one()
        groups = {}
        for label, team in (("org, kept", None), ("team", team_id)):
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                groups[label] = await group_for(scope, team_id=team)
                times.append(time.perf_counter() - t0)
            result["rows"].append((label, "group_for (floor check)", times))
        print(f"  organisation: {groups['org, kept'].size:,} learners", file=sys.stderr)
        # live: the rollups, as an organisation below snapshots.MIN_LEARNERS is always answered
        if args.live_runs:
            await timed("org, live", groups["org, kept"], args.live_runs, True)
            print("  measured live", file=sys.stderr)
        t0 = time.perf_counter()
        async with AsyncSession(engine, expire_on_commit=False) as refreshing:
            kept = await snapshots.refresh(refreshing, 1, today)
        result["refresh"] = (time.perf_counter() - t0, kept)
        await timed("org, kept", groups["org, kept"], args.runs, False)
        await timed("team", groups["team"], args.runs, args.team_plans)
        times = []
        for _ in range(max(3, args.runs // 4)):
            t0 = time.perf_counter()
            await session.execute(text("SELECT count(*) FROM learning_event"))
            times.append(time.perf_counter() - t0)
        result["count"] = times
        conn = await session.connection()
        plan = await conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM learning_event"
        )
        result["count_plan"] = [r[0] for r in plan.all()]
        sizes = await session.execute(
            text(
                "SELECT relname, n_live_tup, pg_total_relation_size(relid) FROM pg_stat_user_tables"
                " WHERE relname IN ('learning_event', 'learner_week', 'learner_month',"
                " 'learner_competency_week', 'nudge') ORDER BY relname"
            )
        )
        result["sizes"] = sizes.all()
    await engine.dispose()
    return result


def report(result: dict[str, Any], args: argparse.Namespace, seeded: dict[str, float]) -> bool:
    for label, function, lines in result["plans"]:
        print(f"\n--- EXPLAIN (ANALYZE, BUFFERS) {function} ({label}) ---")
        print("\n".join(lines))
    print("\n--- EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM learning_event ---")
    print("\n".join(result["count_plan"]))
    count_p50 = statistics.median(result["count"])
    print()
    seconds, kept = result["refresh"]
    print(
        f"worker refresh (snapshots.refresh, every kept query x preset): {seconds:.1f}s, {kept} series"
    )
    if seeded:
        for step, seconds in seeded.items():
            print(f"seeded {step}: {seconds:.1f}s")
    for name, rows, size in result["sizes"]:
        print(f"table {name}: {rows:,} rows, {size / 2**20:,.0f} MB with indexes")
    period = result["period"]
    print(
        f"\n{args.learners:,} learners, {args.events:,} events over {args.weeks} weeks; period "
        f"{period.start} to {period.end} ({args.period_weeks} weeks); {args.runs} runs each\n"
    )
    print(f"{'group':<13} {'query':<26} {'rows':>5} {'p50 ms':>8} {'p99 ms':>8} {'x count(*)':>10}")
    ok = True
    page: dict[str, float] = {}
    for row in result["rows"]:
        label, function, times = row[0], row[1], row[2]
        p50, p99 = statistics.median(times), _percentile(times, 99)
        served = label != "org, live"  # the answers the app serves (see the docstring)
        page[label] = page.get(label, 0.0) + p50
        ok &= p99 < TARGET_SECONDS or not served
        n = str(row[3]) if len(row) > 3 else ""
        print(
            f"{label:<13} {function:<26} {n:>5} {p50 * 1000:>8.1f} {p99 * 1000:>8.1f}"
            f" {p50 / count_p50:>10.3f}"
        )
    print(
        f"{'baseline':<13} {'SELECT count(*) events':<26} {'':>5} {count_p50 * 1000:>8.1f}"
        f" {_percentile(result['count'], 99) * 1000:>8.1f} {1.0:>10.3f}"
    )
    for label, total in page.items():
        ok &= total < TARGET_SECONDS or label == "org, live"
        print(
            f"{label}: every query once (one insights page) {total * 1000:.0f} ms at p50"
            f" = {total / count_p50:.2f}x one count(*)"
        )
    verdict = "PASS" if ok else "FAIL"
    print(
        f"{verdict}  every query the app serves (team live, organisation kept) < 1 s at p99,"
        " one page of them < 1 s at p50"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--weeks", type=int, default=52, help="weeks of history")
    parser.add_argument("--team-size", type=int, default=10)
    parser.add_argument("--nudges", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=20, help="runs per query")
    parser.add_argument(
        "--live-runs", type=int, default=5, help="runs per query organisation-wide, live (0: none)"
    )
    parser.add_argument("--period-weeks", type=int, default=12, help="the period asked about")
    parser.add_argument("--team-plans", action="store_true", help="print the team's plans too")
    parser.add_argument("--db", help="reuse this (kept) benchmark database instead of seeding")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    args = parser.parse_args()
    if not (
        1000 <= args.learners <= 1_000_000
        and 1000 <= args.events <= 50_000_000
        and 2 <= args.weeks <= 260
        and 6 <= args.team_size <= 1000
        and 0 <= args.nudges <= 10_000_000
        and 1 <= args.runs <= 1000
        and 0 <= args.live_runs <= 1000
        and 1 <= args.period_weeks <= args.weeks
    ):
        parser.error("keep it bounded: learners 1000-1M, events 1000-50M, weeks 2-260, ...")
    if args.db and not re.fullmatch(r"learnloop_bench_[0-9a-f]{10}", args.db):
        parser.error("--db takes a learnloop_bench_<hex> database this script created")
    db = args.db or f"learnloop_bench_{secrets.token_hex(5)}"
    url = f"postgresql+asyncpg://{PG}/{db}"
    today = datetime.now(UTC).date()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    seeded: dict[str, float] = {}
    try:
        if not args.db:
            asyncio.run(_admin(f'CREATE DATABASE "{db}"'))
            from backend.db.engine import make_engine
            from backend.db.migrate import upgrade

            async def migrate() -> None:
                engine = make_engine(url, null_pool=True)
                await upgrade(engine)
                await engine.dispose()

            asyncio.run(migrate())
            seeded = asyncio.run(seed(url, args, today))
            print(f"database {db}: seeded in {sum(seeded.values()):.0f}s", file=sys.stderr)
        result = asyncio.run(measure(url, args, today))
    finally:
        if args.keep:
            print(f"kept database {db} (reuse with --db {db})", file=sys.stderr)
        else:
            with contextlib.suppress(Exception):
                asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
                print(f"dropped database {db}", file=sys.stderr)
    ok = report(result, args, seeded)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
