"""A manager's team view: aggregates of the team only, and only for those who lead it."""

from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, update

from backend.context import AppContext
from backend.db.models import LearnerState, TeamMembership
from tests.console.team_world import build_team, learned, org_today
from tests.factories import World, signed_in_client


async def test_the_team_view_adds_up_the_team_and_hides_small_cells(
    app: Litestar, ctx: AppContext, world: World, client: AsyncTestClient[Litestar]
) -> None:
    team = await build_team(ctx, world, size=6)
    comp = world.a.competency_id
    m = team.member_emails
    # this week: three members learn; member 0 also completes a course in Communicatie
    for email in m[:3]:
        await learned(client, world, email, competency_id=comp)
    await learned(
        client, world, m[0], kind="completion", minutes=30, course={"id": world.a.course_id}
    )
    # three weeks ago: two others learned in Communicatie (only then)
    for email in m[3:5]:
        await learned(client, world, email, days_ago=21, competency_id=comp)
    today = org_today()
    async with ctx.sessionmaker() as session:
        # member 1 aims for 20 minutes a week; streaks as the engine stored them (weekly rule)
        for index, values in (
            (1, {"weekly_goal_minutes": 20, "current_streak": 15, "last_active_date": today}),
            (0, {"current_streak": 4, "last_active_date": today}),
            (3, {"current_streak": 8, "last_active_date": today - timedelta(days=21)}),  # lapsed
        ):
            await session.exec(
                update(LearnerState)
                .where(col(LearnerState.user_id) == team.member_ids[index])
                .values(**values)
            )
        await session.commit()

    async with signed_in_client(app, team.manager_email) as manager:
        response = await manager.get(f"/api/v1/team-overview?team={team.team_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["members"] == 6 and body["floor"] == 5
        assert body["active_this_week"] == 3
        assert body["active_share"] == 0.5
        # three of six learned: their minutes together would be too few people's own
        assert body["minutes_this_week"] is None
        assert (body["goal_reached"], body["goal_share"]) == (1, round(1 / 6, 4))
        weeks = body["weeks"]
        assert len(weeks) == 12 and weeks[-1]["active"] == 3
        assert weeks[-4]["active"] == 2 and weeks[-4]["minutes"] is None
        streaks = {b["key"]: b["learners"] for b in body["streaks"]}
        assert streaks == {"none": 4, "1-2": 0, "3-6": 1, "7-13": 0, "14+": 1}
        # five members learned in Communicatie, only one through a course: that cell is hidden
        [row] = body["competencies"]
        assert (row["name"], row["learners"]) == ("Communicatie", 5)
        assert (row["formal_learners"], row["informal_learners"]) == (None, 5)

        page = await manager.get(f"/console/team?team={team.team_id}&lang=en")
        assert page.status_code == 200, page.text
        assert "Active this week" in page.text and "50%" in page.text
        assert "fewer than 5" in page.text  # the formal cell of Communicatie
        assert "<svg" in page.text and "<table" in page.text  # the chart and its table
        # no activity log: member names only appear as kudos recipients, never by a figure
        assert page.text.count("Member 0 of Acme Sales") == 1
        assert "shown once 5 members learned" in page.text
        dutch = await manager.get(f"/console/team?team={team.team_id}&lang=nl")
        assert "Actief deze week" in dutch.text

        # two more learn this week: five members, so their minutes together show
        for email in m[3:5]:
            await learned(client, world, email, competency_id=comp)
        body = (await manager.get(f"/api/v1/team-overview?team={team.team_id}")).json()
        assert body["minutes_this_week"] == 20 * 5 + 30
        assert body["weeks"][-1]["minutes"] == 20 * 5 + 30

        # without ?team= the manager sees their first team (Acme Sales before Acme Support)
        first = await manager.get("/api/v1/team-overview")
        assert first.json()["team_id"] == team.team_id


async def test_without_a_team_the_first_team_with_figures_is_shown(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    # Mia leads Acme Support (too small, first by name) and Zeta (big enough)
    zeta = await build_team(ctx, world, size=5, name="Zeta")
    async with signed_in_client(app, world.email("a", "manager")) as manager:
        response = await manager.get("/api/v1/team-overview")
        assert response.status_code == 200 and response.json()["team_id"] == zeta.team_id
        page = await manager.get("/console/team?lang=en")
        assert page.status_code == 200 and "How Zeta is learning" in page.text
        assert f'<option value="{world.a.team_id}"' in page.text  # the small one can be chosen


async def test_a_team_below_the_floor_shows_no_figures(app: Litestar, world: World) -> None:
    # Acme Support has one counted member (the world's employee)
    async with signed_in_client(app, world.email("a", "manager")) as manager:
        api = await manager.get(f"/api/v1/team-overview?team={world.a.team_id}")
        assert api.status_code == 403
        assert "fewer than 5" in api.json()["detail"]
        assert "active_share" not in api.text
        page = await manager.get(f"/console/team?team={world.a.team_id}&lang=en")
        assert page.status_code == 403
        assert "data-privacy-floor" in page.text and "Active this week" not in page.text


async def test_only_the_teams_leaders_see_it(app: Litestar, ctx: AppContext, world: World) -> None:
    team = await build_team(ctx, world, size=5)
    api = f"/api/v1/team-overview?team={team.team_id}"
    page = f"/console/team?team={team.team_id}"
    async with signed_in_client(app, team.other_manager_email) as other:
        assert (await other.get(api)).status_code == 403
        assert (await other.get(page, headers={"accept": "text/html"})).status_code == 403
        # their own team is empty: the floor page, no figures
        assert (await other.get("/api/v1/team-overview")).status_code == 403
    async with signed_in_client(app, team.member_emails[0]) as employee:
        assert (await employee.get(api)).status_code in (403, 404)
        assert (await employee.get(page, headers={"accept": "text/html"})).status_code == 403
    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        assert (await ld.get(api)).status_code == 200
        assert (await ld.get(page)).status_code == 200
    async with signed_in_client(app, world.email("b", "ld_admin")) as globex:
        assert (await globex.get(api)).status_code == 404
        assert (await globex.get(page, headers={"accept": "text/html"})).status_code == 404
    async with signed_in_client(app, world.email("a", "manager")) as manager:
        assert (await manager.get("/api/v1/team-overview?team=abc")).status_code == 400
        assert (await manager.get("/console/team?team=abc")).status_code == 404
        assert (await manager.get("/console/team?team=999999")).status_code == 404


async def test_managers_are_not_counted_and_inactive_people_leave_the_team(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    team = await build_team(ctx, world, size=5)
    async with ctx.sessionmaker() as session:  # a fifth member becomes a manager: 4 left
        await session.exec(
            update(TeamMembership)
            .where(col(TeamMembership.user_id) == team.member_ids[4])
            .values(is_manager=True)
        )
        await session.commit()
    async with signed_in_client(app, team.manager_email) as manager:
        response = await manager.get(f"/api/v1/team-overview?team={team.team_id}")
        assert response.status_code == 403
