"""The demo's budget requests tell the seed's story on a small organisation."""

import uuid
from collections import Counter
from datetime import date

from sqlmodel import select

from backend.budgets import services
from backend.context import AppContext
from backend.db.models import Course, TrainingRequest
from backend.demo.budgets import seed_budgets
from backend.insights.privacy import group_for
from backend.tenancy import OrgScope
from tests.budgets.test_budget_rules import _members, _principal, _settings
from tests.factories import World


async def test_seeded_requests_wait_for_the_manager_and_ld_and_fill_about_half(
    ctx: AppContext, world: World
) -> None:
    await _settings(ctx, world.a.id, yearly_budget_cents=150_000, budget_year_start_month=1)
    await _members(ctx, world, 8)
    async with ctx.sessionmaker() as session:
        session.add_all(
            Course(organisation_id=world.a.id, title=f"Paid {uuid.uuid4().hex[:6]}", cost_cents=c)
            for c in (45_000, 69_500, 89_500, 120_000, 189_500)
        )
        await session.commit()
        count = await seed_budgets(
            session,
            world.a.id,
            date.today(),
            employee_email=world.email("a", "employee"),
            manager_email=world.email("a", "manager"),
            ld_email=world.email("a", "ld_admin"),
        )
        await session.commit()
        rows = (
            await session.exec(
                select(TrainingRequest).where(TrainingRequest.organisation_id == world.a.id)
            )
        ).all()
        scope = OrgScope(session, _principal(world, "ld_admin"))
        figures = await services.figures(scope, await group_for(scope))
        manager_scope = OrgScope(session, _principal(world, "manager"))
        waiting = await services.requests_to_decide(manager_scope)
    statuses = Counter(r.status for r in rows)
    assert count == len(rows)
    assert statuses["pending"] == 3 and statuses["declined"] == 2 and statuses["approved"] > 5
    assert all(r.decision_note for r in rows if r.status == "declined")
    assert 40 <= figures.used_percent <= 60
    assert len(waiting) >= 2  # the demo manager has requests of their team to decide
