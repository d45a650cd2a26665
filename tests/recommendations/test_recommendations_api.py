"""Recommendations from real data: reasons, "not for me", and what was shown."""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from babel.dates import format_date
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import (
    Competency,
    Course,
    CourseCompetency,
    JobFamilyCompetency,
    RecommendationDismissal,
    RecommendationShown,
    User,
)
from backend.db.models import (
    Testimonial as SavedTestimonial,
)
from backend.db.types import utcnow
from tests.factories import World, signed_in_client
from tests.progress.activity import event, ingest, local_today


@dataclass
class Catalogue:
    feedback: int  # the factory's course, in Communicatie: expected of Finance
    excel: int  # hot skill
    python: int  # made for IT: horizontal for Sam (Finance)
    privacy: int  # the manager finished and praised it
    archived: int  # hot, but archived
    done: int  # hot, but Sam finished it
    boring: int  # nothing speaks for it


async def build_catalogue(app: Litestar, ctx: AppContext, world: World) -> Catalogue:
    """Sam (Acme, Finance) with a catalogue where each course has one clear reason."""
    org = world.a.id
    async with ctx.sessionmaker() as session:
        sam = await session.get(User, world.a.users["employee"].id)
        assert sam is not None
        sam.job_family = "Finance"
        session.add(sam)
        session.add(
            JobFamilyCompetency(
                organisation_id=org, job_family="Finance", competency_id=world.a.competency_id
            )
        )
        privacy_competency = Competency(organisation_id=org, name="Privacy")
        courses = {
            "excel": Course(
                organisation_id=org, title="Excel", duration_minutes=60, hot_skill=True
            ),
            "python": Course(
                organisation_id=org, title="Python", duration_minutes=90, job_family="IT"
            ),
            "privacy": Course(organisation_id=org, title="AVG in de praktijk", duration_minutes=40),
            "archived": Course(
                organisation_id=org, title="Oud", hot_skill=True, archived_at=utcnow()
            ),
            "done": Course(organisation_id=org, title="Al gedaan", hot_skill=True),
            "boring": Course(organisation_id=org, title="Niets bijzonders"),
        }
        session.add(privacy_competency)
        session.add_all(courses.values())
        await session.flush()
        assert privacy_competency.id is not None
        ids = {name: course.id or 0 for name, course in courses.items()}
        session.add(
            CourseCompetency(
                course_id=ids["privacy"], competency_id=privacy_competency.id, organisation_id=org
            )
        )
        session.add(
            SavedTestimonial(
                organisation_id=org,
                course_id=ids["privacy"],
                user_id=world.a.users["manager"].id or 0,
                text="Heel praktisch",
                status="approved",
            )
        )
        await session.commit()
    async with AsyncTestClient(app=app) as lms:
        await ingest(
            lms,
            world.a,
            [
                event(world.email("a", "employee"), "completion", course_id=ids["done"]),
                event(world.email("a", "manager"), "completion", course_id=ids["privacy"]),
            ],
        )
    return Catalogue(feedback=world.a.course_id, **ids)


async def test_each_course_is_recommended_for_its_reason_in_the_learners_language(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    courses = await build_catalogue(app, ctx, world)
    async with signed_in_client(app, world.email("a", "employee")) as client:
        response = await client.get("/api/v1/me/recommendations", params={"limit": 10})
        assert response.status_code == 200, response.text
        got = {item["course_id"]: (item["reason"], item["reason_text"]) for item in response.json()}
        assert got == {
            courses.feedback: (
                "expected_competency",
                "Communicatie hoort bij je functie en is nieuw voor je",
            ),
            courses.privacy: ("team_praised", "1 collega uit je team raadt het aan"),
            courses.excel: ("hot_skill", "Een vaardigheid waar nu veel vraag naar is"),
            courses.python: ("horizontal", "Even buiten je eigen vak: gemaakt voor IT"),
        }
        top = (await client.get("/api/v1/me/recommendations")).json()
        assert [item["reason"] for item in top] == [
            "expected_competency",
            "team_praised",
            "hot_skill",
        ]
        assert top[0]["url"] == f"/catalogue/{courses.feedback}"
        assert (await client.get("/api/v1/me/recommendations?limit=0")).status_code == 400


async def test_not_for_me_removes_the_course_once_and_only_in_the_callers_organisation(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    courses = await build_catalogue(app, ctx, world)
    async with signed_in_client(app, world.email("a", "employee")) as client:
        url = f"/api/v1/me/recommendations/{courses.excel}/dismiss"
        first = await client.post(url)
        assert first.status_code == 200, first.text
        assert first.json() == {"course_id": courses.excel, "reason": "hot_skill"}
        again = await client.post(url)
        assert again.json() == first.json()
        listed = (await client.get("/api/v1/me/recommendations", params={"limit": 10})).json()
        assert courses.excel not in [item["course_id"] for item in listed]
        assert len(listed) == 3
        other_org = await client.post(f"/api/v1/me/recommendations/{world.b.course_id}/dismiss")
        assert other_org.status_code == 404
        assert (
            await client.post("/api/v1/me/recommendations/99999999999/dismiss")
        ).status_code in (
            400,
            404,
        )
    async with ctx.sessionmaker() as session:
        rows = (await session.exec(select(RecommendationDismissal))).all()
        assert [(r.user_id, r.course_id, r.organisation_id) for r in rows] == [
            (world.a.users["employee"].id, courses.excel, world.a.id)
        ]


async def test_a_course_shown_is_recorded_once_with_its_first_reason(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    courses = await build_catalogue(app, ctx, world)
    async with signed_in_client(app, world.email("a", "employee")) as client:
        await client.get("/api/v1/me/recommendations", params={"limit": 2})
        async with ctx.sessionmaker() as session:
            first = {
                r.course_id: r.shown_at
                for r in (await session.exec(select(RecommendationShown))).all()
            }
        assert set(first) == {courses.feedback, courses.privacy}
        await client.get("/api/v1/me/recommendations", params={"limit": 3})
        await client.get("/api/v1/me/recommendations", params={"limit": 3})
    async with ctx.sessionmaker() as session:
        rows = (await session.exec(select(RecommendationShown))).all()
    assert sorted((r.course_id, r.reason) for r in rows) == sorted(
        [
            (courses.feedback, "expected_competency"),
            (courses.privacy, "team_praised"),
            (courses.excel, "hot_skill"),
        ]
    )
    assert all(r.shown_at == first[r.course_id] for r in rows if r.course_id in first)
    assert {r.organisation_id for r in rows} == {world.a.id}


async def test_a_changed_catalogue_is_recommended_as_it_is_now(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    courses = await build_catalogue(app, ctx, world)
    async with signed_in_client(app, world.email("a", "employee")) as client:
        before = (await client.get("/api/v1/me/recommendations", params={"limit": 10})).json()
        assert courses.excel in [item["course_id"] for item in before]
        async with ctx.sessionmaker() as session:
            excel = await session.get(Course, courses.excel)
            python = await session.get(Course, courses.python)
            communication = await session.get(Competency, world.a.competency_id)
            assert excel and python and communication
            excel.archived_at = utcnow()
            python.title = "Python voor iedereen"
            communication.name = "Samenwerken"  # a rename bumps no config_version
            session.add_all([excel, python, communication])
            await session.commit()
        after = (await client.get("/api/v1/me/recommendations", params={"limit": 10})).json()
    by_id = {item["course_id"]: item for item in after}
    assert courses.excel not in by_id
    assert by_id[courses.python]["title"] == "Python voor iedereen"
    assert by_id[courses.feedback]["reason_text"].startswith("Samenwerken hoort bij je functie")


async def test_a_course_towards_a_goal_comes_first_with_the_goals_date(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    courses = await build_catalogue(app, ctx, world)
    due = local_today() + timedelta(days=20)
    async with signed_in_client(app, world.email("a", "employee")) as client:
        goal = {"kind": "courses", "course_ids": [courses.boring], "due_on": due.isoformat()}
        created = await client.post("/api/v1/me/goals", json=goal)
        assert created.status_code == 201, created.text
        top = (await client.get("/api/v1/me/recommendations")).json()
    assert top[0]["course_id"] == courses.boring
    assert top[0]["reason"] == "goal"
    assert (
        top[0]["reason_text"]
        == f"Op weg naar je doel voor {format_date(due, 'd MMMM', locale='nl')}"
    )


async def test_a_voided_completion_finishes_nothing_the_recommendations_count(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    """Sam's completion of Feedback and a teammate's of an otherwise unremarkable course
    came by xAPI and were voided by the LMS: Feedback is suggested again, and the other no
    longer as "finished by a colleague"."""
    courses = await build_catalogue(app, ctx, world)
    boring_activity = "https://lms.acme.example/courses/boring"
    async with ctx.sessionmaker() as session:
        boring = await session.get(Course, courses.boring)
        assert boring is not None
        boring.xapi_activity_id = boring_activity
        session.add(boring)
        await session.commit()
    headers = {"Authorization": f"Bearer {world.a.api_key}", "X-Experience-API-Version": "1.0.3"}

    def completed(email: str, activity: str) -> dict[str, object]:
        return {
            "id": str(uuid.uuid4()),
            "actor": {"mbox": f"mailto:{email}"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
            "object": {"id": activity},
        }

    sent = [
        completed(world.email("a", "employee"), "https://lms.acme.example/courses/feedback"),
        completed(world.email("a", "manager"), boring_activity),
    ]
    async with (
        AsyncTestClient(app=app) as lms,
        signed_in_client(app, world.email("a", "employee")) as sam,
    ):
        assert (await lms.post("/xapi/statements", json=sent, headers=headers)).status_code == 200

        async def reasons() -> dict[int, str]:
            got = await sam.get("/api/v1/me/recommendations", params={"limit": 10})
            return {item["course_id"]: item["reason_text"] for item in got.json()}

        finished = await reasons()
        assert courses.feedback not in finished
        assert finished[courses.boring] == "1 collega uit je team rondde het af"
        voiding = [
            {
                "id": str(uuid.uuid4()),
                "actor": {"mbox": "mailto:lms@acme.example"},
                "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
                "object": {"objectType": "StatementRef", "id": statement["id"]},
            }
            for statement in sent
        ]
        assert (
            await lms.post("/xapi/statements", json=voiding, headers=headers)
        ).status_code == 200
        voided = await reasons()
        assert courses.feedback in voided and courses.boring not in voided
