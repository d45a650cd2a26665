"""My history (newest first, stable pages) and my XP per week with my place on the level curve."""

from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import World, signed_in_client
from tests.progress.activity import event, ingest


async def test_history_is_newest_first_and_pages_without_duplicates(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    start = datetime.now(UTC) - timedelta(hours=12)
    mine = [
        event("sam@example.com", when=start + timedelta(hours=h), title=f"Session {h}")
        for h in range(7)
    ]
    # two at the very same moment: the page boundary must still neither repeat nor skip
    same_moment = start + timedelta(hours=3, minutes=30)
    mine += [
        event("sam@example.com", when=same_moment, title="Twin A"),
        event("sam@example.com", when=same_moment, title="Twin B"),
    ]
    colleague = event(world.a.users["manager"].email, title="Not mine")
    results = await ingest(client, world.a, [*mine, colleague])
    async with signed_in_client(app, "sam@example.com") as sam:
        seen: list[dict] = []
        sizes: list[int] = []
        cursor: str | None = None
        while True:
            params = {"limit": 2} | ({"before": cursor} if cursor else {})
            response = await sam.get("/api/v1/me/history", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            seen += page["items"]
            sizes.append(len(page["items"]))
            cursor = page["next_before"]
            if cursor is None:
                break
        assert sizes == [2, 2, 2, 2, 1]  # nine moments, two a page
        ids = [item["id"] for item in seen]
        assert len(ids) == len(set(ids)) == len(mine)
        moments = [datetime.fromisoformat(item["occurred_at"]) for item in seen]
        assert moments == sorted(moments, reverse=True)
        assert seen[0]["title"] == "Session 6" and seen[-1]["title"] == "Session 0"
        assert "Not mine" not in {item["title"] for item in seen}
        assert {item["source"] for item in seen} == {"api"}
        assert {item["kind"] for item in seen} == {"experience"}
        xp_by_title = {item["title"]: item["xp"] for item in seen}
        assert xp_by_title["Session 0"] == results[0]["xp"] > 0


async def test_xp_per_week_adds_up_and_shows_where_i_am_on_the_level_curve(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    now = datetime.now(UTC)
    results = await ingest(
        client,
        world.a,
        [
            event("sam@example.com", when=now - timedelta(days=14)),
            event("sam@example.com", when=now - timedelta(days=14, hours=1)),
            event("sam@example.com", when=now),
        ],
    )
    async with signed_in_client(app, "sam@example.com") as sam:
        response = await sam.get("/api/v1/me/xp", params={"weeks": 4})
        assert response.status_code == 200, response.text
        chart = response.json()
    assert len(chart["weeks"]) == 4
    labels = [w["week"] for w in chart["weeks"]]
    assert labels == sorted(labels)
    assert chart["weeks"][-1]["xp"] == results[2]["xp"]
    assert sum(w["xp"] for w in chart["weeks"]) == sum(r["xp"] for r in results)
    level = chart["level"]
    assert level["xp_total"] == sum(r["xp"] for r in results)
    assert level["level_starts_at_xp"] <= level["xp_total"] < level["next_level_at_xp"]
    assert level["xp_into_level"] + level["xp_to_next_level"] == (
        level["next_level_at_xp"] - level["level_starts_at_xp"]
    )
