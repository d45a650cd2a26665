"""Organisation challenges in the console and the JSON API: periods, participation, rules."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import AuditEntry, Challenge
from gamification import ChallengeDefinition, EventKind, local_day
from tests.console.team_world import fill_team
from tests.factories import World, signed_in_client


def today() -> date:
    """The organisations' day (both are in Europe/Amsterdam), as the services count it."""
    return local_day(datetime.now(UTC), "Europe/Amsterdam")


async def _challenge(
    ctx: AppContext,
    world: World,
    starts: int,
    ends: int,
    kind: str = "experience",
    target: int = 2,
    org: str = "a",
    **rules: Any,
) -> int:
    """An organisation challenge from ``starts`` to ``ends`` days from today (any dates,
    also in the past, as if it had been set up earlier)."""
    organisation_id = getattr(world, org).id
    async with ctx.sessionmaker() as session:
        row = Challenge(
            organisation_id=organisation_id,
            kind="individual",
            title=f"Challenge {uuid.uuid4().hex[:6]}",
            starts_on=today() + timedelta(days=starts),
            ends_on=today() + timedelta(days=ends),
        )
        session.add(row)
        await session.flush()
        assert row.id is not None
        row.definition = ChallengeDefinition(
            challenge_id=str(row.id),
            title=row.title,
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            event_kind=EventKind(kind),
            target_count=target,
            **rules,
        ).to_dict()
        session.add(row)
        await session.commit()
        return row.id


async def _event(
    client: AsyncTestClient[Litestar], world: World, email: str, kind: str, days_ago: int = 0,
    **extra: Any,
) -> None:  # fmt: skip
    response = await client.post(
        "/api/v1/events",
        json={
            "id": f"e-{uuid.uuid4()}",
            "learner": {"email": email},
            "kind": kind,
            "minutes": 20,
            "occurred_at": (datetime.now(UTC) - timedelta(days=days_ago, hours=1)).isoformat(),
            **extra,
        },
        headers={"Authorization": f"Bearer {world.a.api_key}"},
    )
    assert response.status_code == 201, response.text


async def _audit(ctx: AppContext, org_id: int) -> list[AuditEntry]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(AuditEntry)
            .where(AuditEntry.organisation_id == org_id)
            .order_by(col(AuditEntry.id))
        )
        return list(rows.all())


def _form(**changes: str) -> dict[str, str]:
    start = today() + timedelta(days=7)
    form = {
        "title": "Kick-off week",
        "description": "Drie leermomenten in een week",
        "starts_on": start.isoformat(),
        "ends_on": (start + timedelta(days=6)).isoformat(),
        "event_kind": "informal",
        "target_count": "3",
        "competency_id": "",
        "xp_reward": "",
        "badge_code": "",
    }
    form.update(changes)
    return form


async def test_challenges_are_listed_by_period_with_participation_numbers(
    app: Litestar, world: World, ctx: AppContext, client: AsyncTestClient[Litestar]
) -> None:
    manager = world.email("a", "manager")
    running = await _challenge(ctx, world, -3, 3, "experience", 2)
    in_competency = await _challenge(
        ctx, world, -3, 3, "completion", 1, competency_id=world.a.competency_id
    )
    hot_only = await _challenge(ctx, world, -3, 3, "completion", 1, hot_skill_only=True)
    past = await _challenge(ctx, world, -20, -10, "experience", 2)
    upcoming = await _challenge(ctx, world, 5, 12)
    await _challenge(ctx, world, -3, 3, org="b")  # Globex's: never counted or shown
    # Sam: 2 experiences now (completes), 1 long ago (in the past one), a course completion
    await _event(client, world, "sam@example.com", "experience")
    await _event(client, world, "sam@example.com", "experience")
    await _event(client, world, "sam@example.com", "experience", days_ago=15)
    await _event(client, world, "sam@example.com", "completion", course={"id": world.a.course_id})
    # Mia: one experience (takes part), a moment (counts for nothing here)
    await _event(client, world, manager, "experience")
    await _event(client, world, manager, "informal")
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        listed = (await admin.get("/api/v1/challenges/organisation")).json()
        numbers = {c["id"]: (c["participants"], c["completed"], c["learners"]) for c in listed}
        assert numbers == {
            running: (2, 1, 3),
            in_competency: (1, 1, 3),  # the course is in the competency
            hot_only: (0, 0, 3),  # the course is no hot skill
            past: (1, 0, 3),
            upcoming: (0, 0, 3),
        }
        by_period = {
            period: [c["id"] for c in (
                await admin.get(f"/api/v1/challenges/organisation?period={period}")
            ).json()]
            for period in ("running", "upcoming", "past")
        }  # fmt: skip
        assert by_period == {
            "running": [running, in_competency, hot_only],
            "upcoming": [upcoming],
            "past": [past],
        }
        page = await admin.get("/console/challenges?lang=en")
        assert page.status_code == 200
        text = page.text
        assert text.index("Running") < text.index("Upcoming") < text.index("Past")
        assert "Record 2 on-the-job experiences" in text
        assert "Hot skills only" in text
        # aggregate numbers only: no learner's name on the page
        assert "Sam Acme" not in text and "Mia Acme" not in text


async def test_a_kick_off_week_is_created_from_the_preset_and_audited(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        admin.follow_redirects = False
        preset = await admin.get("/console/challenges/new?preset=kickoff&lang=en")
        assert preset.status_code == 200 and 'value="Kick-off week"' in preset.text
        created = await admin.post("/console/challenges/new", data=_form(xp_reward="150"))
        assert created.status_code == 303, created.text
        [challenge] = (await admin.get("/api/v1/challenges/organisation")).json()
        assert (challenge["title"], challenge["target_count"], challenge["xp_reward"]) == (
            "Kick-off week",
            3,
            150,
        )
        assert challenge["status"] == "upcoming"
    [entry] = await _audit(ctx, world.a.id)
    assert (entry.action, entry.target_id) == ("challenge.create", str(challenge["id"]))


async def test_bad_dates_and_targets_are_shown_on_the_form(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    yesterday = (today() - timedelta(days=1)).isoformat()
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        past = await admin.post("/console/challenges/new?lang=en", data=_form(starts_on=yesterday))
        assert past.status_code == 400
        assert "A challenge cannot start in the past." in past.text
        backwards = await admin.post(
            "/console/challenges/new?lang=en", data=_form(ends_on=_form()["starts_on"])
        )
        assert backwards.status_code == 400 and "The end must be after the start." in backwards.text
        zero = await admin.post("/console/challenges/new?lang=en", data=_form(target_count="0"))
        assert zero.status_code == 400 and "This number is too small." in zero.text
        foreign = await admin.post(
            "/console/challenges/new?lang=en", data=_form(competency_id=str(world.b.competency_id))
        )
        assert foreign.status_code == 400
        assert (await admin.get("/api/v1/challenges/organisation")).json() == []
    assert await _audit(ctx, world.a.id) == []


async def test_the_target_changes_before_the_start_and_not_after(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    upcoming = await _challenge(ctx, world, 5, 12)
    running = await _challenge(ctx, world, -2, 5)
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        admin.follow_redirects = False
        start = today() + timedelta(days=5)
        saved = await admin.post(
            f"/console/challenges/{upcoming}",
            data=_form(
                title="Hot-skill season",
                starts_on=start.isoformat(),
                ends_on=(start + timedelta(days=7)).isoformat(),
                event_kind="completion",
                target_count="4",
                hot_skill_only="1",
            ),
        )
        assert saved.status_code == 303, saved.text
        changed = (await admin.get(f"/api/v1/challenges/organisation/{upcoming}")).json()
        assert (changed["event_kind"], changed["target_count"], changed["hot_skill_only"]) == (
            "completion",
            4,
            True,
        )
        locked = await admin.patch(
            f"/api/v1/challenges/{running}",
            json={"target": {"event_kind": "informal", "target_count": 9}},
        )
        assert locked.status_code == 409
        # the console form of a started challenge changes only the words and the end
        renamed = await admin.post(
            f"/console/challenges/{running}", data=_form(title="Renamed", target_count="9")
        )
        assert renamed.status_code == 303
        after = (await admin.get(f"/api/v1/challenges/organisation/{running}")).json()
        assert (after["title"], after["target_count"]) == ("Renamed", 2)
    actions = [e.action for e in await _audit(ctx, world.a.id)]
    assert actions == ["challenge.update", "challenge.update"]


async def test_delete_before_the_start_and_end_early_once_running(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    upcoming = await _challenge(ctx, world, 5, 12)
    running = await _challenge(ctx, world, -2, 5)
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        admin.follow_redirects = False
        refused = await admin.post(f"/console/challenges/{running}/delete")
        assert refused.status_code == 303  # back to the page, with the reason as a notice
        not_running = await admin.post(f"/api/v1/challenges/{upcoming}/end")
        assert not_running.status_code == 409
        assert (await admin.post(f"/console/challenges/{upcoming}/delete")).status_code == 303
        assert (await admin.post(f"/console/challenges/{running}/end")).status_code == 303
        listed = (await admin.get("/api/v1/challenges/organisation")).json()
        assert [(c["id"], c["ends_on"]) for c in listed] == [(running, today().isoformat())]
    entries = await _audit(ctx, world.a.id)
    assert [e.action for e in entries] == ["challenge.delete", "challenge.end"]
    assert entries[1].details["ends_on"]["to"] == today().isoformat()


async def test_other_organisations_and_team_challenges_are_404_here(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    foreign = await _challenge(ctx, world, -2, 5, org="b")
    await fill_team(ctx, world.a.id, world.a.team_id)  # sponsored only at the privacy floor
    async with signed_in_client(app, world.email("a", "manager")) as manager:
        team = await manager.post(
            f"/api/v1/teams/{world.a.team_id}/challenges",
            json={
                "title": "Team",
                "pledge": "Taart",
                "starts_on": (today() + timedelta(days=1)).isoformat(),
                "ends_on": (today() + timedelta(days=14)).isoformat(),
                "target": {"kind": "team_minutes", "minutes": 100},
            },
        )
        assert team.status_code == 201, team.text
        team_id = team.json()["id"]
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        admin.follow_redirects = False
        for challenge_id in (foreign, team_id):
            for response in (
                await admin.get(f"/console/challenges/{challenge_id}"),
                await admin.post(f"/console/challenges/{challenge_id}", data=_form()),
                await admin.post(f"/console/challenges/{challenge_id}/end"),
                await admin.post(f"/console/challenges/{challenge_id}/delete"),
                await admin.get(f"/api/v1/challenges/organisation/{challenge_id}"),
                await admin.post(f"/api/v1/challenges/{challenge_id}/end"),
            ):
                assert response.status_code == 404, response.url
        assert (await admin.get("/api/v1/challenges/organisation")).json() == []
    # nothing changed here: the only entry is the manager's sponsoring
    assert [e.action for e in await _audit(ctx, world.a.id)] == ["team_challenge.create"]
