"""The nudge tick sends an idle learner their top recommendation, once a week."""

import random
from datetime import UTC, datetime, time, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import Course, RecommendationShown
from backend.nudges.scheduler import run_tick
from tests.factories import World
from tests.nudges.test_scheduler import nudges_of, set_next, set_user
from tests.progress.activity import event, ingest

# Tuesday 1 December 2026, 19:00 in Amsterdam: Sam's reminder time
NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


async def test_an_idle_learner_gets_their_next_step_instead_of_the_reminder(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sam = world.a.users["employee"]
    assert sam.id is not None
    async with ctx.sessionmaker() as session:
        excel = Course(organisation_id=world.a.id, title="Excel", hot_skill=True)
        session.add(excel)
        await session.commit()
    async with AsyncTestClient(app=app) as lms:
        # Sam last learned five days before the tick
        await ingest(lms, world.a, [event(sam.email, when=NOW - timedelta(days=5))])
    await set_user(ctx, sam.id, reminder_time=time(19, 0), locale="en")
    await set_next(ctx, sam.id, NOW - timedelta(minutes=1))

    assert await run_tick(ctx, NOW, rng=random.Random(1)) == 1

    [nudge] = await nudges_of(ctx, sam.id)
    assert (nudge.kind, nudge.dedupe_key) == ("next_step", "next_step:2026-W49")
    assert nudge.url == f"/catalogue/{excel.id}"
    assert "Excel" in nudge.title + nudge.body
    assert "A skill much in demand right now" in nudge.body
    # a pushed recommendation counts as shown (the insights ask what became of it)
    async with ctx.sessionmaker() as session:
        shown = (await session.exec(select(RecommendationShown))).all()
    assert [(r.user_id, r.course_id, r.reason) for r in shown] == [(sam.id, excel.id, "hot_skill")]
    # no plain reminder after it today, and no second next step this week
    await set_next(ctx, sam.id, NOW + timedelta(hours=2))
    await run_tick(ctx, NOW + timedelta(hours=2), rng=random.Random(1))
    kinds = [n.kind for n in await nudges_of(ctx, sam.id)]
    assert "reminder" not in kinds and kinds.count("next_step") == 1
