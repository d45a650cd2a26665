"""The privacy floor over every aggregate route, read from the app itself.

Every route that shows figures about a group (``opt={"aggregate": True}``: insights, the
team view, budgets per team, their CSV downloads) is asked about a team of floor - 1
counted members and of exactly the floor, by an L&D admin and by the team's manager. Below
the floor nothing but the notice comes back (403); at the floor the figures do (200).
"""

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from sqlmodel import col, select

from backend.auth.passwords import hash_password
from backend.context import AppContext
from backend.db.models import LearningEvent, Team, TeamMembership, User
from gamification import local_day
from tests.factories import PASSWORD, World, signed_in_client

MANAGER = "manager@acme.example"
LD = "ld@acme.example"
FLOOR = 5  # the default minimum group size
# the areas whose pages and API show figures about groups: each of their GET routes is checked
AGGREGATE_AREAS = (
    "/api/v1/insights",
    "/console/insights",
    "/api/v1/team-overview",
    "/console/team",
)


def aggregate_routes(app: Litestar) -> list[str]:
    paths = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.opt.get("aggregate") and "GET" in handler.http_methods:
                paths.append(route.path)
    return sorted(set(paths))


async def _team_of(ctx: AppContext, world: World, name: str, members: int) -> int:
    """A team of org A with ``members`` counted members who all learned this week, managed
    by org A's manager."""
    now = datetime.now(UTC)
    async with ctx.sessionmaker() as session:
        team = Team(organisation_id=world.a.id, name=name)
        session.add(team)
        await session.flush()
        assert team.id is not None
        manager = world.a.users["manager"]
        assert manager.id is not None
        session.add(
            TeamMembership(
                team_id=team.id, user_id=manager.id, organisation_id=world.a.id, is_manager=True
            )
        )
        for n in range(members):
            user = User(
                organisation_id=world.a.id,
                email=f"{name.lower()}-{n}-{uuid.uuid4().hex[:6]}@acme.example",
                display_name=f"{name} {n}",
                password_hash=hash_password(PASSWORD, ctx.settings.password_cost),
                roles=["employee"],
            )
            session.add(user)
            await session.flush()
            assert user.id is not None
            session.add(
                TeamMembership(team_id=team.id, user_id=user.id, organisation_id=world.a.id)
            )
            occurred = now - timedelta(hours=1 + n)
            session.add(
                LearningEvent(
                    organisation_id=world.a.id,
                    user_id=user.id,
                    idempotency_key=f"floor-{uuid.uuid4().hex}",
                    kind="completion",
                    source="api",
                    course_id=world.a.course_id,
                    competency_id=world.a.competency_id,
                    title="Feedback geven",
                    minutes=20 + n,
                    occurred_at=occurred,
                    local_date=local_day(occurred, "Europe/Amsterdam"),
                )
            )
        await session.commit()
        return team.id


def _shows_no_figures(path: str, response: Any) -> None:
    assert response.status_code == 403, (path, response.status_code, response.text[:300])
    if path.startswith("/console"):
        body = response.text
        assert "data-privacy-floor" in body, path
        main = body.split('id="main"', 1)[1]
        assert "<svg" not in main and "<table" not in main, path
        # no digit but the floor's own in the page's content
        assert set(re.findall(r"\d+", re.sub(r"<[^>]+>", " ", main))) <= {str(FLOOR)}, path
    else:
        assert response.json().get("extra", {}).get("min_group_size") == FLOOR, (
            path,
            response.text,
        )


@pytest.fixture
async def teams(ctx: AppContext, world: World) -> dict[str, int]:
    return {
        "small": await _team_of(ctx, world, "Klein", FLOOR - 1),
        "enough": await _team_of(ctx, world, "Groot", FLOOR),
    }


def test_the_aggregate_areas_declare_their_routes(app: Litestar) -> None:
    declared = aggregate_routes(app)
    for area in AGGREGATE_AREAS:
        assert any(p == area or p.startswith(area + "/") for p in declared), area
    # every figure-showing GET route of those areas goes through the floor
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "GET" not in route.methods:
            continue
        # (the floor's own setting page shows no figures)
        if route.path.startswith(("/api/v1/insights", "/console/insights")) and (
            route.path != "/console/insights/privacy"
        ):
            assert route.path in declared, route.path


@pytest.mark.parametrize("who", [LD, MANAGER])
async def test_no_figure_for_a_group_below_the_floor_and_figures_at_it(
    app: Litestar, world: World, teams: dict[str, int], who: str
) -> None:
    paths = aggregate_routes(app)
    assert paths, "no aggregate routes declared"
    async with signed_in_client(app, who) as client:
        checked = []
        for path in paths:
            assert "{" not in path, f"{path}: aggregate routes take the team as ?team="
            enough = await client.get(f"{path}?team={teams['enough']}")
            refused_for_the_floor = "min_group_size" in enough.text or "data-privacy-floor" in (
                enough.text
            )
            if who == MANAGER and enough.status_code == 403 and not refused_for_the_floor:
                continue  # an L&D-only figure (e.g. utilisation across teams)
            assert enough.status_code == 200, (path, enough.text[:300])
            small = await client.get(f"{path}?team={teams['small']}")
            _shows_no_figures(path, small)
            checked.append(path)
        # managers see their teams' figures: the team view at least
        assert any(p.startswith("/console/team") for p in checked), checked


async def test_raising_the_floor_hides_a_team_that_was_large_enough(
    app: Litestar, world: World, teams: dict[str, int]
) -> None:
    async with signed_in_client(app, LD) as client:
        before = await client.get(f"/api/v1/team-overview?team={teams['enough']}")
        assert before.status_code == 200
        raised = await client.patch(
            "/api/v1/organisation", json={"settings": {"min_group_size": FLOOR + 1}}
        )
        assert raised.status_code == 200, raised.text
        after = await client.get(f"/api/v1/team-overview?team={teams['enough']}")
        assert after.status_code == 403
        assert after.json()["extra"]["min_group_size"] == FLOOR + 1


async def test_the_floor_cannot_go_below_three(app: Litestar, world: World) -> None:
    async with signed_in_client(app, LD) as client:
        lowered = await client.patch(
            "/api/v1/organisation", json={"settings": {"min_group_size": 2}}
        )
        assert lowered.status_code == 400
        assert "min_group_size" in lowered.text
        at_three = await client.patch(
            "/api/v1/organisation", json={"settings": {"min_group_size": 3}}
        )
        assert at_three.status_code == 200


async def test_a_manager_sees_no_team_they_do_not_manage(
    app: Litestar, ctx: AppContext, world: World, teams: dict[str, int]
) -> None:
    async with ctx.sessionmaker() as session:
        other = Team(organisation_id=world.a.id, name="Elders")
        session.add(other)
        await session.commit()
    async with signed_in_client(app, MANAGER) as client:
        for path in aggregate_routes(app):
            response = await client.get(f"{path}?team={other.id}")
            assert response.status_code in (403, 404), path
            if response.status_code == 403 and path.startswith("/console"):
                assert "data-privacy-floor" not in response.text, path
    async with signed_in_client(app, "sam@example.com") as client:
        for path in aggregate_routes(app):
            response = await client.get(f"{path}?team={teams['enough']}")
            assert response.status_code in (403, 404), path


async def test_a_team_challenge_card_shows_no_team_figures_once_the_team_shrinks(
    app: Litestar, ctx: AppContext, world: World, teams: dict[str, int]
) -> None:
    today = local_day(datetime.now(UTC), "Europe/Amsterdam")
    async with signed_in_client(app, MANAGER) as client:
        created = await client.post(
            f"/api/v1/teams/{teams['enough']}/challenges",
            json={
                "title": "Samen leren",
                "pledge": "Taart voor iedereen",
                "starts_on": today.isoformat(),
                "ends_on": (today + timedelta(days=13)).isoformat(),
                "target": {"kind": "team_minutes", "minutes": 600},
            },
        )
        assert created.status_code == 201, created.text
    async with ctx.sessionmaker() as session:
        members = (
            await session.exec(
                select(TeamMembership.user_id).where(
                    TeamMembership.team_id == teams["enough"],
                    col(TeamMembership.is_manager).is_(False),
                )
            )
        ).all()
        first, leaver = await session.get(User, members[0]), await session.get(User, members[1])
        assert first is not None and leaver is not None
        email = first.email
    async with signed_in_client(app, email) as client:
        card = next(
            c for c in (await client.get("/api/v1/challenges")).json() if c["kind"] == "team"
        )
        assert card["progress"] is not None and card["team"]["team_minutes"] is not None
        assert card["team"]["figures_shown"] is True
    async with ctx.sessionmaker() as session:
        leaver.is_active = False
        session.add(leaver)
        await session.commit()
    async with signed_in_client(app, email) as client:
        card = next(
            c for c in (await client.get("/api/v1/challenges")).json() if c["kind"] == "team"
        )
        assert card["progress"] is None
        assert card["team"]["team_minutes"] is None
        assert card["team"]["members_contributing"] is None
        assert card["team"]["figures_shown"] is False
        assert card["team"]["my_contribution"] is not None  # my own learning stays mine to see
        page = await client.get("/team?lang=en")
        assert "Team figures are only shown for larger teams." in page.text
        assert "of 600 minutes" not in page.text
        today_page = await client.get("/?lang=en")
        assert "of the team target" not in today_page.text
