"""The monthly budget reminder says what is left as the budget rules count it: the person's
own budget (or the organisation's), less the requests approved in this budget year."""

from datetime import UTC, datetime, time, timedelta

from backend.context import AppContext
from backend.nudges.scheduler import run_tick
from gamification.nudge_texts import render
from tests.budgets.test_budget_rules import _request
from tests.factories import World
from tests.nudges.test_scheduler import NOW, nudges_of, set_next, set_user


async def test_the_reminder_counts_approved_requests_of_this_year_and_an_own_budget(
    ctx: AppContext, world: World
) -> None:
    sam, mia = world.a.users["employee"], world.a.users["manager"]
    assert sam.id and mia.id
    for user_id, own in ((sam.id, None), (mia.id, 150_000)):
        await set_user(ctx, user_id, reminder_time=time(19, 0), locale="en")
        await set_user(ctx, user_id, yearly_budget_cents=own)
        await set_next(ctx, user_id, NOW - timedelta(minutes=1))
    november = datetime(2026, 11, 3, 9, tzinfo=UTC)
    await _request(ctx, world, 30_000, at=november, status="approved")
    await _request(ctx, world, 20_000, at=november, status="declined")
    await _request(ctx, world, 10_000, at=november, status="pending")
    await _request(ctx, world, 50_000, at=datetime(2025, 12, 3, tzinfo=UTC), status="approved")
    await _request(ctx, world, 40_000, at=november, status="approved", who="manager")

    await run_tick(ctx, NOW)  # the day's reminders first, one push at a time
    await run_tick(ctx, NOW + timedelta(hours=1))

    for user_id, left in ((sam.id, 70_000), (mia.id, 110_000)):
        [budget] = [n for n in await nudges_of(ctx, user_id) if n.kind == "budget_reminder"]
        text = render(
            "budget_reminder", budget.variant, "en", {"budget_cents": left, "months_left": 1}
        )
        assert (budget.title, budget.body) == (text.title, text.body)
