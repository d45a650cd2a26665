"""Team challenges: sponsored by the team's manager, won by the team's real learning, and
never showing one member's numbers to another."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.context import AppContext
from backend.db.models import Team, User
from tests.console.team_world import fill_team
from tests.factories import World, signed_in_client

MANAGER = "manager@acme.example"
LD = "ld@acme.example"
PLEDGE = "Teamlunch als we het halen"

NewMember = Callable[[str], Awaitable[User]]


@pytest.fixture(autouse=True)
async def teams_at_floor(ctx: AppContext, world: World) -> None:
    """Both organisations' teams reach the privacy floor (else no challenge is sponsored)."""
    await fill_team(ctx, world.a.id, world.a.team_id)
    await fill_team(ctx, world.b.id, world.b.team_id)


def team_minutes(today: date, minutes: int = 90, **extra: Any) -> dict[str, Any]:
    return {
        "title": "Samen anderhalf uur leren",
        "pledge": PLEDGE,
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=13)).isoformat(),
        "target": {"kind": "team_minutes", "minutes": minutes},
        **extra,
    }


async def log_moment(client: AsyncTestClient[Litestar], minutes: int) -> None:
    response = await client.post(
        "/api/v1/me/moments",
        json={"client_id": str(uuid.uuid4()), "what": "Artikel over feedback", "minutes": minutes},
    )
    assert response.status_code == 201, response.text


def numbers_outside_ids(payload: Any) -> set[float]:
    """Every number in a JSON document except ids (those may be anything)."""
    if isinstance(payload, dict):
        return {
            n
            for key, value in payload.items()
            if not key.endswith("id")
            for n in numbers_outside_ids(value)
        }
    if isinstance(payload, list):
        return {n for item in payload for n in numbers_outside_ids(item)}
    if isinstance(payload, int | float) and not isinstance(payload, bool):
        return {payload}
    return set()


async def _other_team(ctx: AppContext, world: World) -> int:
    async with ctx.sessionmaker() as session:
        team = Team(organisation_id=world.a.id, name="Acme Sales")
        session.add(team)
        await session.commit()
        assert team.id is not None
        return team.id


async def test_members_learning_completes_the_managers_challenge_and_today_shows_the_pledge(
    app: Litestar, world: World, today: date, new_member: NewMember
) -> None:
    noor = await new_member("Noor")
    async with signed_in_client(app, MANAGER) as manager:
        created = await manager.post(
            f"/api/v1/teams/{world.a.team_id}/challenges", json=team_minutes(today)
        )
    assert created.status_code == 201, created.text
    challenge = created.json()
    assert challenge["kind"] == "team" and challenge["status"] == "active"
    assert challenge["team"]["pledge"] == PLEDGE
    assert challenge["team"]["sponsor"] == "Mia Acme"
    assert challenge["team"]["team_name"] == "Acme Support"
    assert challenge["progress"] == 0 and not challenge["completed"]
    url = f"/api/v1/challenges/{challenge['id']}"

    async with signed_in_client(app, "sam@example.com") as sam:
        await log_moment(sam, 37)
        halfway = (await sam.get(url)).json()
        assert halfway["progress"] == 37 / 90 and not halfway["completed"]
        assert halfway["team"]["my_contribution"] == {
            "minutes": 37,
            "active_days": 1,
            # the period's first full week starts on its first Monday: on a Monday that is
            # today, and one active day meets the default of one day a week
            "qualifying_weeks": 1 if today.weekday() == 0 else 0,
        }
        async with signed_in_client(app, noor.email) as noor_client:
            await log_moment(noor_client, 58)
        done = (await sam.get(url)).json()
        today_screen = (await sam.get("/api/v1/me/today")).json()

    assert done["completed"] and done["progress"] == 1.0
    assert done["completed_on"] == today.isoformat()
    assert done["team"]["team_minutes"] == 95
    assert done["team"]["members_contributing"] == 2
    [shown] = [c for c in today_screen["challenges"] if c["id"] == challenge["id"]]
    assert shown["completed"] and shown["progress"] == 1.0
    assert shown["pledge"] == PLEDGE and shown["sponsor"] == "Mia Acme"
    assert shown["team"] == "Acme Support"


async def test_no_one_sees_another_members_minutes_and_the_manager_sees_aggregates(
    app: Litestar, world: World, today: date, new_member: NewMember
) -> None:
    noor = await new_member("Noor")
    async with signed_in_client(app, MANAGER) as manager:
        created = await manager.post(
            f"/api/v1/teams/{world.a.team_id}/challenges", json=team_minutes(today, 500)
        )
        assert created.status_code == 201, created.text
    async with (
        signed_in_client(app, "sam@example.com") as sam,
        signed_in_client(app, noor.email) as noor_client,
        signed_in_client(app, MANAGER) as manager,
    ):
        await log_moment(sam, 37)
        await log_moment(noor_client, 58)
        sams_list = (await sam.get("/api/v1/challenges")).json()
        noors_list = (await noor_client.get("/api/v1/challenges")).json()
        managers_list = (await manager.get("/api/v1/challenges")).json()
        team_list = (await manager.get(f"/api/v1/teams/{world.a.team_id}/challenges")).json()

    [sams] = sams_list
    assert sams["team"]["my_contribution"]["minutes"] == 37
    assert 58 not in numbers_outside_ids(sams_list)
    [noors] = noors_list
    assert noors["team"]["my_contribution"]["minutes"] == 58
    assert noors["team"]["team_minutes"] == 95 and noors["team"]["members_contributing"] == 2
    assert 37 not in numbers_outside_ids(noors_list)
    for seen in (managers_list, team_list):
        [mine] = seen
        assert mine["team"]["my_contribution"] is None  # the manager sees the team, not people
        assert mine["team"]["team_minutes"] == 95 and mine["team"]["members_contributing"] == 2
        assert not {37, 58} & numbers_outside_ids(seen)
        assert "Noor" not in str(seen) and "Sam Acme" not in str(seen)  # no names either


async def test_only_the_teams_manager_or_ld_sponsors_a_team_challenge(
    app: Litestar, ctx: AppContext, world: World, today: date
) -> None:
    sales = await _other_team(ctx, world)
    await fill_team(ctx, world.a.id, sales)
    async with signed_in_client(app, "sam@example.com") as sam:
        refused = await sam.post(
            f"/api/v1/teams/{world.a.team_id}/challenges", json=team_minutes(today)
        )
        assert refused.status_code == 403, refused.text
    async with signed_in_client(app, MANAGER) as manager:
        other_team = await manager.post(
            f"/api/v1/teams/{sales}/challenges", json=team_minutes(today)
        )
        assert other_team.status_code == 403, other_team.text
        other_org = await manager.post(
            f"/api/v1/teams/{world.b.team_id}/challenges", json=team_minutes(today)
        )
        assert other_org.status_code == 404
        assert (await manager.get(f"/api/v1/teams/{sales}/challenges")).status_code == 403
    async with signed_in_client(app, LD) as ld:
        by_ld = await ld.post(f"/api/v1/teams/{sales}/challenges", json=team_minutes(today))
        assert by_ld.status_code == 201, by_ld.text
        assert by_ld.json()["team"]["sponsor"] == "Lou Acme"
        assert by_ld.json()["team"]["my_contribution"] is None
    async with signed_in_client(app, MANAGER) as manager:
        # another team's challenge is not there for the manager, as if it did not exist
        hidden = by_ld.json()["id"]
        assert (await manager.get(f"/api/v1/challenges/{hidden}")).status_code == 404
        assert (
            await manager.patch(f"/api/v1/challenges/{hidden}", json={"title": "x"})
        ).status_code == 404
        assert [c["id"] for c in (await manager.get("/api/v1/challenges")).json()] == []


async def test_another_organisation_never_sees_our_challenges(
    app: Litestar, world: World, today: date
) -> None:
    async with signed_in_client(app, LD) as ld:
        org_wide = (
            await ld.post(
                "/api/v1/challenges",
                json={
                    "title": "Drie trainingen",
                    "starts_on": today.isoformat(),
                    "ends_on": (today + timedelta(days=13)).isoformat(),
                    "target": {"event_kind": "completion", "target_count": 3},
                },
            )
        ).json()
    async with signed_in_client(app, MANAGER) as manager:
        team = (
            await manager.post(
                f"/api/v1/teams/{world.a.team_id}/challenges", json=team_minutes(today)
            )
        ).json()
    for email in ("ld@globex.example", "manager@globex.example"):
        async with signed_in_client(app, email) as neighbour:
            for challenge in (org_wide, team):
                url = f"/api/v1/challenges/{challenge['id']}"
                assert (await neighbour.get(url)).status_code == 404
                assert (await neighbour.patch(url, json={"title": "Van ons"})).status_code == 404
                assert (await neighbour.delete(url)).status_code == 404
            assert (await neighbour.get("/api/v1/challenges")).json() == []
            assert (
                await neighbour.get(f"/api/v1/teams/{world.a.team_id}/challenges")
            ).status_code == 404


async def test_a_participation_target_must_fit_in_the_full_weeks_of_the_period(
    app: Litestar, world: World, today: date
) -> None:
    monday = today + timedelta(days=7 - today.weekday())
    two_weeks = {
        "title": "Drie dagen per week",
        "pledge": PLEDGE,
        "starts_on": monday.isoformat(),
        "ends_on": (monday + timedelta(days=13)).isoformat(),
        "target": {"kind": "participation", "member_share": 0.8, "days_per_week": 3, "weeks": 3},
    }
    url = f"/api/v1/teams/{world.a.team_id}/challenges"
    async with signed_in_client(app, MANAGER) as manager:
        too_many = await manager.post(url, json=two_weeks)
        assert too_many.status_code == 400
        assert "holds 2 full week(s)" in too_many.json()["detail"]
        assert too_many.json()["extra"][0]["key"] == "target.weeks"

        bad_share = await manager.post(
            url, json={**two_weeks, "target": {**two_weeks["target"], "member_share": 1.5}}
        )
        assert bad_share.status_code == 400
        assert [e["key"] for e in bad_share.json()["extra"]] == [
            "target.participation.member_share"
        ]
        unknown = await manager.post(url, json={**two_weeks, "target": {"kind": "vibes"}})
        assert unknown.status_code == 400
        [error] = unknown.json()["extra"]
        assert error["key"] == "target"
        assert "'team_minutes', 'participation'" in error["message"]  # the kinds there are
        no_pledge = await manager.post(url, json={**two_weeks, "pledge": ""})
        assert no_pledge.status_code == 400

        fits = await manager.post(
            url, json={**two_weeks, "target": {**two_weeks["target"], "weeks": 2}}
        )
        assert fits.status_code == 201, fits.text
        team = fits.json()["team"]
        assert fits.json()["status"] == "upcoming"
        assert (
            team["target_kind"],
            team["member_share"],
            team["days_per_week"],
            team["weeks"],
        ) == (
            "participation",
            0.8,
            3,
            2,
        )
        assert team["weeks_reached"] == 0 and team["target_minutes"] is None


async def test_the_sponsor_changes_the_end_and_the_engine_measures_the_team_again(
    app: Litestar, world: World, today: date
) -> None:
    monday = today + timedelta(days=7 - today.weekday())
    url = f"/api/v1/teams/{world.a.team_id}/challenges"
    async with signed_in_client(app, LD) as ld:
        # set by L&D for the team: its manager may still change it
        participation = (
            await ld.post(
                url,
                json={
                    "title": "Twee weken, drie dagen per week",
                    "pledge": PLEDGE,
                    "starts_on": monday.isoformat(),
                    "ends_on": (monday + timedelta(days=13)).isoformat(),
                    "target": {
                        "kind": "participation",
                        "member_share": 0.5,
                        "days_per_week": 3,
                        "weeks": 2,
                    },
                },
            )
        ).json()
    async with signed_in_client(app, MANAGER) as manager:
        minutes = (await manager.post(url, json=team_minutes(today))).json()
    async with signed_in_client(app, "sam@example.com") as sam:
        await log_moment(sam, 30)
        for challenge in (participation, minutes):
            refused = await sam.patch(f"/api/v1/challenges/{challenge['id']}", json={"title": "x"})
            assert refused.status_code == 403

    async with signed_in_client(app, MANAGER) as manager:
        shorter = await manager.patch(
            f"/api/v1/challenges/{participation['id']}",
            json={"ends_on": (monday + timedelta(days=6)).isoformat()},
        )
        assert shorter.status_code == 400 and "holds 1 full week(s)" in shorter.json()["detail"]
        longer = await manager.patch(
            f"/api/v1/challenges/{minutes['id']}",
            json={"title": "Anderhalf uur in drie weken", "ends_on": str(today + timedelta(20))},
        )
        assert longer.status_code == 200, longer.text
        changed = longer.json()
    assert changed["title"] == "Anderhalf uur in drie weken"
    assert changed["ends_on"] == str(today + timedelta(days=20))
    assert changed["progress"] == 30 / 90 and changed["team"]["team_minutes"] == 30


async def test_a_member_in_a_timezone_ahead_of_the_organisation_still_counts(
    app: Litestar, world: World, ctx: AppContext, today: date, new_member: NewMember
) -> None:
    # Kiritimati (UTC+14) is usually already on the organisation's next day
    far_east = await new_member("Teuea")
    async with ctx.sessionmaker() as session:
        member = await session.get(User, far_east.id)
        assert member is not None
        member.timezone = "Pacific/Kiritimati"
        session.add(member)
        await session.commit()
    async with signed_in_client(app, MANAGER) as manager:
        created = await manager.post(
            f"/api/v1/teams/{world.a.team_id}/challenges", json=team_minutes(today, minutes=60)
        )
    assert created.status_code == 201, created.text
    async with signed_in_client(app, far_east.email) as client:
        await log_moment(client, 90)
        mine = (await client.get(f"/api/v1/challenges/{created.json()['id']}")).json()
    assert mine["completed"] and mine["progress"] == 1.0
    assert mine["team"]["team_minutes"] == 90
