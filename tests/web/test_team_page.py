"""The "My team" page: the team's challenges (aggregates and my own share only) and the weekly
team leaderboard (opted-in colleagues only, my own place always)."""

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.auth.passwords import hash_password
from backend.context import AppContext
from backend.db.models import Team, TeamMembership, User
from gamification import local_day
from tests.console.team_world import fill_team
from tests.factories import PASSWORD, World, signed_in_client

MANAGER = "manager@acme.example"
SAM = "sam@example.com"
PLEDGE = "Teamlunch als we het halen"


def _today() -> date:
    return local_day(datetime.now(UTC), "Europe/Amsterdam")


def _challenge(title: str = "Samen anderhalf uur leren", minutes: int = 90) -> dict[str, Any]:
    today = _today()
    return {
        "title": title,
        "pledge": PLEDGE,
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=13)).isoformat(),
        "target": {"kind": "team_minutes", "minutes": minutes},
    }


async def _new_member(ctx: AppContext, world: World, name: str, team_id: int | None = None) -> str:
    """A fresh employee of org A in the given team (org A's support team by default)."""
    async with ctx.sessionmaker() as session:
        user = User(
            organisation_id=world.a.id,
            email=f"{name.lower()}-{uuid.uuid4().hex[:6]}@acme.example",
            display_name=name,
            password_hash=hash_password(PASSWORD, ctx.settings.password_cost),
            roles=["employee"],
        )
        session.add(user)
        await session.flush()
        assert user.id is not None
        session.add(
            TeamMembership(
                team_id=team_id or world.a.team_id, user_id=user.id, organisation_id=world.a.id
            )
        )
        await session.commit()
        return user.email


async def _team(ctx: AppContext, world: World, name: str, *members: str) -> int:
    """Another team in org A, with the given (existing) people as members."""
    async with ctx.sessionmaker() as session:
        team = Team(organisation_id=world.a.id, name=name)
        session.add(team)
        await session.flush()
        assert team.id is not None
        for email in members:
            user_id = next(u.id for u in world.a.users.values() if u.email == email)
            assert user_id is not None
            session.add(
                TeamMembership(team_id=team.id, user_id=user_id, organisation_id=world.a.id)
            )
        await session.commit()
        return team.id


async def _create(
    app: Litestar, team_id: int, body: dict[str, Any], ctx: AppContext, world: World
) -> None:
    await fill_team(ctx, world.a.id, team_id)  # sponsored only at the privacy floor
    async with signed_in_client(app, MANAGER) as manager:
        created = await manager.post(f"/api/v1/teams/{team_id}/challenges", json=body)
    assert created.status_code == 201, created.text


async def _log(client: AsyncTestClient[Litestar], minutes: int) -> None:
    response = await client.post(
        "/api/v1/me/moments",
        json={"client_id": str(uuid.uuid4()), "what": "Artikel over feedback", "minutes": minutes},
    )
    assert response.status_code == 201, response.text


async def _opt_in(client: AsyncTestClient[Litestar]) -> None:
    token = client.cookies.get("learnloop_csrf") or ""
    response = await client.patch(
        "/api/v1/me", json={"leaderboard_opt_in": True}, headers={"x-csrf-token": token}
    )
    assert response.status_code == 200, response.text
    assert response.json()["leaderboard_opt_in"] is True


async def test_anonymous_visitors_are_sent_to_the_sign_in_page(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    response = await client.get("/team", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_the_progress_page_links_to_my_team(app: Litestar, world: World) -> None:
    async with signed_in_client(app, SAM) as sam:
        page = await sam.get("/progress")
    assert page.status_code == 200
    assert 'href="/team"' in page.text and "Mijn team" in page.text


async def test_a_member_sees_the_challenge_pledge_and_only_their_own_contribution(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    noor = await _new_member(ctx, world, "Noor")
    await _create(app, world.a.team_id, _challenge(), ctx, world)
    async with signed_in_client(app, SAM) as sam:
        before = await sam.get("/team")
        assert before.status_code == 200
        assert "Samen anderhalf uur leren" in before.text and PLEDGE in before.text
        assert "Mia Acme" in before.text  # the sponsor
        assert "0 van 90 minuten" in before.text
        assert "Jouw bijdrage: 0 minuten" in before.text  # a member who has not learned yet
        await _log(sam, 37)
        async with signed_in_client(app, noor) as noor_client:
            await _log(noor_client, 23)
        page = await sam.get("/team")
    assert page.status_code == 200
    html = page.text
    assert "Acme Support" in html
    assert "60 van 90 minuten" in html  # the team's total
    assert "Jouw bijdrage: 37 minuten" in html  # mine
    assert "2 van 5 collega's dragen bij" in html  # how many, not who or how much
    assert "23 minuten" not in html and "Noor" not in html  # never a colleague's numbers
    assert '<progress max="100" value="67"' in html


async def test_the_leaderboard_shows_only_opted_in_colleagues_and_always_my_place(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    noor = await _new_member(ctx, world, "Noor")
    piet = await _new_member(ctx, world, "Piet")
    async with signed_in_client(app, SAM) as sam:
        empty = await sam.get("/team")
        assert "Nog geen collega's op het bord deze week." in empty.text
        assert "Alleen collega's die meedoen staan erin. Je eigen plek zie je altijd." in (
            empty.text
        )
        assert 'href="/settings"' in empty.text
        async with signed_in_client(app, noor) as noor_client:
            await _opt_in(noor_client)
            await _log(noor_client, 60)
        async with signed_in_client(app, piet) as piet_client:
            await _log(piet_client, 90)  # more XP, but not opted in
        await _log(sam, 10)
        page = await sam.get("/team")
    html = page.text
    assert page.status_code == 200
    assert "Noor" in html
    assert "Piet" not in html
    assert "Sam Acme" not in html  # I did not opt in: I am not on the board ...
    assert "Jouw plek: 2 met" in html  # ... but I always see my place
    assert "alleen jij ziet dit" in html
    assert "Nog geen collega's op het bord" not in html


async def test_an_opted_in_learner_sees_themselves_on_the_board(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, SAM) as sam:
        await _opt_in(sam)
        await _log(sam, 20)
        page = await sam.get("/team?lang=en")
    assert page.status_code == 200
    # alone on the board: no list of one, the empty state and my place, each said once
    assert 'class="leaderboard-row' not in page.text
    assert page.text.count("Your place: 1 with") == 1 and "only you see this" not in page.text
    assert "No colleagues on the leaderboard yet this week." in page.text


async def test_with_colleagues_on_the_board_my_place_is_in_the_list_not_repeated(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    noor = await _new_member(ctx, world, "Noor")
    async with signed_in_client(app, noor) as noor_client:
        await _opt_in(noor_client)
        await _log(noor_client, 60)
    async with signed_in_client(app, SAM) as sam:
        await _opt_in(sam)
        await _log(sam, 20)
        page = await sam.get("/team?lang=en")
    assert page.text.count('class="leaderboard-row') == 2
    assert "Sam Acme (you)" in page.text
    assert "Your place:" not in page.text
    assert "No colleagues on the leaderboard yet this week." not in page.text


async def test_someone_without_a_team_sees_the_empty_state(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as lou:
        page = await lou.get("/team")
    assert page.status_code == 200
    assert "Je zit nog niet in een team" in page.text
    assert "Ranglijst" not in page.text and "Teamuitdagingen" not in page.text


async def test_a_team_without_challenges_says_so(app: Litestar, world: World) -> None:
    async with signed_in_client(app, SAM) as sam:
        page = await sam.get("/team")
    assert page.status_code == 200
    assert "Je team heeft nu geen lopende uitdagingen." in page.text


async def test_the_switcher_shows_only_my_teams_and_others_are_not_found(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sales = await _team(ctx, world, "Acme Sales", SAM)
    other = await _team(ctx, world, "Acme Finance")  # not mine
    await _create(app, world.a.team_id, _challenge("Support leert samen"), ctx, world)
    async with signed_in_client(app, SAM) as sam:
        first = await sam.get("/team")
        chosen = await sam.get(f"/team?team={world.a.team_id}")
        switched = await sam.get(f"/team?team={sales}")
        not_mine = await sam.get(f"/team?team={other}")
        foreign = await sam.get(f"/team?team={world.b.team_id}")
        garbage = await sam.get("/team?team=abc")
    # the first of my teams by name (Acme Sales), with a switcher to the other one
    assert first.status_code == 200
    assert f'href="/team?team={sales}" aria-current="page"' in first.text
    assert f'href="/team?team={world.a.team_id}"' in first.text
    assert "Acme Finance" not in first.text
    assert "Support leert samen" not in first.text
    assert chosen.status_code == 200 and "Support leert samen" in chosen.text
    assert switched.status_code == 200 and "Support leert samen" not in switched.text
    for response in (not_mine, foreign, garbage):
        assert response.status_code == 404
        assert "Acme Finance" not in response.text and "Globex" not in response.text


async def test_challenge_titles_are_escaped(app: Litestar, ctx: AppContext, world: World) -> None:
    await _create(app, world.a.team_id, _challenge("<script>alert(1)</script>"), ctx, world)
    async with signed_in_client(app, SAM) as sam:
        page = await sam.get("/team")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_kudos_recipients_are_in_alphabetical_order_accents_and_all(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    for name in ("Zoë de Wit", "Özlem Çelik", "olaf Visser", "Pieter Bos"):
        await _new_member(ctx, world, name)
    async with signed_in_client(app, SAM) as sam:
        page = await sam.get("/team/kudos")
    names = re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', page.text)
    assert names == ["Mia Acme", "olaf Visser", "Özlem Çelik", "Pieter Bos", "Zoë de Wit"]
