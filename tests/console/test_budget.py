"""The console's budget page: deciding inline, inline errors, L&D's settings and a person's
own budget, who may do what, and the privacy floor on team figures."""

from litestar import Litestar
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import Organisation, User
from tests.budgets.test_budget_rules import _members, _request, _settings, _status
from tests.factories import World, signed_in_client


async def test_a_manager_approves_and_declines_from_the_page(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _settings(ctx, world.a.id, yearly_budget_cents=100_000)
    first = await _request(ctx, world, 30_000)
    second = await _request(ctx, world, 20_000)
    async with signed_in_client(app, world.email("a", "manager")) as mia:
        page = await mia.get("/console/budget?lang=en")
        assert page.status_code == 200
        assert "Waiting for your decision" in page.text and f"request-{first}" in page.text
        assert "Budget settings" not in page.text  # L&D's part
        approved = await mia.post(
            f"/console/budget/requests/{first}",
            data={"decision": "approve", "note": ""},
            follow_redirects=False,
        )
        assert approved.status_code == 303
        silent = await mia.post(
            f"/console/budget/requests/{second}?lang=en",
            data={"decision": "decline", "note": "  "},
        )
        assert silent.status_code == 400
        assert "Say why you decline: the learner reads it." in silent.text
        assert 'aria-invalid="true"' in silent.text
        declined = await mia.post(
            f"/console/budget/requests/{second}?lang=en",
            data={"decision": "decline", "note": "Niet dit kwartaal"},
            follow_redirects=False,
        )
        assert declined.status_code == 303
        after = await mia.get("/console/budget?lang=en")
        assert "Declined: Sam Acme gets your note." in after.text
        assert "Niet dit kwartaal" in after.text and "Nothing to decide" in after.text
        again = await mia.post(
            f"/console/budget/requests/{second}?lang=en",
            data={"decision": "approve"},
            follow_redirects=False,
        )
        assert again.status_code == 303
        assert (
            "That request was decided already." in (await mia.get("/console/budget?lang=en")).text
        )
    assert (await _status(ctx, first)).status == "approved"
    assert (await _status(ctx, second)).decision_note == "Niet dit kwartaal"


async def test_an_approval_past_the_budget_says_what_is_left(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _settings(ctx, world.a.id, yearly_budget_cents=50_000)
    big = await _request(ctx, world, 60_000)
    async with signed_in_client(app, world.email("a", "manager")) as mia:
        page = await mia.get("/console/budget?lang=en")
        assert "more than is left" in page.text
        notice = (
            await mia.post(f"/console/budget/requests/{big}?lang=en", data={"decision": "approve"})
        ).text
    assert "Not approved: €500.00 is left of this person" in notice
    assert (await _status(ctx, big)).status == "pending"


async def test_ld_sets_the_budget_and_a_persons_own(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _members(ctx, world, 4)
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        page = await lou.get("/console/budget?lang=en")
        assert page.status_code == 200
        assert "This budget year" in page.text and "Budget settings" in page.text
        wrong = await lou.post(
            "/console/budget/settings?lang=en",
            data={"yearly_budget": "lots", "budget_year_start_month": "4", "ld_threshold": ""},
        )
        assert wrong.status_code == 400 and "Enter a whole number." in wrong.text
        assert 'value="lots"' in wrong.text
        saved = await lou.post(
            "/console/budget/settings",
            data={"yearly_budget": "1.200", "budget_year_start_month": "9", "ld_threshold": ""},
            follow_redirects=False,
        )
        assert saved.status_code == 303
        found = await lou.get("/console/budget?lang=en&person=sam")
        assert "Sam Acme" in found.text and "Sam Globex" not in found.text
        own = await lou.post(
            f"/console/budget/people/{world.a.users['employee'].id}?lang=en",
            data={"yearly_budget": "2000", "person": "sam"},
            follow_redirects=False,
        )
        assert own.status_code == 303
        assert (
            "yearly budget is now €2,000.00."
            in (await lou.get("/console/budget?lang=en&person=sam")).text
        )
        foreign = await lou.post(
            f"/console/budget/people/{world.b.users['employee'].id}",
            data={"yearly_budget": "1"},
            follow_redirects=False,
        )
        assert foreign.status_code == 303
    async with ctx.sessionmaker() as session:
        org = (await session.exec(select(Organisation).where(Organisation.id == world.a.id))).one()
        sam = (
            await session.exec(select(User).where(User.id == world.a.users["employee"].id))
        ).one()
        globex_sam = (
            await session.exec(select(User).where(User.id == world.b.users["employee"].id))
        ).one()
    assert org.settings["yearly_budget_cents"] == 120_000
    assert org.settings["budget_year_start_month"] == 9
    assert org.settings["budget_ld_approval_above_cents"] == 0
    assert sam.yearly_budget_cents == 200_000 and globex_sam.yearly_budget_cents is None


async def test_who_may_use_the_budget_page(app: Litestar, ctx: AppContext, world: World) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        assert (await sam.get("/console/budget")).status_code == 403
    async with signed_in_client(app, world.email("a", "manager")) as mia:
        settings = await mia.post(
            "/console/budget/settings",
            data={"yearly_budget": "1", "budget_year_start_month": "1"},
        )
        assert settings.status_code == 403
        person = await mia.post(
            f"/console/budget/people/{world.a.users['employee'].id}", data={"yearly_budget": "1"}
        )
        assert person.status_code == 403
        # Mia's team has two people: below the privacy floor, no figure at all
        page = await mia.get("/console/budget?lang=en")
        assert "Too few people to show figures" in page.text
        floor = await mia.get(f"/console/budget?lang=en&team={world.a.team_id}")
        assert floor.status_code == 403 and "fewer than 5 learners" in floor.text
        assert (await mia.get(f"/console/budget?team={world.b.team_id}")).status_code == 404


async def test_team_figures_show_from_the_floor(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _settings(ctx, world.a.id, yearly_budget_cents=100_000)
    await _members(ctx, world, 4)
    await _request(ctx, world, 40_000, status="approved")
    async with signed_in_client(app, world.email("a", "manager")) as mia:
        page = await mia.get(f"/console/budget?lang=en&team={world.a.team_id}")
    assert page.status_code == 200
    assert "€4,600.00" in page.text and "8%" in page.text
