"""Badges through the API: defaults, L&D definitions, earning through ingestion, the wall."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from backend.badges.defaults import DEFAULT_BADGES, ensure_default_badges
from backend.context import AppContext
from backend.db.models import BadgeDefinition, User
from tests.factories import World, signed_in_client


def feedback_badge(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "feedback-pro",
        "name": "Feedbackkampioen",
        "name_en": "Feedback champion",
        "description": "Je geeft en vraagt feedback als de beste.",
        "description_en": "You give and ask for feedback like a pro.",
        "criterion": {
            "kind": "event_count",
            "event_kind": "completion",
            "competency_id": world.a.competency_id,
        },
        "tiers": [{"name": "bronze", "threshold": 1}, {"name": "silver", "threshold": 3}],
        "competency_id": world.a.competency_id,
    }
    body.update(overrides)
    return body


async def complete_course(client: AsyncTestClient[Litestar], world: World) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/events",
        json={
            "id": f"done-{uuid.uuid4()}",
            "learner": {"email": "sam@example.com"},
            "kind": "completion",
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
            "course": {"id": world.a.course_id},
        },
        headers={"Authorization": f"Bearer {world.a.api_key}"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def set_locale(ctx: AppContext, user_id: int | None, locale: str) -> None:
    async with ctx.sessionmaker() as session:
        user = (await session.exec(select(User).where(User.id == user_id))).one()
        user.locale = locale
        session.add(user)
        await session.commit()


async def test_default_badges_are_created_once_and_changes_by_ld_are_kept(
    ctx: AppContext, world: World
) -> None:
    async with ctx.sessionmaker() as session:
        assert await ensure_default_badges(session, world.a.id) == len(DEFAULT_BADGES)
        await session.commit()
        row = (
            await session.exec(
                select(BadgeDefinition).where(
                    BadgeDefinition.organisation_id == world.a.id, BadgeDefinition.code == "streak"
                )
            )
        ).one()
        row.name, row.is_active = "Doorzetter", False
        session.add(row)
        await session.commit()
    async with ctx.sessionmaker() as session:
        assert await ensure_default_badges(session, world.a.id) == 0
        await session.commit()
        rows = (
            await session.exec(
                select(BadgeDefinition).where(BadgeDefinition.organisation_id == world.a.id)
            )
        ).all()
        other_org = (
            await session.exec(
                select(BadgeDefinition).where(BadgeDefinition.organisation_id == world.b.id)
            )
        ).all()
    assert sorted(r.code for r in rows) == sorted(b.definition.code for b in DEFAULT_BADGES)
    streak = next(r for r in rows if r.code == "streak")
    assert (streak.name, streak.is_active) == ("Doorzetter", False)
    assert other_org == []


async def test_badges_are_listed_in_the_learners_language_with_how_to_earn(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with ctx.sessionmaker() as session:
        await ensure_default_badges(session, world.a.id)
        await session.commit()
    async with signed_in_client(app, world.email("a", "employee")) as client:
        dutch = {b["code"]: b for b in (await client.get("/api/v1/badges")).json()}
    finisher = dutch["finisher"]
    assert finisher["name"] == "Afmaker"
    assert [t["label"] for t in finisher["tiers"]] == ["brons", "zilver", "goud"]
    assert finisher["tiers"][1]["how_to_earn"] == "Rond 10 trainingen af"
    # the demo-like org keeps weekly streaks: the sentence counts weeks
    assert dutch["streak"]["tiers"][0]["how_to_earn"] == "Houd je weekreeks 4 weken vol"

    await set_locale(ctx, world.a.users["employee"].id, "en")
    async with signed_in_client(app, world.email("a", "employee")) as client:
        english = {b["code"]: b for b in (await client.get("/api/v1/badges")).json()}
    assert english["finisher"]["name"] == "Finisher"
    assert english["finisher"]["tiers"][1]["how_to_earn"] == "Complete 10 courses"
    assert english["finisher"]["tiers"][1]["label"] == "silver"
    assert english["explorer"]["name"] == "Horizontal explorer"
    assert english["learning-time"]["tiers"][0]["how_to_earn"] == "Learn for 5 hours in total"


async def test_a_badge_ld_defines_is_earned_through_ingestion_and_shows_on_the_wall(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        created = await admin.post("/api/v1/badges", json=feedback_badge(world))
    assert created.status_code == 201, created.text
    assert created.json()["tiers"][0]["how_to_earn"] == "Rond 1 training af binnen Communicatie"

    result = await complete_course(client, world)
    assert result["badges"] == ["feedback-pro:bronze"]

    async with signed_in_client(app, world.email("a", "employee")) as employee:
        wall = {b["code"]: b for b in (await employee.get("/api/v1/me/badges")).json()}
    badge = wall["feedback-pro"]
    assert badge["name"] == "Feedbackkampioen"
    assert badge["competency"] == {"id": world.a.competency_id, "name": "Communicatie"}
    [bronze] = badge["earned"]
    assert bronze["name"] == "bronze" and bronze["public_id"]
    assert bronze["credential_url"].endswith(f"/badges/credentials/{bronze['public_id']}")
    assert badge["next_tier"]["name"] == "silver"
    assert (badge["next_tier"]["current"], badge["next_tier"]["threshold"]) == (1, 3)
    assert badge["next_tier"]["how_to_earn"] == "Rond 3 trainingen af binnen Communicatie"
    assert 0.33 < badge["next_tier"]["fraction"] < 0.34


async def test_switching_a_badge_off_hides_it_but_keeps_what_was_earned(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        badge_id = (await admin.post("/api/v1/badges", json=feedback_badge(world))).json()["id"]
        await complete_course(client, world)
        changed = await admin.patch(f"/api/v1/badges/{badge_id}", json={"is_active": False})
        assert changed.status_code == 200, changed.text
        assert changed.json()["is_active"] is False
        everything = await admin.get("/api/v1/badges?include_inactive=true")
        assert [(b["code"], b["is_active"]) for b in everything.json()] == [("feedback-pro", False)]
    async with signed_in_client(app, world.email("a", "employee")) as employee:
        listed = [b["code"] for b in (await employee.get("/api/v1/badges")).json()]
        wall = {b["code"]: b for b in (await employee.get("/api/v1/me/badges")).json()}
        assert (await employee.get("/api/v1/badges?include_inactive=true")).status_code == 403
    assert listed == []
    assert [t["name"] for t in wall["feedback-pro"]["earned"]] == ["bronze"]
    assert wall["feedback-pro"]["locked"] == [] and wall["feedback-pro"]["next_tier"] is None


async def test_bad_badge_definitions_are_refused_naming_the_problem(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"tiers": [{"name": "bronze", "threshold": 5}, {"name": "silver", "threshold": 3}]},
            "rising thresholds",
        ),
        (
            {"tiers": [{"name": "bronze", "threshold": 1}, {"name": "bronze", "threshold": 3}]},
            "duplicate tier names",
        ),
        ({"criterion": {"kind": "pages_read"}}, "criterion.kind: unknown kind 'pages_read'"),
        (
            {"criterion": {"kind": "event_count", "event_kind": "reading"}},
            "criterion.event_kind: unknown event kind",
        ),
        (
            {"criterion": {"kind": "streak_length", "event_kind": "completion"}},
            "only event_count and total_minutes",
        ),
        (
            {"criterion": {"kind": "streak_length", "competency_id": world.a.competency_id}},
            "criterion.competency_id",
        ),
        ({"competency_id": world.b.competency_id}, "competency_id: no competency"),
        (
            {"criterion": {"kind": "event_count", "competency_id": world.b.competency_id}},
            "criterion.competency_id: no competency",
        ),
        (
            {"criterion": {"kind": "event_count", "course_ids": [world.b.course_id]}},
            "criterion.course_ids: no course",
        ),
        (
            {
                "criterion": {
                    "kind": "event_count",
                    "starts_on": "2025-03-31",
                    "ends_on": "2025-03-01",
                }
            },
            "ends before it starts",
        ),
    ]
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        for overrides, problem in cases:
            response = await admin.post("/api/v1/badges", json=feedback_badge(world, **overrides))
            assert response.status_code == 400, (overrides, response.text)
            assert problem in response.json()["detail"], (problem, response.text)
        schema_errors = [
            {"tiers": []},
            {"tiers": [{"name": "bronze", "threshold": 0}]},
            {"code": "Has Spaces"},
            {"surprise": True},
        ]
        for overrides in schema_errors:
            response = await admin.post("/api/v1/badges", json=feedback_badge(world, **overrides))
            assert response.status_code == 400, (overrides, response.text)

        first = await admin.post("/api/v1/badges", json=feedback_badge(world))
        assert first.status_code == 201
        again = await admin.post("/api/v1/badges", json=feedback_badge(world, name="Nog een"))
        assert again.status_code == 409
        assert "feedback-pro" in again.json()["detail"]

        badge_id = first.json()["id"]
        falling = [{"name": "gold", "threshold": 9}, {"name": "silver", "threshold": 2}]
        patched = await admin.patch(f"/api/v1/badges/{badge_id}", json={"tiers": falling})
        assert patched.status_code == 400 and "rising" in patched.json()["detail"]
        unchanged = (await admin.get(f"/api/v1/badges/{badge_id}")).json()
        assert [t["threshold"] for t in unchanged["tiers"]] == [1, 3]
    async with ctx.sessionmaker() as session:
        codes = (
            await session.exec(
                select(BadgeDefinition.code).where(
                    col(BadgeDefinition.organisation_id) == world.a.id
                )
            )
        ).all()
    assert list(codes) == ["feedback-pro"]


async def test_ld_admin_changes_a_badge_and_the_new_texts_follow(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        badge_id = (await admin.post("/api/v1/badges", json=feedback_badge(world))).json()["id"]
        response = await admin.patch(
            f"/api/v1/badges/{badge_id}",
            json={
                "name_en": "Feedback hero",
                "criterion": {"kind": "total_minutes"},
                "tiers": [{"name": "bronze", "threshold": 120}],
                "competency_id": None,
            },
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name_en"] == "Feedback hero" and body["name"] == "Feedbackkampioen"
    assert body["competency"] is None
    assert body["tiers"] == [
        {
            "name": "bronze",
            "label": "brons",
            "threshold": 120,
            "how_to_earn": "Leer in totaal 2 uur",
        }
    ]


async def test_employees_and_integrations_cannot_define_badges(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as employee:
        assert (
            await employee.post("/api/v1/badges", json=feedback_badge(world))
        ).status_code == 403
        assert (await employee.patch("/api/v1/badges/1", json={"name": "x"})).status_code == 403
    async with signed_in_client(app, world.email("a", "manager")) as manager:
        assert (await manager.post("/api/v1/badges", json=feedback_badge(world))).status_code == 403
    key = {"Authorization": f"Bearer {world.a.api_key}"}
    assert (
        await client.post("/api/v1/badges", json=feedback_badge(world), headers=key)
    ).status_code == 403
    assert (await client.get("/api/v1/me/badges", headers=key)).status_code == 403
    assert (await client.get("/api/v1/me/badges")).status_code == 401
    assert (await client.get("/api/v1/badges")).status_code == 401


async def test_another_organisation_sees_none_of_our_badges_or_awards(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        badge_id = (await admin.post("/api/v1/badges", json=feedback_badge(world))).json()["id"]
    await complete_course(client, world)
    async with signed_in_client(app, world.email("b", "ld_admin")) as other:
        assert (await other.get("/api/v1/badges")).json() == []
        assert (await other.get(f"/api/v1/badges/{badge_id}")).status_code == 404
        patched = await other.patch(f"/api/v1/badges/{badge_id}", json={"name": "Gekaapt"})
        assert patched.status_code == 404
        # B reuses the code: codes are per organisation
        own = await other.post(
            "/api/v1/badges",
            json=feedback_badge(
                world,
                competency_id=world.b.competency_id,
                criterion={"kind": "event_count", "competency_id": world.b.competency_id},
            ),
        )
        assert own.status_code == 201, own.text
    # a learner of B (who learned nothing) sees B's badge of that code, not A's award
    async with signed_in_client(app, world.email("b", "manager")) as neighbour:
        wall = {b["code"]: b for b in (await neighbour.get("/api/v1/me/badges")).json()}
    assert wall["feedback-pro"]["earned"] == []
    assert wall["feedback-pro"]["next_tier"]["current"] == 0
    async with signed_in_client(app, world.email("a", "employee")) as employee:
        mine = {b["code"]: b for b in (await employee.get("/api/v1/me/badges")).json()}
    assert mine["feedback-pro"]["name"] == "Feedbackkampioen"


async def test_the_first_learning_moment_earns_the_default_badge(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with ctx.sessionmaker() as session:
        await ensure_default_badges(session, world.a.id)
        await session.commit()
    async with signed_in_client(app, world.email("a", "employee")) as employee:
        logged = await employee.post(
            "/api/v1/me/moments",
            json={
                "client_id": str(uuid.uuid4()),
                "what": "Geleerd hoe je een lastig gesprek opent",
                "minutes": 20,
                "competency_id": world.a.competency_id,
            },
        )
        assert logged.status_code == 201, logged.text
        assert logged.json()["badges"] == ["first-moment:bronze"]
        wall = {b["code"]: b for b in (await employee.get("/api/v1/me/badges")).json()}
    assert [t["name"] for t in wall["first-moment"]["earned"]] == ["bronze"]
    assert wall["first-moment"]["next_tier"] is None
    explorer = wall["explorer"]["next_tier"]
    assert (explorer["current"], explorer["threshold"]) == (1, 3)
    minutes = wall["learning-time"]["next_tier"]
    assert (minutes["current"], minutes["threshold"]) == (20, 300)


async def test_a_broken_stored_badge_is_left_out_instead_of_breaking_the_pages(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with ctx.sessionmaker() as session:
        await ensure_default_badges(session, world.a.id)
        session.add(
            BadgeDefinition(
                organisation_id=world.a.id,
                code="hand-edited",
                name="Met de hand aangepast",
                criterion={"kind": "pages_read"},
                tiers=[{"name": "bronze", "threshold": 1}],
            )
        )
        await session.commit()
    async with signed_in_client(app, world.email("a", "employee")) as employee:
        listed = await employee.get("/api/v1/badges")
        wall = await employee.get("/api/v1/me/badges")
    assert listed.status_code == wall.status_code == 200
    assert sorted(b["code"] for b in listed.json()) == sorted(
        badge.definition.code for badge in DEFAULT_BADGES
    )
    assert len(wall.json()) == len(DEFAULT_BADGES)
