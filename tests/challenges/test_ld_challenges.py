"""L&D's organisation-wide challenges: set by L&D, completed by the engine from real events."""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import BadgeAward, BadgeDefinition, Challenge, Course, XpLedgerEntry
from gamification import ChallengeDefinition, EventKind
from tests.console.team_world import fill_team
from tests.factories import World, signed_in_client

LD = "ld@acme.example"


def three_trainings(today: date, **extra: Any) -> dict[str, Any]:
    return {
        "title": "3 trainingen in 14 dagen",
        "description": "Rond drie trainingen af in twee weken.",
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=13)).isoformat(),
        "target": {"event_kind": "completion", "target_count": 3},
        **extra,
    }


async def _courses(ctx: AppContext, world: World, count: int) -> list[int]:
    async with ctx.sessionmaker() as session:
        courses = [
            Course(organisation_id=world.a.id, title=f"Training {i}", duration_minutes=30)
            for i in range(count)
        ]
        session.add_all(courses)
        await session.commit()
        return [c.id for c in courses if c.id is not None]


async def _complete(
    client: AsyncTestClient[Litestar], world: World, event_id: str, course_id: int
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/events",
        json={
            "id": event_id,
            "learner": {"email": "sam@example.com"},
            "kind": "completion",
            "occurred_at": datetime.now(UTC).isoformat(),
            "course": {"id": course_id},
        },
        headers={"Authorization": f"Bearer {world.a.api_key}"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _ledger(ctx: AppContext, user_id: int, reason: str) -> list[int]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(XpLedgerEntry.amount).where(
                XpLedgerEntry.user_id == user_id, XpLedgerEntry.reason == reason
            )
        )
        return list(rows.all())


async def test_three_completed_courses_complete_the_challenge_and_pay_its_reward_once(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, ctx: AppContext, today: date
) -> None:
    async with ctx.sessionmaker() as session:
        session.add(
            BadgeDefinition(
                organisation_id=world.a.id,
                code="drie-trainingen",
                name="Doorzetter",
                # challenge badges have the one tier "completed"
                criterion={"kind": "challenges_completed"},
                tiers=[{"name": "completed", "threshold": 1}],
            )
        )
        await session.commit()
    async with signed_in_client(app, LD) as ld:
        created = await ld.post(
            "/api/v1/challenges",
            json=three_trainings(today, xp_reward=150, badge_code="drie-trainingen"),
        )
    assert created.status_code == 201, created.text
    challenge = created.json()
    assert challenge["status"] == "active" and challenge["individual"]["xp_reward"] == 150
    employee = world.a.users["employee"].id
    assert employee is not None

    courses = await _courses(ctx, world, 3)
    first = await _complete(client, world, "c1", courses[0])
    await _complete(client, world, "c2", courses[1])
    async with signed_in_client(app, "sam@example.com") as sam:
        halfway = (await sam.get(f"/api/v1/challenges/{challenge['id']}")).json()
        assert halfway["individual"]["my_count"] == 2 and not halfway["completed"]
        third = await _complete(client, world, "c3", courses[2])
        assert third["xp"] == first["xp"] + 150  # the completion's own XP plus the reward
        assert third["badges"] == ["drie-trainingen:completed"]
        await _complete(client, world, "c4", world.a.course_id)  # a fourth pays nothing more

        detail = (await sam.get(f"/api/v1/challenges/{challenge['id']}")).json()
        today_screen = (await sam.get("/api/v1/me/today")).json()

    assert detail["completed"] and detail["progress"] == 1.0
    assert detail["completed_on"] == today.isoformat()
    assert detail["individual"]["my_count"] == 3 and detail["individual"]["reward_paid"]
    [shown] = [c for c in today_screen["challenges"] if c["id"] == challenge["id"]]
    assert shown["completed"] and shown["my_count"] == 3 and shown["target"] == 3
    assert await _ledger(ctx, employee, "challenge_completed") == [150]
    async with ctx.sessionmaker() as session:
        total = sum(
            (
                await session.exec(
                    select(XpLedgerEntry.amount).where(XpLedgerEntry.user_id == employee)
                )
            ).all()
        )
        badges = (
            await session.exec(select(BadgeAward.badge_code).where(BadgeAward.user_id == employee))
        ).all()
    assert today_screen["level"]["xp_total"] == total
    assert list(badges) == ["drie-trainingen"]


async def test_completion_xp_is_paid_once_per_course_whatever_the_challenge_counts(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, ctx: AppContext, today: date
) -> None:
    async with signed_in_client(app, LD) as ld:
        created = (await ld.post("/api/v1/challenges", json=three_trainings(today))).json()
    await _complete(client, world, "again-1", world.a.course_id)
    await _complete(client, world, "again-2", world.a.course_id)
    employee = world.a.users["employee"].id
    assert employee is not None
    [paid] = await _ledger(ctx, employee, "completion")  # a course completed again earns nothing
    assert paid > 0
    async with signed_in_client(app, "sam@example.com") as sam:
        mine = (await sam.get(f"/api/v1/challenges/{created['id']}")).json()
    # and the challenge counts the course once too
    assert mine["individual"]["my_count"] == 1


async def test_the_same_course_completed_three_times_is_not_three_trainings(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, today: date
) -> None:
    async with signed_in_client(app, LD) as ld:
        created = (await ld.post("/api/v1/challenges", json=three_trainings(today))).json()
    for i in range(3):
        await _complete(client, world, f"same-{i}", world.a.course_id)
    async with signed_in_client(app, "sam@example.com") as sam:
        mine = (await sam.get(f"/api/v1/challenges/{created['id']}")).json()
    assert not mine["completed"]
    assert mine["individual"]["my_count"] == 1


def _days(n: int) -> Callable[[date], str]:
    return lambda today: (today + timedelta(days=n)).isoformat()


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"ends_on": _days(0)}, "ends_on", "must be after starts_on"),
        ({"ends_on": _days(90)}, "ends_on", "at most 90 days"),
        ({"starts_on": _days(-1)}, "starts_on", "cannot start in the past"),
        ({"competency_id": 999_999}, "competency_id", "no competency 999999"),
        ({"badge_code": "bestaat-niet"}, "badge_code", "no badge with code 'bestaat-niet'"),
        (
            {"target": {"event_kind": "completion", "target_count": 0}},
            "target.target_count",
            "greater than or equal to 1",
        ),
        (
            {"target": {"event_kind": "magic", "target_count": 3}},
            "target.event_kind",
            "Input should be 'completion'",
        ),
        ({"title": "   "}, "title", "at least 1 character"),
    ],
)
async def test_invalid_challenges_are_refused_with_a_message_naming_the_field(
    app: Litestar, world: World, today: date, change: dict[str, Any], field: str, words: str
) -> None:
    body = three_trainings(today)
    body.update({k: v(today) if callable(v) else v for k, v in change.items()})
    async with signed_in_client(app, LD) as ld:
        response = await ld.post("/api/v1/challenges", json=body)
        assert response.status_code == 400, response.text
        messages = {e["key"]: e["message"] for e in response.json()["extra"]}
        assert list(messages) == [field]
        assert words in messages[field]
        assert (await ld.get("/api/v1/challenges")).json() == []


async def test_only_ld_admins_set_organisation_challenges(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, today: date
) -> None:
    for email in ("sam@example.com", "manager@acme.example"):
        async with signed_in_client(app, email) as person:
            response = await person.post("/api/v1/challenges", json=three_trainings(today))
            assert response.status_code == 403, email
    integration = await client.post(
        "/api/v1/challenges",
        json=three_trainings(today),
        headers={"Authorization": f"Bearer {world.a.api_key}"},
    )
    assert integration.status_code == 403


async def test_ld_changes_a_challenge_and_deletes_it_only_before_it_starts(
    app: Litestar, world: World, today: date
) -> None:
    tomorrow = today + timedelta(days=1)
    async with signed_in_client(app, LD) as ld:
        upcoming = (
            await ld.post(
                "/api/v1/challenges",
                json=three_trainings(
                    today,
                    starts_on=tomorrow.isoformat(),
                    ends_on=(tomorrow + timedelta(days=6)).isoformat(),
                ),
            )
        ).json()
        running = (await ld.post("/api/v1/challenges", json=three_trainings(today))).json()
        assert upcoming["status"] == "upcoming" and running["status"] == "active"

        changed = await ld.patch(
            f"/api/v1/challenges/{running['id']}",
            json={"title": "Drie trainingen in drie weken", "ends_on": str(today + timedelta(20))},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["title"] == "Drie trainingen in drie weken"
        assert changed.json()["ends_on"] == str(today + timedelta(days=20))
        too_long = await ld.patch(
            f"/api/v1/challenges/{running['id']}", json={"ends_on": str(today + timedelta(120))}
        )
        assert too_long.status_code == 400 and "at most 90 days" in too_long.json()["detail"]
        not_a_setter = await ld.patch(f"/api/v1/challenges/{running['id']}", json={"progress": 1.0})
        assert not_a_setter.status_code == 400  # progress is the engine's, never set by hand

        started = await ld.delete(f"/api/v1/challenges/{running['id']}")
        assert started.status_code == 409 and "has started" in started.json()["detail"]
        assert (await ld.delete(f"/api/v1/challenges/{upcoming['id']}")).status_code == 204
        assert (await ld.get(f"/api/v1/challenges/{upcoming['id']}")).status_code == 404

    async with signed_in_client(app, "sam@example.com") as sam:
        assert (
            await sam.patch(f"/api/v1/challenges/{running['id']}", json={"title": "Van mij"})
        ).status_code == 403
        assert (await sam.delete(f"/api/v1/challenges/{running['id']}")).status_code == 403
        seen = (await sam.get(f"/api/v1/challenges/{running['id']}")).json()
        assert seen["title"] == "Drie trainingen in drie weken"


async def test_the_list_shows_active_and_upcoming_and_finished_on_request(
    app: Litestar, world: World, ctx: AppContext, today: date
) -> None:
    async with ctx.sessionmaker() as session:
        finished = Challenge(
            organisation_id=world.a.id,
            kind="individual",
            title="Vorige maand",
            starts_on=today - timedelta(days=40),
            ends_on=today - timedelta(days=30),
        )
        session.add(finished)
        await session.flush()
        finished_id = finished.id
        finished.definition = ChallengeDefinition(
            challenge_id=str(finished_id),
            title=finished.title,
            starts_on=finished.starts_on,
            ends_on=finished.ends_on,
            event_kind=EventKind.COMPLETION,
            target_count=1,
        ).to_dict()
        await session.commit()
    async with signed_in_client(app, LD) as ld:
        later = three_trainings(
            today,
            title="Straks",
            starts_on=str(today + timedelta(days=5)),
            ends_on=str(today + timedelta(days=9)),
        )
        upcoming_id = (await ld.post("/api/v1/challenges", json=later)).json()["id"]
        active_id = (await ld.post("/api/v1/challenges", json=three_trainings(today))).json()["id"]
    async with signed_in_client(app, "sam@example.com") as sam:

        async def ids(query: str = "") -> list[int]:
            response = await sam.get(f"/api/v1/challenges{query}")
            assert response.status_code == 200, response.text
            return [c["id"] for c in response.json()]

        assert await ids() == [active_id, upcoming_id]
        assert await ids("?status=active") == [active_id]
        assert await ids("?status=upcoming") == [upcoming_id]
        assert await ids("?status=finished") == [finished_id]
        assert (await sam.get("/api/v1/challenges?status=someday")).status_code == 400


async def test_before_the_start_l_and_d_changes_the_target_and_reward_too(
    app: Litestar, world: World, today: date, ctx: AppContext
) -> None:
    start = today + timedelta(days=3)
    async with signed_in_client(app, LD) as admin:
        created = await admin.post(
            "/api/v1/challenges",
            json=three_trainings(start, xp_reward=250, competency_id=world.a.competency_id),
        )
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        moved = await admin.patch(
            f"/api/v1/challenges/{cid}",
            json={
                "starts_on": (start + timedelta(days=1)).isoformat(),
                "target": {"event_kind": "informal", "target_count": 5},
                "hot_skill_only": True,
                "competency_id": None,
                "xp_reward": None,  # back to the organisation's default
            },
        )
        assert moved.status_code == 200, moved.text
        body = moved.json()
        assert body["starts_on"] == (start + timedelta(days=1)).isoformat()
        assert body["individual"]["event_kind"] == "informal"
        assert body["individual"]["target_count"] == 5
        assert body["individual"]["hot_skill_only"] is True
        assert body["individual"]["competency_id"] is None
        assert body["individual"]["xp_reward"] == 100  # the default challenge reward
        into_the_past = await admin.patch(
            f"/api/v1/challenges/{cid}",
            json={"starts_on": (today - timedelta(days=1)).isoformat()},
        )
        assert into_the_past.status_code == 400
        assert "starts_on" in into_the_past.json()["detail"]
    async with ctx.sessionmaker() as session:
        row = (await session.exec(select(Challenge).where(Challenge.id == cid))).one()
    definition = ChallengeDefinition.from_dict(row.definition)
    assert (definition.starts_on, definition.event_kind) == (row.starts_on, EventKind.INFORMAL)


async def test_a_team_challenge_keeps_its_target(
    app: Litestar, ctx: AppContext, world: World, today: date
) -> None:
    await fill_team(ctx, world.a.id, world.a.team_id)  # sponsored only at the privacy floor
    async with signed_in_client(app, world.email("a", "manager")) as manager:
        team = await manager.post(
            f"/api/v1/teams/{world.a.team_id}/challenges",
            json={
                "title": "Samen 100 minuten",
                "pledge": "Taart",
                "starts_on": (today + timedelta(days=2)).isoformat(),
                "ends_on": (today + timedelta(days=15)).isoformat(),
                "target": {"kind": "team_minutes", "minutes": 100},
            },
        )
        assert team.status_code == 201, team.text
        refused = await manager.patch(
            f"/api/v1/challenges/{team.json()['id']}",
            json={"target": {"event_kind": "completion", "target_count": 2}},
        )
        assert refused.status_code == 400
        assert "team challenge" in refused.json()["detail"]
        renamed = await manager.patch(
            f"/api/v1/challenges/{team.json()['id']}", json={"title": "Samen 120 minuten"}
        )
        assert renamed.status_code == 200 and renamed.json()["title"] == "Samen 120 minuten"
