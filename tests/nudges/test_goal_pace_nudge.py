"""A goal with a date falling behind its pace gets a push: in the learner's language, with a
link to the goal, at most every four days, and never for a learner who switched goals off."""

import random
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import LearnerState, Nudge
from backend.nudges.scheduler import run_tick
from gamification.engine import add_dated_goal
from gamification.goals import DatedGoal, DatedGoalKind
from gamification.nudge_texts import render
from gamification.state import LearnerState as EngineState
from tests.factories import World
from tests.nudges.test_scheduler import NOW, set_next, set_user

# NOW is Tuesday 1 December 2026, 19:00 in Amsterdam: 11 of the goal's 21 days are gone
GOAL = DatedGoal(
    "a1b2c3",
    DatedGoalKind.COMPETENCY_EVENTS,
    date(2026, 11, 20),
    date(2026, 12, 10),
    competency_id=1,
    target_count=4,
)


async def _give_goal(ctx: AppContext, user_id: int) -> None:
    async with ctx.sessionmaker() as session:
        row = (
            await session.exec(select(LearnerState).where(LearnerState.user_id == user_id))
        ).one()
        row.data = add_dated_goal(EngineState.from_dict(row.data or {}), GOAL).to_dict()
        session.add(row)
        await session.commit()


async def _goal_nudges(ctx: AppContext, user_id: int) -> list[Nudge]:
    async with ctx.sessionmaker() as session:
        found = await session.exec(
            select(Nudge)
            .where(Nudge.user_id == user_id, Nudge.kind == "dated_goal_behind")
            .order_by(col(Nudge.due_at))
        )
        return list(found.all())


async def test_a_goal_behind_its_pace_is_nudged_about_every_four_days_at_most(
    ctx: AppContext, world: World
) -> None:
    sam = world.a.users["employee"]
    assert sam.id
    # only the goal nudge is left on, so the other kinds do not take its place
    await set_user(ctx, sam.id, reminder_time=time(19), nudge_kinds_off=["reminder", "budget"])
    await _give_goal(ctx, sam.id)
    await set_next(ctx, sam.id, NOW)
    await run_tick(ctx, NOW, rng=random.Random(3))
    [nudge] = await _goal_nudges(ctx, sam.id)
    assert nudge.dedupe_key == "dated_goal_behind:a1b2c3:2026-12-01"
    assert nudge.url == "/goals#goal-a1b2c3" and nudge.locale == "nl"
    text = render(
        "dated_goal_behind", nudge.variant, "nl", {"done": 0, "target": 4, "days_left": 10}
    )
    assert (nudge.title, nudge.body) == (text.title, text.body)
    assert "10 dagen" in text.title + text.body

    for days in (1, 2, 3, 4, 5):  # too soon, then the weekend (no nudges on Saturday, Sunday)
        await set_next(ctx, sam.id, NOW + timedelta(days=days))
        await run_tick(ctx, NOW + timedelta(days=days))
    assert len(await _goal_nudges(ctx, sam.id)) == 1
    await set_next(ctx, sam.id, NOW + timedelta(days=6))
    await run_tick(ctx, NOW + timedelta(days=6))
    assert [n.dedupe_key for n in await _goal_nudges(ctx, sam.id)] == [
        "dated_goal_behind:a1b2c3:2026-12-01",
        "dated_goal_behind:a1b2c3:2026-12-07",
    ]


async def test_no_goal_nudge_for_who_switched_goals_off_or_in_quiet_hours(
    ctx: AppContext, world: World
) -> None:
    sam, mia = world.a.users["employee"], world.a.users["manager"]
    assert sam.id and mia.id
    await set_user(ctx, sam.id, nudge_kinds_off=["reminder", "budget", "goal"])
    # mia's own quiet hours start at 18:00: the goal waits for the morning
    await set_user(ctx, mia.id, nudge_kinds_off=["reminder", "budget"], quiet_hours_start=time(18))
    for user_id in (sam.id, mia.id):
        await _give_goal(ctx, user_id)
        await set_next(ctx, user_id, NOW)
    await run_tick(ctx, NOW)
    assert await _goal_nudges(ctx, sam.id) == [] and await _goal_nudges(ctx, mia.id) == []
    morning = datetime(2026, 12, 2, 11, 5, tzinfo=UTC)  # 12:05 in Amsterdam
    await set_next(ctx, mia.id, morning)
    await run_tick(ctx, morning)
    assert [n.dedupe_key for n in await _goal_nudges(ctx, mia.id)] == [
        "dated_goal_behind:a1b2c3:2026-12-02"
    ]
