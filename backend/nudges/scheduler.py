"""The nudge scheduler tick: learners whose ``next_nudge_at`` has come -> outbox rows.

Called every minute by the worker loop (and in-process by ``serve`` on SQLite). One
transaction per batch of due learners: pick them through the ``next_nudge_at`` index
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several schedulers can tick at once), load
the policy input in a few queries, run ``gamification.nudge_policy.plan`` for each, insert
the due nudges (``ON CONFLICT DO NOTHING`` on the per-learner dedupe key: a nudge is never
created twice) and store each learner's next moment. A tick costs O(due learners).
"""

import asyncio
import gc
import logging
import random
import secrets
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    Table,
    bindparam,
    case,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.context import AppContext
from backend.db.models import LearnerState, Nudge
from backend.nudges.policy_input import (
    HISTORY_DAYS,
    STATS_DAYS,
    DueLearner,
    LearnerInput,
    OrgNudgeContext,
    add_budget_reminders,
    add_known_keys,
    among,
    load_activity,
    load_happenings,
    load_learners,
    load_organisations,
    load_recent_nudges,
    variant_stats,
)
from backend.nudges.postgres_tick import Batch, Outbox, fetch_due
from gamification.nudge_policy import NudgePlan, VariantStats, plan
from gamification.periods import require_aware

log = logging.getLogger("learnloop.nudges")

BATCH_SIZE = 1000
DEFAULT_WORKERS = 2
STATS_TTL_SECONDS = 300.0
LEARNED_WITHIN = timedelta(hours=24)

# seconds per step of the tick, summed over batches (the benchmark prints them); with
# several workers in flight the steps overlap, so they add up to more than the wall time
PHASE_SECONDS: dict[str, float] = defaultdict(float)


class _Clock:
    """Adds the time since the previous mark to ``PHASE_SECONDS[name]``."""

    def __init__(self) -> None:
        self.last = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        PHASE_SECONDS[name] += now - self.last
        self.last = now


# (database url, organisation id) -> (expires at, per (kind, variant) stats); the variant
# choice needs only a rough, recent picture, so the aggregate runs at most every 5 minutes
_stats_cache: dict[tuple[str, int], tuple[float, dict[tuple[str, str], VariantStats]]] = {}


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _dialect(conn: AsyncConnection) -> str:
    return conn.dialect.name


def _insert(conn: AsyncConnection, table: Table) -> Any:
    return postgresql.insert(table) if _dialect(conn) == "postgresql" else sqlite.insert(table)


def due_learners_query(now: datetime, limit: int, *, postgres: bool) -> Any:
    """The due-learner query: through the ``next_nudge_at`` index, oldest first."""
    s = _table(LearnerState).c
    query = (
        select(
            s.user_id,
            s.organisation_id,
            s.current_streak,
            s.freezes_banked,
            s.last_active_date,
            s.weekly_goal_minutes,
        )
        .where(s.next_nudge_at <= now)
        .order_by(s.next_nudge_at)
        .limit(limit)
    )
    return query.with_for_update(skip_locked=True) if postgres else query


async def run_tick(
    ctx: AppContext,
    now: datetime,
    *,
    batch_size: int = BATCH_SIZE,
    rng: random.Random | None = None,
    workers: int | None = None,
) -> int:
    """Plan nudges for every learner due at ``now``; returns the number of nudges created.

    On PostgreSQL ``workers`` (default 2) batches run at once on their own connections (SKIP
    LOCKED keeps them apart), so the database answers one while Python plans the other.
    """
    require_aware(now, "now")
    # a tick builds ~20 objects per due learner that live until their batch is written; the
    # cyclic collector would walk the whole heap (the app's objects too) every few batches for
    # garbage that reference counting frees anyway (0.1 of 0.55 CPU seconds for 10,000 due)
    collecting = gc.isenabled()
    gc.disable()
    try:
        return await _run_tick(ctx, now, batch_size, rng or random.Random(), workers)
    finally:
        if collecting:
            gc.enable()


async def _run_tick(
    ctx: AppContext,
    now: datetime,
    batch_size: int,
    rng: random.Random,
    workers: int | None,
) -> int:
    postgres = ctx.engine.dialect.name == "postgresql"
    orgs: dict[int, OrgNudgeContext] = {}  # read once per tick, shared by the batches
    if postgres:
        org_lock = asyncio.Lock()

        async def pg_worker() -> int:
            created = 0
            while True:
                batch_created, picked = await _tick_batch_pg(
                    ctx, now, batch_size, rng, orgs, org_lock
                )
                created += batch_created
                if picked < batch_size:
                    return created

        count = workers or DEFAULT_WORKERS
        return sum(await asyncio.gather(*(pg_worker() for _ in range(count))))

    async def worker() -> int:
        created = 0
        while True:
            async with ctx.sessionmaker() as session:
                batch_created, picked = await _tick_batch(session, now, batch_size, rng, orgs)
                clock = _Clock()
                await session.commit()
                clock.mark("commit")
            created += batch_created
            if picked < batch_size:
                return created

    return await worker()


def _plan_for(
    learner: LearnerInput, org: OrgNudgeContext, now: datetime, rng: random.Random
) -> NudgePlan:
    """The pure policy's plan for one due learner (both database paths)."""
    return plan(
        learner.prefs,
        learner.activity,
        learner.happenings,
        learner.history,
        org.rules,
        now,
        rng,
        org.stats,
    )


async def _tick_batch_pg(
    ctx: AppContext,
    now: datetime,
    batch_size: int,
    rng: random.Random,
    orgs: dict[int, OrgNudgeContext],
    org_lock: asyncio.Lock,
) -> tuple[int, int]:
    """One batch on PostgreSQL: two statements on the raw asyncpg connection, one commit."""
    clock = _Clock()
    async with ctx.engine.connect() as conn:
        # organisations are read through SQLAlchemy (rarely: once a tick), in this transaction
        await conn.execute(text("SELECT 1"))
        pg = (await conn.get_raw_connection()).driver_connection
        rows = await fetch_due(pg, now, batch_size)
        clock.mark("due query")
        if not rows:
            return 0, 0
        if {r[1] for r in rows} - set(orgs):
            async with org_lock:  # the other batches in flight wait instead of reading too
                missing = {r[1] for r in rows} - set(orgs)
                if missing:
                    fresh = await load_organisations(conn, missing, now)
                    await _attach_stats(conn, fresh, now)
                    orgs.update(fresh)
        clock.mark("organisations")
        batch = Batch(now)
        batch.add_rows(rows, orgs)
        clock.mark("build inputs")
        await batch.look_up_the_rest(pg, orgs)
        clock.mark("budget, asks, keys")
        outbox = Outbox()
        outbox.nothing_for(batch.inactive)
        for learner in batch.learners.values():
            outbox.add(learner, _plan_for(learner, orgs[learner.due.organisation_id], now, rng))
        clock.mark("plan")
        created = await outbox.write(pg, batch)
        clock.mark("write")
        await conn.commit()
        clock.mark("commit")
    return created, len(rows)


async def _tick_batch(
    session: AsyncSession,
    now: datetime,
    batch_size: int,
    rng: random.Random,
    org_cache: dict[int, OrgNudgeContext],
) -> tuple[int, int]:
    clock = _Clock()
    conn = await session.connection()
    postgres = _dialect(conn) == "postgresql"
    rows = (await conn.execute(due_learners_query(now, batch_size, postgres=postgres))).all()
    clock.mark("due query")
    if not rows:
        return 0, 0
    # the query's columns are DueLearner's fields, in order
    due = [DueLearner(*r) for r in rows]
    missing = {d.organisation_id for d in due} - set(org_cache)
    if missing:
        fresh = await load_organisations(conn, missing, now)
        await _attach_stats(conn, fresh, now)
        org_cache.update(fresh)
    orgs = org_cache
    clock.mark("organisations")
    learners = await load_learners(conn, due, orgs)
    clock.mark("learners")
    active = {uid: li for uid, li in learners.items() if li.active}
    next_at: dict[int, datetime | None] = {d.user_id: None for d in due}
    nudge_rows: list[dict[str, Any]] = []
    if active:
        await load_activity(conn, active, now)
        clock.mark("activity")
        await mark_learned(conn, active, now)
        clock.mark("mark learned")
        await load_recent_nudges(conn, active, now)
        clock.mark("recent nudges")
        await load_happenings(conn, active, orgs, now)
        clock.mark("happenings")
        await add_budget_reminders(conn, active, orgs, now)
        clock.mark("budget")
        await add_known_keys(conn, active, now)
        clock.mark("known keys")
        for user_id, learner in active.items():
            result = _plan_for(learner, orgs[learner.due.organisation_id], now, rng)
            next_at[user_id] = result.next_at
            for nudge in result.nudges:
                nudge_rows.append(
                    {
                        "id": secrets.token_hex(16),
                        "organisation_id": learner.due.organisation_id,
                        "user_id": user_id,
                        "kind": nudge.kind.value,
                        "variant": nudge.variant,
                        "dedupe_key": nudge.dedupe_key,
                        "locale": nudge.locale,
                        "title": nudge.title[:200],
                        "body": nudge.body[:500],
                        "url": nudge.url,
                        "status": "pending",
                        "due_at": nudge.due_at,
                        "attempts": 0,
                        "last_error": "",
                        "created_at": now,
                    }
                )
    clock.mark("plan")
    created = await _insert_nudges(conn, nudge_rows)
    clock.mark("insert nudges")
    await _store_next(conn, next_at)
    clock.mark("store next")
    return created, len(rows)


_STORE_NEXT_PG = text(
    "UPDATE learner_state SET next_nudge_at = v.at"
    " FROM unnest(:ids, :ats) AS v(user_id, at) WHERE learner_state.user_id = v.user_id"
).bindparams(
    bindparam("ids", type_=postgresql.ARRAY(Integer())),
    bindparam("ats", type_=postgresql.ARRAY(DateTime(timezone=True))),
)


async def _store_next(conn: AsyncConnection, next_at: dict[int, datetime | None]) -> None:
    """Each learner's next moment (NULL: nothing to plan), in one statement on PostgreSQL."""
    if _dialect(conn) == "postgresql":
        await conn.execute(_STORE_NEXT_PG, {"ids": list(next_at), "ats": list(next_at.values())})
        return
    await conn.execute(
        update(_table(LearnerState))
        .where(_table(LearnerState).c.user_id == bindparam("b_user_id"))
        .values(next_nudge_at=bindparam("b_next")),
        [{"b_user_id": uid, "b_next": at} for uid, at in next_at.items()],
    )


NUDGE_COLUMNS = (
    ("id", String()),
    ("organisation_id", Integer()),
    ("user_id", Integer()),
    ("kind", String()),
    ("variant", String()),
    ("dedupe_key", String()),
    ("locale", String()),
    ("title", String()),
    ("body", String()),
    ("url", String()),
    ("due_at", DateTime(timezone=True)),
)

# PostgreSQL: every new nudge of a batch in one statement, one array per column
_INSERT_NUDGES_PG = text(
    "INSERT INTO nudge ("
    + ", ".join(name for name, _ in NUDGE_COLUMNS)
    + ", status, attempts, last_error, created_at) SELECT *, 'pending', 0, '', :created_at"
    " FROM unnest("
    + ", ".join(f":{name}" for name, _ in NUDGE_COLUMNS)
    + ") ON CONFLICT (user_id, dedupe_key) DO NOTHING RETURNING id"
).bindparams(
    *(bindparam(name, type_=postgresql.ARRAY(kind)) for name, kind in NUDGE_COLUMNS),
    bindparam("created_at", type_=DateTime(timezone=True)),
)


async def _insert_nudges(conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    """Insert the outbox rows; a dedupe key the learner already has is skipped."""
    if not rows:
        return 0
    if _dialect(conn) == "postgresql":
        params: dict[str, Any] = {name: [r[name] for r in rows] for name, _ in NUDGE_COLUMNS}
        params["created_at"] = rows[0]["created_at"]
        return len((await conn.execute(_INSERT_NUDGES_PG, params)).all())
    table = _table(Nudge)
    stmt = (
        _insert(conn, table)
        .on_conflict_do_nothing(index_elements=["user_id", "dedupe_key"])
        .returning(table.c.id)
    )
    return len((await conn.execute(stmt, rows)).all())


async def _attach_stats(
    conn: AsyncConnection, orgs: dict[int, OrgNudgeContext], now: datetime
) -> None:
    url = str(conn.engine.url)
    clock = time.monotonic()
    missing: list[int] = []
    for org_id, org in orgs.items():
        cached = _stats_cache.get((url, org_id))
        if cached is not None and cached[0] > clock:
            org.stats = cached[1]
        else:
            missing.append(org_id)
    if not missing:
        return
    fresh = await variant_stats(conn, missing, now - timedelta(days=STATS_DAYS))
    for org_id in missing:
        stats = fresh.get(org_id, {})
        orgs[org_id].stats = stats
        _stats_cache[(url, org_id)] = (clock + STATS_TTL_SECONDS, stats)


async def mark_learned(
    conn: AsyncConnection, learners: dict[int, LearnerInput], now: datetime
) -> int:
    """Record the first learning within 24 h after each recently sent nudge of these learners."""
    n = _table(Nudge).c
    sent = (
        await conn.execute(
            select(n.id, n.user_id, n.sent_at).where(
                among(conn, n.user_id, list(learners)),
                n.learned_at.is_(None),
                n.sent_at.is_not(None),
                n.created_at >= now - timedelta(days=HISTORY_DAYS),
            )
        )
    ).all()
    updates = []
    for nudge_id, user_id, sent_at in sent:
        first = _first_learning(
            (moment for moment, _kind, _course in learners[user_id].events), sent_at
        )
        if first is not None:
            updates.append({"b_id": nudge_id, "b_learned": first})
    if updates:
        await conn.execute(
            update(_table(Nudge))
            .where(n.id == bindparam("b_id"), n.learned_at.is_(None))
            .values(learned_at=bindparam("b_learned")),
            updates,
        )
    return len(updates)


def _first_learning(moments: Iterable[datetime], sent_at: datetime) -> datetime | None:
    inside = [m for m in moments if sent_at <= m <= sent_at + LEARNED_WITHIN]
    return min(inside) if inside else None


async def wake_learners(
    session: AsyncSession, organisation_id: int, user_ids: Sequence[int], at: datetime
) -> None:
    """Have the scheduler look at these learners at ``at`` (or earlier, if already due then).

    For anything that changes what a learner should hear: a new hire (their state row is
    created here), new preferences or timezone, kudos, a team's challenge progress.
    """
    if not user_ids:
        return
    conn = await session.connection()
    table = _table(LearnerState)
    stmt = _insert(conn, table)
    current = table.c.next_nudge_at
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id"],
        set_={
            "next_nudge_at": case(
                (
                    or_(current.is_(None), current > stmt.excluded.next_nudge_at),
                    stmt.excluded.next_nudge_at,
                ),
                else_=current,
            )
        },
    )
    await conn.execute(
        stmt,
        [
            {
                "user_id": uid,
                "organisation_id": organisation_id,
                "data": {},
                "next_nudge_at": at,
                "updated_at": at,
            }
            for uid in sorted(set(user_ids))
        ],
    )
