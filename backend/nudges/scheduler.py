"""The nudge scheduler tick: learners whose ``next_nudge_at`` has come -> outbox rows.

Called every minute by the push worker (``learnloop worker``, or inside ``serve``). Due
learners are taken in batches, ``workers`` batches in flight at once on their own
connections (``FOR UPDATE SKIP LOCKED`` keeps them, and other schedulers, apart), so the
database answers one while Python plans another. Per batch, in one transaction: read the
due learners with their policy input (:mod:`backend.nudges.store`), build the input
(:mod:`backend.nudges.policy_input`), run ``gamification.nudge_policy.plan`` for each,
insert the due nudges (a dedupe key the learner already has is skipped: a nudge is never
created twice) and store each learner's next moment. A tick costs O(due learners).
"""

import asyncio
import random
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.context import AppContext
from backend.nudges import store
from backend.nudges.goal_pace import add_goal_pace
from backend.nudges.happenings import NEW_COURSE_DAYS
from backend.nudges.policy_input import (
    STATS_DAYS,
    Batch,
    OrgNudgeContext,
    organisation_contexts,
)
from backend.recommendations.loading import catalogue_cache_for
from backend.recommendations.schemas import RecommendationOut
from backend.recommendations.services import next_steps, record_pushed
from gamification.nudge_policy import VariantStats, plan
from gamification.nudge_texts import catalogue
from gamification.nudges import NudgeType
from gamification.periods import require_aware

BATCH_SIZE = 1000
DEFAULT_WORKERS = 2
STATS_TTL_SECONDS = 300.0

# (database url, organisation id) -> (expires at, per (kind, variant) stats); the variant
# choice needs only a rough, recent picture, so the aggregate over 90 days of an
# organisation's nudges runs at most every 5 minutes per process
_stats_cache: dict[tuple[str, int], tuple[float, dict[tuple[str, str], VariantStats]]] = {}


async def run_tick(
    ctx: AppContext,
    now: datetime,
    *,
    batch_size: int = BATCH_SIZE,
    rng: random.Random | None = None,
    workers: int | None = None,
    step_seconds: dict[str, float] | None = None,
) -> int:
    """Plan nudges for every learner due at ``now``; returns the number of nudges created.

    ``step_seconds``, when given, gets the seconds of each step of the batches added to it
    (the benchmark prints them; batches in flight overlap, so they add up to more than the
    wall time).
    """
    require_aware(now, "now")
    tick = _Tick(ctx, now, batch_size, rng or random.Random(), step_seconds)
    return sum(await asyncio.gather(*(tick.worker() for _ in range(workers or DEFAULT_WORKERS))))


class _Clock:
    """Adds the time since the previous mark to ``steps[name]``."""

    def __init__(self, steps: dict[str, float]) -> None:
        self.steps = steps
        self.last = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = self.steps.get(name, 0.0) + now - self.last
        self.last = now


class _Tick:
    """One tick: its batches and the organisations they share (read once per tick)."""

    def __init__(
        self,
        ctx: AppContext,
        now: datetime,
        batch_size: int,
        rng: random.Random,
        step_seconds: dict[str, float] | None,
    ) -> None:
        self.ctx = ctx
        self.now = now
        self.batch_size = batch_size
        self.rng = rng
        self.steps: dict[str, float] = {} if step_seconds is None else step_seconds
        self.orgs: dict[int, OrgNudgeContext] = {}
        self.org_lock = asyncio.Lock()

    async def worker(self) -> int:
        """Batches until one comes back short; returns the nudges created."""
        created = 0
        while True:
            batch_created, picked = await self.batch()
            created += batch_created
            if picked < self.batch_size:
                return created

    async def batch(self) -> tuple[int, int]:
        """One batch in one transaction: (nudges created, learners picked)."""
        now = self.now
        clock = _Clock(self.steps)
        async with store.transaction(self.ctx.engine) as pg:
            rows = await store.fetch_due(pg, now, self.batch_size)
            clock.mark("due query")
            if not rows:
                return 0, 0
            await self.organisations(pg, {row[1] for row in rows})
            clock.mark("organisations")
            batch = Batch(now)
            batch.add_rows(rows, self.orgs)
            clock.mark("build inputs")
            await self.look_up_the_rest(pg, batch)
            clock.mark("budget, asks, keys")
            outbox = store.Outbox()
            outbox.nothing_for(batch.inactive)
            next_steps_sent: list[tuple[int, int, RecommendationOut]] = []
            for learner in batch.learners.values():
                due = learner.due
                org = self.orgs[due.organisation_id]
                result = plan(
                    learner.prefs,
                    learner.activity,
                    learner.happenings,
                    learner.history,
                    org.rules,
                    now,
                    self.rng,
                    org.stats,
                    org.texts,
                )
                outbox.add(due.organisation_id, due.user_id, result.nudges, result.next_at)
                if due.user_id in batch.next_step_found and any(
                    n.kind is NudgeType.NEXT_STEP for n in result.nudges
                ):
                    rec = batch.next_step_found[due.user_id]
                    next_steps_sent.append((due.user_id, due.organisation_id, rec))
            clock.mark("plan")
            if next_steps_sent:  # a pushed recommendation is a shown one
                await record_pushed(pg, next_steps_sent, now)
            created = await outbox.write(pg, now, batch.learned_ids, batch.learned_at)
            clock.mark("write")
        clock.mark("commit")
        return created, len(rows)

    async def organisations(self, pg: asyncpg.Connection, wanted: set[int]) -> None:
        """The batch's organisations not read yet this tick, with their variant stats."""
        if wanted <= self.orgs.keys():
            return
        async with self.org_lock:  # the other batches in flight wait instead of reading too
            missing = sorted(wanted - self.orgs.keys())
            if missing:
                now = self.now
                rows = await store.fetch_organisations(
                    pg, missing, now.date(), now - timedelta(days=NEW_COURSE_DAYS)
                )
                fresh = organisation_contexts(*rows)
                await self.attach_texts(pg, fresh)
                await self.attach_stats(pg, fresh)
                self.orgs.update(fresh)

    async def attach_texts(self, pg: asyncpg.Connection, orgs: dict[int, OrgNudgeContext]) -> None:
        """Each organisation's own text variants over the built-in ones (read every tick, so
        a change L&D makes is used from the next tick on)."""
        own: dict[int, list[tuple[str, str, str, str, str, bool]]] = {}
        for org_id, *row in await store.fetch_text_variants(pg, list(orgs)):
            own.setdefault(org_id, []).append(tuple(row))
        for org_id, rows in own.items():
            orgs[org_id].texts = catalogue(rows)

    async def attach_stats(self, pg: asyncpg.Connection, orgs: dict[int, OrgNudgeContext]) -> None:
        """Each organisation's variant stats, from the cache while fresh."""
        url = str(self.ctx.engine.url)
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
        since = self.now - timedelta(days=STATS_DAYS)
        fresh: dict[int, dict[tuple[str, str], VariantStats]] = {org_id: {} for org_id in missing}
        for org_id, kind, variant, sent, learned in await store.fetch_variant_stats(
            pg, missing, since
        ):
            fresh[org_id][(kind, variant)] = VariantStats(int(sent), int(learned))
        for key in [key for key, (expires, _) in _stats_cache.items() if expires <= clock]:
            del _stats_cache[key]  # only organisations seen in the last minutes stay
        for org_id, stats in fresh.items():
            orgs[org_id].stats = stats
            _stats_cache[(url, org_id)] = (clock + STATS_TTL_SECONDS, stats)

    async def look_up_the_rest(self, pg: asyncpg.Connection, batch: Batch) -> None:
        """Testimonial asks, budget spend, goals behind their pace and older dedupe keys, where
        the batch has any."""
        if batch.asks:
            pairs = sorted(batch.asks)
            batch.add_testimonial_asks(await store.fetch_unwritten_testimonials(pg, pairs))
        if batch.budget:
            spending = await store.fetch_spent(pg, sorted(batch.budget), batch.budget_year_start())
            batch.add_budgets(spending, self.orgs)
        if batch.next_steps:
            cache = catalogue_cache_for(self.ctx.engine)
            batch.add_next_steps(await next_steps(pg, batch.next_step_learners(), self.now, cache))
        await add_goal_pace(pg, batch)
        wanted = batch.wanted_keys()
        if wanted:
            batch.add_known(await store.fetch_known_keys(pg, wanted))


async def wake_learners(
    session: AsyncSession, organisation_id: int, user_ids: Sequence[int], at: datetime
) -> None:
    """Have the scheduler look at these learners at ``at`` (or earlier, if already due then).

    For a change that puts a learner's plan out of date before its next planned look: a new
    hire (their state row is created here), new preferences or timezone. Learning wakes
    the learner in ingestion's own write (``backend.learning.store``).
    """
    if user_ids:
        await store.wake(await session.connection(), organisation_id, user_ids, at)
