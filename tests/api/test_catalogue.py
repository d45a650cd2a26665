"""The catalogue: L&D admins add courses and competencies; everyone searches them."""

import json
import uuid
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import (
    AuditEntry,
    BadgeDefinition,
    Challenge,
    Course,
    LearnerState,
    LearningEvent,
    XpLedgerEntry,
)
from gamification import ChallengeDefinition, EventKind
from gamification.badges import BadgeCriterion, CriterionKind
from gamification.xp import round_xp
from tests.factories import World, signed_in_client


async def test_ld_admin_adds_a_course_that_colleagues_find_by_search_and_filters(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        competency = (
            await admin.post(
                "/api/v1/competencies", json={"name": "Data & AI", "description": "Werken met data"}
            )
        ).json()
        response = await admin.post(
            "/api/v1/courses",
            json={
                "title": "Prompting voor beginners",
                "provider": "GoodHabitz",
                "format": "elearning",
                "duration_minutes": 30,
                "cost_cents": 0,
                "hot_skill": True,
                "url": "https://example.com/prompting",
                "xapi_activity_id": "https://lms.acme.example/courses/prompting",
                "competency_ids": [competency["id"]],
            },
        )
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["competencies"] == [{"id": competency["id"], "name": "Data & AI"}]
    async with signed_in_client(app, "sam@example.com") as employee:
        found = (await employee.get("/api/v1/courses", params={"q": "prompting"})).json()
        assert [c["title"] for c in found] == ["Prompting voor beginners"]
        hot = (await employee.get("/api/v1/courses", params={"hot_skill": "true"})).json()
        assert [c["id"] for c in hot] == [created["id"]]
        by_competency = (
            await employee.get("/api/v1/courses", params={"competency_id": competency["id"]})
        ).json()
        assert [c["id"] for c in by_competency] == [created["id"]]
        short = (await employee.get("/api/v1/courses", params={"max_minutes": 20})).json()
        assert created["id"] not in [c["id"] for c in short]
        one = (await employee.get(f"/api/v1/courses/{created['id']}")).json()
        assert one["provider"] == "GoodHabitz"


async def test_the_course_list_comes_in_pages_with_the_total_in_a_header(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with ctx.sessionmaker() as session:
        session.add_all(
            Course(organisation_id=world.a.id, title=f"Les {n:02d}", duration_minutes=n)
            for n in range(1, 8)
        )
        await session.commit()
    async with signed_in_client(app, "sam@example.com") as employee:
        seen: list[str] = []
        for offset in (0, 3, 6):
            page = await employee.get(
                "/api/v1/courses",
                params={"q": "les", "sort": "title", "limit": 3, "offset": offset},
            )
            assert page.status_code == 200 and page.headers["x-total-count"] == "7"
            seen += [c["title"] for c in page.json()]
        assert seen == [f"Les {n:02d}" for n in range(1, 8)]
        past = await employee.get("/api/v1/courses", params={"q": "les", "offset": 50})
        assert past.json() == [] and past.headers["x-total-count"] == "7"
        too_many = await employee.get("/api/v1/courses", params={"limit": 500})
        assert too_many.status_code == 400 and "limit" in too_many.text


async def test_employee_cannot_change_the_catalogue(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "sam@example.com") as employee:
        response = await employee.post("/api/v1/courses", json={"title": "Mijn eigen cursus"})
        assert response.status_code == 403
        assert "ld_admin" in response.json()["detail"]
        titles = [c["title"] for c in (await employee.get("/api/v1/courses")).json()]
        assert "Mijn eigen cursus" not in titles


async def test_duplicate_activity_id_is_a_conflict_not_a_crash(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(
            "/api/v1/courses",
            json={
                "title": "Dubbel",
                "format": "video",
                "duration_minutes": 10,
                "xapi_activity_id": "https://lms.acme.example/courses/feedback",
            },
        )
        assert response.status_code == 409
        assert "already exists" in response.json()["detail"]


async def test_course_update_changes_only_given_fields(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.patch(
            f"/api/v1/courses/{world.a.course_id}", json={"hot_skill": True, "competency_ids": []}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["hot_skill"] is True
        assert body["title"] == "Feedback geven (Acme)"
        assert body["competencies"] == []


async def test_unknown_competency_on_a_course_is_a_404_with_the_id(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(
            "/api/v1/courses",
            json={
                "title": "X",
                "format": "book",
                "duration_minutes": 60,
                "competency_ids": [world.b.competency_id],
            },
        )
        assert response.status_code == 404
        assert str(world.b.competency_id) in response.json()["detail"]
        titles = [c["title"] for c in (await admin.get("/api/v1/courses")).json()]
        assert "X" not in titles


async def test_bad_course_fields_say_what_is_wrong(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(
            "/api/v1/courses", json={"title": "", "duration_minutes": -5, "format": "hologram"}
        )
        assert response.status_code == 400
        keys = {e.get("key") for e in response.json()["extra"]}
        assert keys == {"title", "duration_minutes", "format"}


# --- console API: required fields, archive, competencies, hot-skill seasons -----------------

XAPI = {"X-Experience-API-Version": "1.0.3"}
FEEDBACK_ACTIVITY = "https://lms.acme.example/courses/feedback"


def _course(**fields: object) -> dict[str, object]:
    return {"title": "Excel basics", "format": "elearning", "duration_minutes": 30} | fields


def _completion(
    when: datetime, activity: str = FEEDBACK_ACTIVITY, verb: str = "completed"
) -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:sam@example.com"},
        "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}"},
        "object": {"objectType": "Activity", "id": activity},
        "timestamp": when.isoformat(),
    }


async def _send(app: Litestar, world: World, statement: dict[str, object]) -> None:
    async with AsyncTestClient(app=app) as lms:
        response = await lms.post(
            "/xapi/statements",
            json=statement,
            headers={"Authorization": f"Bearer {world.a.api_key}", **XAPI},
        )
        assert response.status_code == 200, response.text


async def _ledger(ctx: AppContext, statement: dict[str, object]) -> dict[str, int]:
    """The XP entries an ingested statement earned, by reason."""
    async with ctx.sessionmaker() as session:
        event = (
            await session.exec(
                select(LearningEvent).where(
                    LearningEvent.idempotency_key == f"xapi:{statement['id']}"
                )
            )
        ).one()
        rows = (
            await session.exec(select(XpLedgerEntry).where(XpLedgerEntry.event_id == event.id))
        ).all()
    return {r.reason: r.amount for r in rows}


async def _audit(ctx: AppContext, organisation_id: int, action: str) -> list[AuditEntry]:
    async with ctx.sessionmaker() as session:
        return list(
            (
                await session.exec(
                    select(AuditEntry).where(
                        AuditEntry.organisation_id == organisation_id,
                        AuditEntry.action == action,
                    )
                )
            ).all()
        )


async def test_a_course_without_title_duration_or_format_is_refused_naming_them(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post("/api/v1/courses", json={"title": "bad"})
        assert response.status_code == 400, response.text
        keys = {e.get("key") for e in response.json()["extra"]}
        assert keys == {"duration_minutes", "format"}
        response = await admin.post("/api/v1/courses", json=_course(duration_minutes=0))
        assert response.status_code == 400
        assert {e.get("key") for e in response.json()["extra"]} == {"duration_minutes"}
        response = await admin.patch(
            f"/api/v1/courses/{world.a.course_id}", json={"duration_minutes": 0}
        )
        assert response.status_code == 400 and "duration_minutes" in response.text
        titles = [c["title"] for c in (await admin.get("/api/v1/courses")).json()]
        assert titles == ["Feedback geven (Acme)"]
        assert (await admin.post("/api/v1/courses", json=_course())).status_code == 201


async def test_the_api_schema_states_required_fields_and_limits(app: Litestar) -> None:
    async with AsyncTestClient(app=app) as client:
        schema = (await client.get("/schema/openapi.json")).json()
    course = schema["components"]["schemas"]["CourseCreate"]
    assert set(course["required"]) >= {"title", "format", "duration_minutes"}
    duration = course["properties"]["duration_minutes"]
    assert duration["minimum"] == 1 and "Required" in duration["description"]
    archive = json.dumps(schema["paths"]["/api/v1/courses/{course_id}/archive"])
    assert "leaves the catalogue" in archive


async def test_an_archived_course_leaves_the_catalogue_but_keeps_learning(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    earlier = _completion(datetime.now(UTC) - timedelta(hours=3), verb="experienced")
    await _send(app, world, earlier)
    async with ctx.sessionmaker() as session:
        before = await session.get(LearnerState, world.a.users["employee"].id)
        assert before is not None and before.xp_total > 0
        xp_before = before.xp_total
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(f"/api/v1/courses/{world.a.course_id}/archive")
        assert response.status_code == 200, response.text
        assert response.json()["archived_at"] is not None
        archived = (await admin.get("/api/v1/courses", params={"archived": "true"})).json()
        assert [c["id"] for c in archived] == [world.a.course_id]
    async with signed_in_client(app, "sam@example.com") as sam:
        assert (await sam.get("/api/v1/courses")).json() == []
        response = await sam.get("/api/v1/courses", params={"archived": "true"})
        assert response.status_code == 403
        page = await sam.get("/catalogue")
        assert "Feedback geven (Acme)" not in page.text
        course_page = await sam.get(f"/catalogue/{world.a.course_id}?lang=en")
        assert course_page.status_code == 200
        assert "no longer in the catalogue" in course_page.text
        history = (await sam.get("/api/v1/me/history")).json()
        assert "Feedback geven (Acme)" in json.dumps(history)
    # a statement about the archived course still counts, for the course
    later = _completion(datetime.now(UTC) - timedelta(hours=1))
    await _send(app, world, later)
    assert await _ledger(ctx, later)
    async with ctx.sessionmaker() as session:
        after = await session.get(LearnerState, world.a.users["employee"].id)
        assert after is not None and after.xp_total > xp_before
        event = (
            await session.exec(
                select(LearningEvent).where(LearningEvent.idempotency_key == f"xapi:{later['id']}")
            )
        ).one()
        assert event.course_id == world.a.course_id
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(f"/api/v1/courses/{world.a.course_id}/restore")
        assert response.json()["archived_at"] is None
    async with signed_in_client(app, "sam@example.com") as sam:
        assert [c["id"] for c in (await sam.get("/api/v1/courses")).json()] == [world.a.course_id]
    archives = await _audit(ctx, world.a.id, "course.archive")
    assert [e.summary for e in archives] == ["Archived course “Feedback geven (Acme)”"]
    assert len(await _audit(ctx, world.a.id, "course.restore")) == 1


async def test_course_changes_are_audited_with_what_changed(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        created = (await admin.post("/api/v1/courses", json=_course())).json()
        await admin.patch(f"/api/v1/courses/{created['id']}", json={"duration_minutes": 45})
    [entry] = await _audit(ctx, world.a.id, "course.create")
    assert entry.target_id == str(created["id"]) and entry.actor_name == "Lou Acme"
    [change] = await _audit(ctx, world.a.id, "course.update")
    assert change.details == {"duration_minutes": [30, 45]}


async def test_org_b_cannot_archive_or_restore_org_a_courses(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@globex.example") as admin_b:
        for action in ("archive", "restore"):
            response = await admin_b.post(f"/api/v1/courses/{world.a.course_id}/{action}")
            assert response.status_code == 404
    async with signed_in_client(app, "sam@example.com") as sam:
        assert len((await sam.get("/api/v1/courses")).json()) == 1


async def test_competencies_are_renamed_and_listed_with_their_use(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.patch(
            f"/api/v1/competencies/{world.a.competency_id}",
            json={"name": "Communicatie & feedback"},
        )
        assert response.status_code == 200, response.text
        course = (await admin.get(f"/api/v1/courses/{world.a.course_id}")).json()
        assert course["competencies"][0]["name"] == "Communicatie & feedback"
        extra = (await admin.post("/api/v1/competencies", json={"name": "Excel"})).json()
        response = await admin.patch(
            f"/api/v1/competencies/{extra['id']}", json={"name": "communicatie & FEEDBACK"}
        )
        assert response.status_code == 409
        usage = {c["name"]: c for c in (await admin.get("/api/v1/competencies/usage")).json()}
        assert usage["Communicatie & feedback"]["courses"] == 1
        assert usage["Excel"]["courses"] == 0
    [rename] = await _audit(ctx, world.a.id, "competency.rename")
    assert rename.summary == "Renamed competency “Communicatie” to “Communicatie & feedback”"


async def test_deleting_a_used_competency_is_refused_saying_what_uses_it(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.delete(f"/api/v1/competencies/{world.a.competency_id}")
        assert response.status_code == 409
        assert "used by 1 course" in response.json()["detail"]
        assert "merge" in response.json()["detail"]
        spare = (await admin.post("/api/v1/competencies", json={"name": "Spare"})).json()
        response = await admin.delete(f"/api/v1/competencies/{spare['id']}")
        assert response.status_code == 204
        names = [c["name"] for c in (await admin.get("/api/v1/competencies")).json()]
        assert names == ["Communicatie"]
    assert len(await _audit(ctx, world.a.id, "competency.delete")) == 1


async def test_merging_moves_everything_that_used_the_competency(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    today = datetime.now(UTC).date()
    async with signed_in_client(app, "ld@acme.example") as admin:
        twin = (await admin.post("/api/v1/competencies", json={"name": "Communication"})).json()
        other = (
            await admin.post(
                "/api/v1/courses", json=_course(title="Listening", competency_ids=[twin["id"]])
            )
        ).json()
        # a course linked to both keeps one link
        await admin.patch(
            f"/api/v1/courses/{world.a.course_id}",
            json={"competency_ids": [world.a.competency_id, twin["id"]]},
        )
        season = await admin.post(
            "/api/v1/hot-skill-seasons",
            json={
                "name": "Talk season",
                "starts_on": today.isoformat(),
                "ends_on": (today + timedelta(days=30)).isoformat(),
                "competency_ids": [twin["id"], world.a.competency_id],
            },
        )
        assert season.status_code == 201, season.text
    async with ctx.sessionmaker() as session:
        session.add(
            BadgeDefinition(
                organisation_id=world.a.id,
                code="talker",
                name="Talker",
                criterion=BadgeCriterion(
                    CriterionKind.EVENT_COUNT, competency_id=twin["id"]
                ).to_dict(),
                tiers=[{"name": "bronze", "threshold": 3}],
                competency_id=twin["id"],
            )
        )
        session.add(
            Challenge(
                organisation_id=world.a.id,
                kind="individual",
                title="Talk week",
                starts_on=today,
                ends_on=today + timedelta(days=7),
                definition=ChallengeDefinition(
                    challenge_id="talk",
                    title="Talk week",
                    starts_on=today,
                    ends_on=today + timedelta(days=7),
                    event_kind=EventKind.INFORMAL,
                    target_count=5,
                    competency_id=twin["id"],
                ).to_dict(),
            )
        )
        await session.commit()
    async with signed_in_client(app, "sam@example.com") as sam:
        moment = await sam.post(
            "/api/v1/me/moments",
            json={
                "client_id": str(uuid.uuid4()),
                "what": "Practised a hard conversation",
                "minutes": 20,
                "competency_id": twin["id"],
            },
        )
        assert moment.status_code in (200, 201), moment.text
        goal = await sam.post(
            "/api/v1/me/goals",
            json={
                "kind": "competency_events",
                "competency_id": twin["id"],
                "count": 3,
                "due_on": (today + timedelta(days=20)).isoformat(),
            },
        )
        assert goal.status_code in (200, 201), goal.text
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(
            f"/api/v1/competencies/{twin['id']}/merge", json={"into_id": world.a.competency_id}
        )
        assert response.status_code == 200, response.text
        merged = response.json()
        assert merged["courses"] == 2 and merged["learning_events"] == 1
        assert merged["badges"] == 1 and merged["challenges"] == 1
        assert merged["seasons"] == 1 and merged["goals"] == 1
        names = [c["name"] for c in (await admin.get("/api/v1/competencies")).json()]
        assert names == ["Communicatie"]
        listing = (await admin.get(f"/api/v1/courses/{other['id']}")).json()
        assert [c["id"] for c in listing["competencies"]] == [world.a.competency_id]
        seasons = (await admin.get("/api/v1/hot-skill-seasons")).json()
        assert [c["id"] for c in seasons[0]["competencies"]] == [world.a.competency_id]
        response = await admin.post(
            f"/api/v1/competencies/{world.a.competency_id}/merge",
            json={"into_id": world.a.competency_id},
        )
        assert response.status_code == 400 and "into_id" in response.text
    async with ctx.sessionmaker() as session:
        badge = (await session.exec(select(BadgeDefinition))).one()
        assert badge.competency_id == world.a.competency_id
        assert badge.criterion["competency_id"] == world.a.competency_id
        challenge = (await session.exec(select(Challenge))).one()
        assert challenge.definition["competency_id"] == world.a.competency_id
        state = await session.get(LearnerState, world.a.users["employee"].id)
        assert state is not None
        assert [g["competency_id"] for g in state.data["dated_goals"]] == [world.a.competency_id]
    async with signed_in_client(app, "sam@example.com") as sam:
        goals = (await sam.get("/api/v1/me/goals")).json()["dated"]
        assert goals[0]["competency_id"] == world.a.competency_id
        assert goals[0]["competency_name"] == "Communicatie"
        assert goals[0]["done"] == 1  # the moment logged before the merge still counts
    [entry] = await _audit(ctx, world.a.id, "competency.merge")
    assert entry.summary == "Merged competency “Communication” into “Communicatie”"
    assert entry.details["learning_events"] == 1


async def test_org_b_cannot_touch_org_a_competencies(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@globex.example") as admin_b:
        a_id = world.a.competency_id
        assert (
            await admin_b.patch(f"/api/v1/competencies/{a_id}", json={"name": "X"})
        ).status_code == 404
        assert (await admin_b.delete(f"/api/v1/competencies/{a_id}")).status_code == 404
        response = await admin_b.post(
            f"/api/v1/competencies/{world.b.competency_id}/merge", json={"into_id": a_id}
        )
        assert response.status_code == 404
        response = await admin_b.post(
            f"/api/v1/competencies/{a_id}/merge", json={"into_id": world.b.competency_id}
        )
        assert response.status_code == 404
        usage = (await admin_b.get("/api/v1/competencies/usage")).json()
        assert [c["id"] for c in usage] == [world.b.competency_id]


async def test_a_season_makes_a_completion_earn_the_hot_skill_bonus_only_in_season(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    now = datetime.now(UTC)
    today = now.date()
    activities = [f"https://lms.acme.example/courses/talk-{n}" for n in range(4)]
    async with signed_in_client(app, "ld@acme.example") as admin:
        for n, activity in enumerate(activities):  # a completion per course earns XP once
            response = await admin.post(
                "/api/v1/courses",
                json=_course(
                    title=f"Talk {n}",
                    xapi_activity_id=activity,
                    competency_ids=[world.a.competency_id],
                ),
            )
            assert response.status_code == 201, response.text
        unrelated = await admin.post("/api/v1/courses", json=_course(title="Unrelated"))
        assert unrelated.status_code == 201
    before_season = _completion(now - timedelta(days=20), activities[0])
    await _send(app, world, before_season)
    assert "hot_skill_bonus" not in await _ledger(ctx, before_season)
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(
            "/api/v1/hot-skill-seasons",
            json={
                "name": "Feedback month",
                "starts_on": (today - timedelta(days=5)).isoformat(),
                "ends_on": (today + timedelta(days=5)).isoformat(),
                "competency_ids": [world.a.competency_id],
            },
        )
        assert response.status_code == 201, response.text
        season = response.json()
        assert season["status"] == "running"
        hot = (await admin.get("/api/v1/courses", params={"hot_skill": "true"})).json()
        assert len(hot) == 5 and all(c["hot"] and not c["hot_skill"] for c in hot)
        assert "Unrelated" not in [c["title"] for c in hot]
        others = (await admin.get("/api/v1/courses", params={"hot_skill": "false"})).json()
        assert [(c["title"], c["hot"]) for c in others] == [("Unrelated", False)]
    in_season = _completion(now - timedelta(hours=2), activities[1])
    await _send(app, world, in_season)  # the cached lookup saw the season's trigger
    earned = await _ledger(ctx, in_season)
    assert earned["hot_skill_bonus"] == round_xp(earned["completion"] * 0.5)
    outside = _completion(now - timedelta(days=12), activities[2])  # late, from before it
    await _send(app, world, outside)
    assert "completion" in (late := await _ledger(ctx, outside))
    assert "hot_skill_bonus" not in late
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(f"/api/v1/hot-skill-seasons/{season['id']}/end")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ended"
        assert (await admin.get("/api/v1/courses", params={"hot_skill": "true"})).json() == []
    after_end = _completion(now - timedelta(minutes=5), activities[3])
    await _send(app, world, after_end)
    assert "completion" in (ended := await _ledger(ctx, after_end))
    assert "hot_skill_bonus" not in ended
    assert len(await _audit(ctx, world.a.id, "hot_skill_season.create")) == 1
    assert len(await _audit(ctx, world.a.id, "hot_skill_season.end")) == 1


async def test_a_season_needs_dates_in_order_and_something_hot(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(
            "/api/v1/hot-skill-seasons",
            json={
                "name": "Backwards",
                "starts_on": "2027-03-01",
                "ends_on": "2027-02-01",
                "course_ids": [world.a.course_id],
            },
        )
        assert response.status_code == 400 and "ends_on" in response.text
        response = await admin.post(
            "/api/v1/hot-skill-seasons",
            json={"name": "Empty", "starts_on": "2027-03-01", "ends_on": "2027-03-31"},
        )
        assert response.status_code == 400
        assert "at least one competency or course" in response.text
        response = await admin.post(
            "/api/v1/hot-skill-seasons",
            json={
                "name": "Borrowed",
                "starts_on": "2027-03-01",
                "ends_on": "2027-03-31",
                "course_ids": [world.b.course_id],
            },
        )
        assert response.status_code == 404
        assert (await admin.get("/api/v1/hot-skill-seasons")).json() == []


async def test_org_b_cannot_see_or_change_org_a_seasons(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        season = (
            await admin.post(
                "/api/v1/hot-skill-seasons",
                json={
                    "name": "Acme spring",
                    "starts_on": "2027-03-01",
                    "ends_on": "2027-05-31",
                    "course_ids": [world.a.course_id],
                },
            )
        ).json()
    async with signed_in_client(app, "ld@globex.example") as admin_b:
        url = f"/api/v1/hot-skill-seasons/{season['id']}"
        assert (await admin_b.get(url)).status_code == 404
        assert (await admin_b.patch(url, json={"name": "Mine"})).status_code == 404
        assert (await admin_b.post(f"{url}/end")).status_code == 404
        assert (await admin_b.delete(url)).status_code == 404
        assert (await admin_b.get("/api/v1/hot-skill-seasons")).json() == []
    async with signed_in_client(app, "sam@example.com") as sam:
        assert (await sam.get("/api/v1/hot-skill-seasons")).status_code == 403
