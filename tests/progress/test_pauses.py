"""Planned pauses: holiday and leave never break a streak; the rules of planning them."""

from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.context import AppContext
from backend.progress import services
from tests.factories import World, signed_in_client
from tests.progress.activity import event, ingest, local_noon, local_today, set_streak_mode


def day(offset: int) -> str:
    return str(local_today() + timedelta(days=offset))


async def test_a_planned_pause_keeps_a_daily_streak_unbroken_across_the_paused_days(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    world: World,
    ctx: AppContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await set_streak_mode(ctx, world.a.id, "daily")
    # four days ago Sam planned the next two days off (the clock of that day)
    monkeypatch.setattr(services, "utcnow", lambda: local_noon(4))
    async with signed_in_client(app, "sam@example.com") as sam:
        planned = await sam.post(
            "/api/v1/me/pauses", json={"start_date": day(-3), "end_date": day(-2)}
        )
        assert planned.status_code == 201, planned.text
        assert planned.json() == {
            "start_date": day(-3),
            "end_date": day(-2),
            "days": 2,
            "status": "upcoming",
        }
    monkeypatch.undo()
    # Sam and Mia learn on the same days: 5 and 4 days ago, yesterday and today
    manager = world.a.users["manager"].email
    await ingest(
        client,
        world.a,
        [
            event(who, when=local_noon(days_ago))
            for who in ("sam@example.com", manager)
            for days_ago in (5, 4, 1, 0)
        ],
    )
    async with signed_in_client(app, "sam@example.com") as sam:
        streak = (await sam.get("/api/v1/me/today")).json()["streak"]
        assert streak["mode"] == "daily"
        assert streak["current"] == 4  # the paused days neither broke nor extended it
        [pause] = (await sam.get("/api/v1/me/pauses")).json()
        assert pause["status"] == "past"
        # days already lived through stay paused
        assert (await sam.delete(f"/api/v1/me/pauses/{day(-3)}")).status_code == 409
    async with signed_in_client(app, manager) as mia:
        # without a pause the two empty days broke Mia's streak
        assert (await mia.get("/api/v1/me/today")).json()["streak"]["current"] == 2


async def test_a_planned_pause_keeps_a_weekly_streak_unbroken(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    world: World,
    ctx: AppContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await set_streak_mode(ctx, world.a.id, "weekly")
    today = local_today()
    this_monday = today - timedelta(days=today.weekday())
    # three active days in each of the two weeks before last; last week entirely away
    before = [this_monday - timedelta(days=d) for d in (21, 20, 19, 14, 13, 12)]
    away_start = this_monday - timedelta(days=7)
    monkeypatch.setattr(services, "utcnow", lambda: local_noon((today - away_start).days + 1))
    async with signed_in_client(app, "sam@example.com") as sam:
        planned = await sam.post(
            "/api/v1/me/pauses",
            json={"start_date": str(away_start), "end_date": str(this_monday - timedelta(days=1))},
        )
        assert planned.status_code == 201, planned.text
    monkeypatch.undo()
    manager = world.a.users["manager"].email
    await ingest(
        client,
        world.a,
        [
            event(who, when=local_noon((today - d).days))
            for who in ("sam@example.com", manager)
            for d in before
        ],
    )
    async with signed_in_client(app, "sam@example.com") as sam:
        assert (await sam.get("/api/v1/me/today")).json()["streak"]["current"] == 2
    async with signed_in_client(app, manager) as mia:
        assert (await mia.get("/api/v1/me/today")).json()["streak"]["current"] == 0


async def test_an_overlapping_pause_is_refused_with_the_dates_it_clashes_with(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "sam@example.com") as sam:
        first = await sam.post(
            "/api/v1/me/pauses", json={"start_date": day(10), "end_date": day(14)}
        )
        assert first.status_code == 201, first.text
        clash = await sam.post(
            "/api/v1/me/pauses", json={"start_date": day(14), "end_date": day(20)}
        )
        assert clash.status_code == 409
        assert day(10) in clash.json()["detail"] and day(14) in clash.json()["detail"]
        inside = await sam.post(
            "/api/v1/me/pauses", json={"start_date": day(11), "end_date": day(12)}
        )
        assert inside.status_code == 409
        # right after it is fine
        after = await sam.post(
            "/api/v1/me/pauses", json={"start_date": day(15), "end_date": day(16)}
        )
        assert after.status_code == 201
        listed = (await sam.get("/api/v1/me/pauses")).json()
        assert [(p["start_date"], p["status"]) for p in listed] == [
            (day(10), "upcoming"),
            (day(15), "upcoming"),
        ]
        assert (await sam.delete(f"/api/v1/me/pauses/{day(10)}")).status_code == 204
        assert [p["start_date"] for p in (await sam.get("/api/v1/me/pauses")).json()] == [day(15)]
        missing = await sam.delete(f"/api/v1/me/pauses/{day(10)}")
        assert missing.status_code == 404 and day(10) in missing.json()["detail"]


async def test_pauses_in_the_past_longer_than_sixty_days_or_backwards_are_refused(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "sam@example.com") as sam:
        sixty_days = await sam.post(
            "/api/v1/me/pauses", json={"start_date": day(5), "end_date": day(64)}
        )
        assert sixty_days.status_code == 201, sixty_days.text
        # refused by the planning rules: the error names the field
        for body, field in (
            ({"start_date": day(-1), "end_date": day(2)}, "start_date"),
            ({"start_date": day(100), "end_date": day(160)}, "end_date"),  # 61 days
            ({"start_date": day(200), "end_date": day(199)}, "end_date"),
        ):
            response = await sam.post("/api/v1/me/pauses", json=body)
            assert response.status_code == 400, (body, response.text)
            assert response.json()["extra"] == {"field": field}, (body, response.text)
        # not dates at all: the validation error lists the field
        for body, field in (
            ({"start_date": "soon", "end_date": day(3)}, "start_date"),
            ({"start_date": day(300)}, "end_date"),
        ):
            response = await sam.post("/api/v1/me/pauses", json=body)
            assert response.status_code == 400, (body, response.text)
            assert [e["key"] for e in response.json()["extra"]] == [field], (body, response.text)
        assert [
            (p["start_date"], p["end_date"]) for p in (await sam.get("/api/v1/me/pauses")).json()
        ] == [(day(5), day(64))]
