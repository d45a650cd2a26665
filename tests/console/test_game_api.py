"""Game rules through the JSON API: XP rules that were refused before, validation, previews on
a small world, the moment a change applies from, nothing earned lost, audit, isolation."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, func, select

from backend.badges.defaults import ensure_default_badges
from backend.context import AppContext
from backend.db.models import AuditEntry, BadgeAward, LearnerState, XpLedgerEntry
from tests.factories import World, signed_in_client
from tests.progress.activity import event, ingest, local_noon, local_today, set_streak_mode

API = "/api/v1/game-rules"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


async def _audit(ctx: AppContext, org_id: int, action: str) -> list[AuditEntry]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(AuditEntry)
            .where(AuditEntry.organisation_id == org_id, AuditEntry.action == action)
            .order_by(col(AuditEntry.id))
        )
        return list(rows.all())


async def _learn(client: AsyncTestClient[Litestar], world: World) -> None:
    """Sam: experience on each of the last three days; Mia: once, three days ago."""
    sam, mia = world.email("a", "employee"), world.email("a", "manager")
    await ingest(
        client,
        world.a,
        [event(sam, when=local_noon(days)) for days in (0, 1, 2)]
        + [event(mia, when=local_noon(3))],
    )


async def test_xp_rules_can_be_set_through_the_organisation_api(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        response = await lou.patch(
            "/api/v1/organisation", json={"settings": {"xp": {"experience_xp": 35}}}
        )
        assert response.status_code == 200, response.text
        xp = response.json()["settings"]["xp"]
        assert xp["experience_xp"] == 35 and xp["informal_xp"] == 10, "other values kept"
        [result] = await ingest(lou, world.a, [event(world.email("a", "employee"))])
        assert result["xp"] == 35
    [entry] = await _audit(ctx, world.a.id, "game_rules.change")
    assert entry.details["changed"] == ["xp.experience_xp"]
    assert entry.details["before"]["xp"]["experience_xp"] == 20
    assert entry.details["after"]["xp"]["experience_xp"] == 35


async def test_game_rules_api_reads_and_changes_every_section(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        start = (await lou.get(API)).json()
        assert start["rules"]["streak"]["mode"] == "weekly" and start["since"] is None
        season = {"name": "Kick-off", "starts_on": "2027-01-04", "ends_on": "2027-01-17"}
        response = await lou.patch(
            API,
            json={
                "xp": {"completion_base": 80, "informal_daily_cap": 40, "seasons": [season]},
                "levels": {"step_xp": 60},
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert sorted(body["changed"]) == [
            "levels.step_xp",
            "xp.completion_base",
            "xp.informal_daily_cap",
            "xp.seasons",
        ]
        rules = body["rules"]["rules"]
        assert rules["xp"]["completion_base"] == 80 and rules["levels"]["step_xp"] == 60
        assert rules["xp"]["seasons"][0]["multiplier"] == 2.0
        again = await lou.patch(API, json={"xp": {"completion_base": 80}})
        assert again.json()["changed"] == [], "the same value again changes nothing"
    assert len(await _audit(ctx, world.a.id, "game_rules.change")) == 1


async def test_bad_values_are_refused_naming_the_field(app: Litestar, world: World) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"xp": {"experience_xp": -5}}, "xp.experience_xp"),
        ({"xp": {"informal_xp": 20, "informal_daily_cap": 10}}, "xp.informal_daily_cap"),
        ({"xp": {"hot_skill_multiplier": 0.5}}, "xp.hot_skill_multiplier"),
        (
            {"xp": {"seasons": [{"starts_on": "2027-02-10", "ends_on": "2027-02-01"}]}},
            "xp.seasons.0.ends_on",
        ),
        ({"streak": {"days_per_week": 8}}, "streak.days_per_week"),
        ({"levels": {"step_xp": 0}}, "levels.step_xp"),
        ({"xp": {"informal_xp": 5}, "effective_from": "2020-01-01"}, "effective_from"),
    ]
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        for body, key in cases:
            response = await lou.patch(API, json=body)
            assert response.status_code == 400, body
            assert key in [e["key"] for e in response.json()["extra"]], response.text
        capped = await lou.patch(API, json={"xp": {"informal_xp": 20, "informal_daily_cap": 10}})
        assert "at least the XP of one moment" in capped.text
        old_api = await lou.patch(
            "/api/v1/organisation", json={"settings": {"xp": {"testimonial_xp": -1}}}
        )
        assert old_api.status_code == 400
        assert [e["key"] for e in old_api.json()["extra"]] == ["settings.xp.testimonial_xp"]
        assert (await lou.get(API)).json()["rules"]["xp"]["experience_xp"] == 20, "nothing stored"


async def test_preview_counts_streaks_levels_and_xp_on_the_stored_data(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await set_streak_mode(ctx, world.a.id, "daily")
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        await _learn(lou, world)
        response = await lou.post(
            f"{API}/preview",
            json={
                "streak": {"mode": "weekly", "days_per_week": 1},
                "xp": {"completion_base": 100},
                "levels": {"step_xp": 5},
            },
        )
        assert response.status_code == 200, response.text
        preview = response.json()
        # daily: only Sam (the last three days) has a streak; weekly with one day: Mia too
        assert preview["learners"] == 3
        assert (preview["streaks_now"], preview["streaks_new"]) == (1, 2)
        # the only course is 45 minutes: 50 + round(0.5 x 45) = 73, then 100 + 23
        completion = next(x for x in preview["xp_examples"] if x["kind"] == "completion")
        assert (completion["minutes"], completion["now"], completion["new"]) == (45, 73, 123)
        # XP 60 (Sam), 20 (Mia), 0 (Lou): with step 5, level n needs 5n(n-1): 4, 2, 1
        assert (preview["median_xp"], preview["median_level_now"]) == (20, 1)
        assert preview["median_level_new"] == 2
        assert (preview["levels_up"], preview["levels_down"]) == (2, 0)
        rows = {r["level"]: r for r in preview["level_rows"]}
        assert rows[4]["learners_new"] == 1 and rows[1]["learners_now"] == 3
        assert rows[2]["xp_now"] == 100 and rows[2]["xp_new"] == 10
        # a streak change starts on a Monday
        starts = datetime.fromisoformat(preview["effective_from"]).astimezone(AMSTERDAM)
        assert starts.weekday() == 0 and (starts.hour, starts.minute) == (0, 0)
        assert starts.date() > local_today()
        # nothing was saved
        assert (await lou.get(API)).json()["rules"]["xp"]["completion_base"] == 50
    assert await _audit(ctx, world.a.id, "game_rules.change") == []


async def test_new_xp_rules_pay_only_learning_after_the_moment(app: Litestar, world: World) -> None:
    sam = world.email("a", "employee")
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        before = datetime.now(UTC) - timedelta(hours=1)
        response = await lou.patch(API, json={"xp": {"experience_xp": 50}})
        assert response.status_code == 200
        moment = datetime.fromisoformat(response.json()["effective_from"])
        assert before < moment <= datetime.now(UTC)
        late, fresh = await ingest(
            lou, world.a, [event(sam, when=before), event(sam, when=datetime.now(UTC))]
        )
        assert (late["xp"], fresh["xp"]) == (20, 50), "a late event keeps the old amount"


async def test_a_change_for_a_later_day_waits_for_it(app: Litestar, world: World) -> None:
    tomorrow = local_today() + timedelta(days=1)
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        response = await lou.patch(
            API, json={"xp": {"experience_xp": 40}, "effective_from": tomorrow.isoformat()}
        )
        assert response.status_code == 200, response.text
        starts = datetime.fromisoformat(response.json()["effective_from"]).astimezone(AMSTERDAM)
        assert (starts.date(), starts.hour) == (tomorrow, 0)
        view = response.json()["rules"]
        assert view["rules"]["xp"]["experience_xp"] == 20, "still in force today"
        [upcoming] = view["upcoming"]
        assert upcoming["rules"]["xp"]["experience_xp"] == 40
        [today_event] = await ingest(lou, world.a, [event(world.email("a", "employee"))])
        assert today_event["xp"] == 20


async def test_a_streak_change_starts_next_monday(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        response = await lou.patch(
            "/api/v1/organisation", json={"settings": {"streak_mode": "daily"}}
        )
        assert response.status_code == 200
        assert response.json()["settings"]["streak_mode"] == "daily", "the newest version"
        view = (await lou.get(API)).json()
        assert view["rules"]["streak"]["mode"] == "weekly", "this week keeps its rule"
        [upcoming] = view["upcoming"]
        starts = datetime.fromisoformat(upcoming["starts_at"]).astimezone(AMSTERDAM)
        assert starts.weekday() == 0 and starts.date() - local_today() <= timedelta(days=7)
        assert upcoming["rules"]["streak"]["mode"] == "daily"
    [entry] = await _audit(ctx, world.a.id, "game_rules.change")
    assert entry.details["changed"] == ["streak.mode"]
    assert datetime.fromisoformat(entry.details["effective_from"]) == starts


async def test_earned_xp_levels_and_badges_stay_after_a_change(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sam = world.a.users["employee"]
    async with ctx.sessionmaker() as session:
        await ensure_default_badges(session, world.a.id)
        await session.commit()
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        course = world.a.course_id
        await ingest(
            lou,
            world.a,
            [
                event(sam.email, "completion", course_id=course),
                event(sam.email, "informal", title="Read up on feedback"),
            ],
        )

        async def earned() -> tuple[int, int, int]:
            async with ctx.sessionmaker() as session:
                state = (
                    await session.exec(select(LearnerState).where(LearnerState.user_id == sam.id))
                ).one()
                ledger = (
                    await session.exec(
                        select(func.sum(XpLedgerEntry.amount)).where(
                            XpLedgerEntry.user_id == sam.id
                        )
                    )
                ).one()
                badges = (
                    await session.exec(
                        select(func.count())
                        .select_from(BadgeAward)
                        .where(BadgeAward.user_id == sam.id)
                    )
                ).one()
            return state.xp_total, int(ledger or 0), int(badges)

        before = await earned()
        assert before[0] == before[1] == 73 + 10 and before[2] == 1, before
        response = await lou.patch(
            API,
            json={
                "xp": {"completion_base": 0, "completion_xp_per_minute": 0, "informal_xp": 0},
                "levels": {"step_xp": 1000},
            },
        )
        assert response.status_code == 200
        assert await earned() == before
    async with signed_in_client(app, sam.email) as client:
        level = (await client.get("/api/v1/me/xp")).json()["level"]
        assert level["xp_total"] == 83 and level["level"] == 1, "the new curve, the same XP"


async def test_game_rules_stay_within_the_organisation(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        await _learn(lou, world)
        assert (await lou.patch(API, json={"xp": {"informal_xp": 3}})).status_code == 200
    async with signed_in_client(app, world.email("b", "ld_admin")) as globex:
        assert (await globex.get(API)).json()["rules"]["xp"]["informal_xp"] == 10
        preview = (await globex.post(f"{API}/preview", json={})).json()
        assert preview["learners"] == 3 and preview["streaks_now"] == 0
        assert preview["median_xp"] == 0
    assert await _audit(ctx, world.b.id, "game_rules.change") == []
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        assert (await sam.get(API)).status_code == 403
        assert (await sam.patch(API, json={"xp": {"informal_xp": 99}})).status_code == 403


async def test_game_rules_routes_are_in_the_openapi_document(app: Litestar) -> None:
    async with AsyncTestClient(app=app) as client:
        paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert {"get", "patch"} <= set(paths["/api/v1/game-rules"])
    assert "post" in paths["/api/v1/game-rules/preview"]
    summary = paths["/api/v1/game-rules"]["patch"]["summary"]
    assert "from a day" in summary


async def test_other_organisation_settings_are_audited_with_before_and_after(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        response = await lou.patch(
            "/api/v1/organisation",
            json={
                "name": "Acme BV",
                "settings": {"quiet_hours_start": 22, "xp": {"informal_xp": 8}},
            },
        )
        assert response.status_code == 200, response.text
    [entry] = await _audit(ctx, world.a.id, "organisation.update")
    assert entry.details == {
        "before": {"name": "Acme", "quiet_hours_start": 21},
        "after": {"name": "Acme BV", "quiet_hours_start": 22},
    }
    [game] = await _audit(ctx, world.a.id, "game_rules.change")
    assert game.details["changed"] == ["xp.informal_xp"]
