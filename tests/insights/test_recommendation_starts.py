"""How often recommended courses are started, as L&D reads it in insights: exact figures per
reason from real rows, the privacy floor on a reason's row, only the caller's organisation,
and the same figures on the console page, in the CSV and in the API."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.context import AppContext
from backend.db.models import Course, Organisation, RecommendationShown, User
from backend.learning import adapters
from backend.learning.service import record_events
from tests.factories import World, signed_in_client

LD = "ld@acme.example"
NOW = datetime.now(UTC)


async def _learners(ctx: AppContext, world: World) -> tuple[list[int], int]:
    """Org A with a floor of 3, four more learners and a second course ("Excel")."""
    async with ctx.sessionmaker() as session:
        org = await session.get(Organisation, world.a.id)
        assert org is not None
        org.settings = {**org.settings, "min_group_size": 3}
        people = [
            User(organisation_id=world.a.id, email=f"l{n}@acme.example", display_name=f"L{n}")
            for n in range(1, 5)
        ]
        excel = Course(organisation_id=world.a.id, title="Excel", duration_minutes=30)
        session.add_all([org, *people, excel])
        await session.commit()
        assert excel.id is not None
        return [int(p.id or 0) for p in people], excel.id


def _shown(org: int, user: int, course: int, reason: str, days_ago: float) -> RecommendationShown:
    return RecommendationShown(
        organisation_id=org,
        user_id=user,
        course_id=course,
        reason=reason,
        shown_at=NOW - timedelta(days=days_ago),
    )


def _event(user: int, course: int, kind: str, days_ago: float) -> dict[str, object]:
    return {
        "id": f"reco-{uuid.uuid4().hex}",
        "learner": {"user_id": user},
        "kind": kind,
        "course": {"id": course},
        "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(),
        "minutes": 20,
    }


async def test_ld_sees_how_many_recommended_courses_were_started_per_reason(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    (l1, l2, l3, l4), excel = await _learners(ctx, world)
    feedback, a = world.a.course_id, world.a.id
    async with signed_in_client(app, LD) as lou:
        before = await lou.get("/console/insights?lang=en")
        assert 'id="insight-recommendations"' in before.text
        assert "No course was recommended in this period yet." in before.text

    async with ctx.sessionmaker() as session:
        session.add_all(
            [
                # "goal": four learners; L1 and L4 start afterwards, L2 had done it before,
                # L3 only wrote a testimonial
                _shown(a, l1, feedback, "goal", 3),
                _shown(a, l2, feedback, "goal", 3),
                _shown(a, l3, feedback, "goal", 3),
                _shown(a, l4, excel, "goal", 1),
                # "hot_skill": two learners only, below the floor of 3: no row of its own
                _shown(a, l1, excel, "hot_skill", 2),
                _shown(a, l2, excel, "hot_skill", 2),
                # long before the period (the last 12 weeks)
                _shown(a, l3, excel, "expected_competency", 120),
                # org B's learner, recommended and started: never in org A's figures
                _shown(world.b.id, int(world.b.users["employee"].id or 0), world.b.course_id,
                       "goal", 1),
            ]
        )  # fmt: skip
        await session.commit()
    async with AsyncTestClient(app=app) as lms:
        lms.headers["Authorization"] = f"Bearer {world.a.api_key}"
        learning = [
            _event(l1, feedback, "completion", 2),
            _event(l2, feedback, "completion", 5),  # before it was recommended
            _event(l4, excel, "progress", 0.5),
            _event(l3, excel, "completion", 100),  # started after its old recommendation
        ]
        response = await lms.post("/api/v1/events", json=learning)
        assert response.status_code == 200, response.text
        assert [r["status"] for r in response.json()["results"]] == ["created"] * 4
    await record_events(
        ctx.sessionmaker,
        a,
        [adapters.testimonial_event(l3, feedback, "Feedback", "api", NOW)],
        now=NOW,
    )

    async with signed_in_client(app, LD) as lou:
        api = await lou.get("/api/v1/insights/recommendations")
        assert api.status_code == 200, api.text
        body = api.json()
        assert [c["key"] for c in body["columns"]] == [
            "reason",
            "recommended",
            "started",
            "started_share",
        ]
        assert body["rows"] == [
            ["All recommendations", 6, 2, 0.3333],
            ["Towards a goal", 4, 2, 0.5],
        ]
        assert body["suppressed_rows"] == 1  # the hot skill's two learners

        exported = await lou.get("/console/insights/recommendations.csv?period=12w")
        assert exported.status_code == 200
        lines = list(csv.reader(io.StringIO(exported.text.removeprefix("\ufeff"))))
        assert lines[0][:4] == ["reason", "recommended", "started", "started_share"]
        assert [line[:3] for line in lines[1:3]] == [
            ["All recommendations", "6", "2"],
            ["Towards a goal", "4", "2"],
        ]

        page = await lou.get("/console/insights?lang=nl")
        section = page.text.split('id="insight-recommendations"', 1)[1].split("</section>", 1)[0]
        assert "Alle aanbevelingen" in section and "Naar een doel" in section
        assert "50%" in section and "No course was recommended" not in section

    async with signed_in_client(app, "ld@globex.example") as other:
        theirs = await other.get("/api/v1/insights/recommendations")
        assert theirs.status_code == 403  # Globex is below its floor: no figure at all


async def test_a_start_whose_statement_was_voided_is_no_start(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    (l1, l2, l3, _), _excel = await _learners(ctx, world)
    async with ctx.sessionmaker() as session:
        session.add_all([_shown(world.a.id, u, world.a.course_id, "goal", 3) for u in (l1, l2, l3)])
        await session.commit()
    completions = [
        {
            "id": str(uuid.uuid4()),
            "actor": {"mbox": f"mailto:l{n}@acme.example"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
            "object": {"id": "https://lms.acme.example/courses/feedback"},
            "timestamp": (NOW - timedelta(days=2)).isoformat(),
        }
        for n in (1, 2, 3)
    ]
    voiding = {  # the LMS takes L3's back
        "id": str(uuid.uuid4()),
        "actor": {"mbox": "mailto:lms@acme.example"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
        "object": {"objectType": "StatementRef", "id": completions[2]["id"]},
    }
    async with AsyncTestClient(app=app) as lms:
        lms.headers["Authorization"] = f"Bearer {world.a.api_key}"
        lms.headers["X-Experience-API-Version"] = "1.0.3"
        for body in (completions, voiding):
            assert (await lms.post("/xapi/statements", json=body)).status_code == 200
    async with signed_in_client(app, LD) as lou:
        body = (await lou.get("/api/v1/insights/recommendations")).json()
        assert body["rows"][0] == ["All recommendations", 3, 2, 0.6667]
