"""Weekly leaderboards: opt-in only, deterministic, my own rank always, never across orgs."""

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import World, signed_in_client
from tests.progress.activity import event, ingest

BOARD = "/api/v1/leaderboards/organisation"


async def opt_in(app: Litestar, email: str) -> None:
    async with signed_in_client(app, email) as person:
        response = await person.patch("/api/v1/me", json={"leaderboard_opt_in": True})
        assert response.status_code == 200, response.text
        assert response.json()["leaderboard_opt_in"] is True


async def board(app: Litestar, email: str, url: str = BOARD, **params: Any) -> dict[str, Any]:
    async with signed_in_client(app, email) as person:
        response = await person.get(url, params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def places(body: dict[str, Any]) -> list[tuple[int, str, int]]:
    return [(e["rank"], e["display_name"], e["weekly_xp"]) for e in body["entries"]]


async def test_only_people_who_opted_in_appear_and_i_always_see_my_own_rank(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    lou, mia = world.email("a", "ld_admin"), world.email("a", "manager")
    await opt_in(app, lou)
    await opt_in(app, mia)
    # Lou learns three times, Sam (not opted in) twice, Mia once
    lou_xp = await ingest(client, world.a, [event(lou) for _ in range(3)])
    sam_xp = await ingest(client, world.a, [event("sam@example.com") for _ in range(2)])
    mia_xp = await ingest(client, world.a, [event(mia)])
    lou_total, sam_total, mia_total = (sum(r["xp"] for r in rs) for rs in (lou_xp, sam_xp, mia_xp))
    assert lou_total > sam_total > mia_total > 0

    seen_by_sam = await board(app, "sam@example.com")
    assert places(seen_by_sam) == [(1, "Lou Acme", lou_total), (2, "Mia Acme", mia_total)]
    assert seen_by_sam["me"] == {"rank": 2, "weekly_xp": sam_total, "visible": False}
    assert "@" not in str(seen_by_sam)  # display names only, never e-mail addresses
    # others don't see Sam either
    assert "Sam Acme" not in str(await board(app, mia))

    await opt_in(app, "sam@example.com")
    seen_by_sam = await board(app, "sam@example.com")
    assert places(seen_by_sam) == [
        (1, "Lou Acme", lou_total),
        (2, "Sam Acme", sam_total),
        (3, "Mia Acme", mia_total),
    ]
    assert [e["is_me"] for e in seen_by_sam["entries"]] == [False, True, False]
    assert seen_by_sam["me"] == {"rank": 2, "weekly_xp": sam_total, "visible": True}
    # a week without learning: an empty board, and I am still told where I stand
    quiet = await board(app, "sam@example.com", week="2020-W10")
    assert quiet["entries"] == [] and quiet["starts_on"] == "2020-03-02"
    assert quiet["me"] == {"rank": 1, "weekly_xp": 0, "visible": False}


async def test_equal_xp_is_ranked_by_who_got_there_first_then_consistently(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    people = [world.email("a", role) for role in ("ld_admin", "employee", "manager")]
    for email in people:
        await opt_in(app, email)
    await ingest(client, world.a, [event(people[0])])  # Lou first
    await ingest(client, world.a, [event(people[1]), event(people[2])])  # Sam and Mia together
    first = await board(app, people[0])
    xp = {e["weekly_xp"] for e in first["entries"]}
    assert len(xp) == 1 and [e["rank"] for e in first["entries"]] == [1, 2, 3]
    # Lou reached it first; Sam and Mia at the same moment: the lower user id goes first
    together = sorted(("employee", "manager"), key=lambda role: world.a.users[role].id or 0)
    name_of = {"employee": "Sam Acme", "manager": "Mia Acme"}
    assert [e["display_name"] for e in first["entries"]] == [
        "Lou Acme",
        *(name_of[role] for role in together),
    ]
    # everyone sees the same order, again and again, also when asking for this week by name
    names = {people[0]: "Lou Acme", people[1]: "Sam Acme", people[2]: "Mia Acme"}
    for email in people:
        again = await board(app, email, week=first["week"])
        assert places(again) == places(first)
        [mine] = [e for e in again["entries"] if e["is_me"]]
        assert mine["display_name"] == names[email]
        assert again["me"] == {
            "rank": mine["rank"],
            "weekly_xp": mine["weekly_xp"],
            "visible": True,
        }


async def test_no_one_from_another_organisation_appears(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    await opt_in(app, world.email("a", "manager"))
    await opt_in(app, world.email("b", "manager"))
    await ingest(client, world.a, [event(world.email("a", "manager"))])
    await ingest(client, world.b, [event(world.email("b", "manager")) for _ in range(3)])
    seen_in_a = await board(app, world.email("a", "manager"))
    assert [e["display_name"] for e in seen_in_a["entries"]] == ["Mia Acme"]
    seen_in_b = await board(app, world.email("b", "manager"))
    assert [e["display_name"] for e in seen_in_b["entries"]] == ["Mia Globex"]
    team_b = await board(
        app, world.email("b", "manager"), f"/api/v1/leaderboards/teams/{world.b.team_id}"
    )
    assert "Acme" not in str(team_b)


async def test_a_team_board_is_for_its_members_and_l_and_d(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    lou, mia = world.email("a", "ld_admin"), world.email("a", "manager")
    for email in (lou, mia, "sam@example.com"):
        await opt_in(app, email)
    await ingest(client, world.a, [event(lou), event(mia), event("sam@example.com")])
    team_url = f"/api/v1/leaderboards/teams/{world.a.team_id}"
    seen_by_sam = await board(app, "sam@example.com", team_url)
    # Lou opted in but is not in the team
    assert sorted(e["display_name"] for e in seen_by_sam["entries"]) == ["Mia Acme", "Sam Acme"]
    assert seen_by_sam["me"]["visible"] is True
    # L&D may look at any team of the organisation; they have no place of their own on it
    seen_by_lou = await board(app, lou, team_url)
    assert places(seen_by_lou) == places(seen_by_sam) and seen_by_lou["me"] is None

    async with signed_in_client(app, lou) as admin:
        other = await admin.post("/api/v1/teams", json={"name": "Warehouse"})
        assert other.status_code == 201, other.text
        other_id = other.json()["id"]
    async with signed_in_client(app, "sam@example.com") as sam:
        refused = await sam.get(f"/api/v1/leaderboards/teams/{other_id}")
        assert refused.status_code == 403
        assert "members" in refused.json()["detail"]
        foreign = await sam.get(f"/api/v1/leaderboards/teams/{world.b.team_id}")
        assert foreign.status_code == 404
    async with signed_in_client(app, mia) as manager:
        # managing one team gives no view of another
        assert (await manager.get(f"/api/v1/leaderboards/teams/{other_id}")).status_code == 403
