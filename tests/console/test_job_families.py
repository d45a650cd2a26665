"""The competencies L&D expects per job family: the JSON API and the console page, with
their validation, their audit entries and the organisation's walls."""

import re

from litestar import Litestar
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import AuditEntry, Competency, Course, User
from tests.factories import World, signed_in_client

LD = "ld@acme.example"


async def _setup(ctx: AppContext, world: World) -> int:
    """Acme's employee and course are in Finance; a second competency "Data"."""
    async with ctx.sessionmaker() as session:
        for user_id in (world.a.users["employee"].id, world.a.users["manager"].id):
            user = await session.get(User, user_id)
            assert user is not None
            user.job_family = "Finance"
            session.add(user)
        course = await session.get(Course, world.a.course_id)
        assert course is not None
        course.job_family = "Finance"
        data = Competency(organisation_id=world.a.id, name="Data")
        session.add_all([course, data])
        await session.commit()
        assert data.id is not None
        return data.id


async def test_ld_sets_and_reads_the_competencies_expected_of_a_job_family(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    data_id = await _setup(ctx, world)
    async with signed_in_client(app, LD) as client:
        listed = await client.get("/api/v1/job-families")
        assert listed.status_code == 200
        assert listed.json() == [
            {"job_family": "Finance", "people": 2, "courses": 1, "competencies": []}
        ]
        saved = await client.put(
            "/api/v1/job-families/Finance",
            json={"competency_ids": [data_id, world.a.competency_id, data_id]},
        )
        assert saved.status_code == 200, saved.text
        assert [c["name"] for c in saved.json()["competencies"]] == ["Communicatie", "Data"]
        # a family nobody is in yet, with a space and an ampersand in its name
        new = await client.put(
            "/api/v1/job-families/R%26D%20Lab", json={"competency_ids": [data_id]}
        )
        assert new.status_code == 200, new.text
        assert new.json()["job_family"] == "R&D Lab" and new.json()["people"] == 0
        read = await client.get("/api/v1/job-families/Finance")
        assert [c["id"] for c in read.json()["competencies"]] == sorted(
            [world.a.competency_id, data_id],
            key=lambda i: ["Communicatie", "Data"][i == data_id],
        )
        families = [f["job_family"] for f in (await client.get("/api/v1/job-families")).json()]
        assert families == ["Finance", "R&D Lab"]
        cleared = await client.put("/api/v1/job-families/R%26D%20Lab", json={"competency_ids": []})
        assert cleared.json()["competencies"] == []
        families = [f["job_family"] for f in (await client.get("/api/v1/job-families")).json()]
        assert families == ["Finance"]  # nobody is in it and nothing is expected of it
        # a "/" in a family's name, escaped or not
        slashed = await client.put(
            "/api/v1/job-families/HR%2FLegal", json={"competency_ids": [data_id]}
        )
        assert slashed.status_code == 200 and slashed.json()["job_family"] == "HR/Legal"
        read = await client.get("/api/v1/job-families/HR/Legal")
        assert [c["name"] for c in read.json()["competencies"]] == ["Data"]
    async with ctx.sessionmaker() as session:
        entries = (
            await session.exec(
                select(AuditEntry)
                .where(AuditEntry.action == "job_family.competencies")
                .order_by(col(AuditEntry.id))
            )
        ).all()
    assert [e.target_id for e in entries] == ["Finance", "R&D Lab", "R&D Lab", "HR/Legal"]
    assert entries[0].details["after"] == ["Communicatie", "Data"]


async def test_bad_requests_are_refused_with_a_reason_and_other_organisations_stay_apart(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _setup(ctx, world)
    async with signed_in_client(app, LD) as client:
        theirs = await client.put(
            "/api/v1/job-families/Finance",
            json={"competency_ids": [world.b.competency_id]},
        )
        assert theirs.status_code == 400
        assert theirs.json()["extra"]["unknown"] == [world.b.competency_id]
        huge = await client.put("/api/v1/job-families/Finance", json={"competency_ids": [2**40]})
        assert huge.status_code == 400
        too_long = await client.put(f"/api/v1/job-families/{'x' * 81}", json={"competency_ids": []})
        assert too_long.status_code == 400 and "80" in too_long.text
        blank = await client.put("/api/v1/job-families/%20", json={"competency_ids": []})
        assert blank.status_code == 400
        junk = await client.put("/api/v1/job-families/Finance", json={"competency_ids": "all"})
        assert junk.status_code == 400
    # Globex's L&D sees none of Acme's families; employees and managers none at all
    async with signed_in_client(app, "ld@globex.example") as other:
        assert (await other.get("/api/v1/job-families")).json() == []
    async with signed_in_client(app, "manager@acme.example") as manager:
        assert (await manager.get("/api/v1/job-families")).status_code == 403
        refused = await manager.put("/api/v1/job-families/Finance", json={"competency_ids": []})
        assert refused.status_code == 403


async def test_merging_a_competency_moves_what_job_families_expect(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    data_id = await _setup(ctx, world)
    async with signed_in_client(app, LD) as client:
        for family, ids in (("Finance", [data_id]), ("IT", [data_id, world.a.competency_id])):
            saved = await client.put(f"/api/v1/job-families/{family}", json={"competency_ids": ids})
            assert saved.status_code == 200
        merged = await client.post(
            f"/api/v1/competencies/{data_id}/merge", json={"into_id": world.a.competency_id}
        )
        assert merged.status_code in (200, 201), merged.text
        families = {
            f["job_family"]: [c["name"] for c in f["competencies"]]
            for f in (await client.get("/api/v1/job-families")).json()
        }
        assert families == {"Finance": ["Communicatie"], "IT": ["Communicatie"]}
        # the competency's page counts the families that expect it among its uses
        page = await client.get(f"/console/competencies/{world.a.competency_id}?lang=en")
        assert "2 job families that expect it" in page.text
        dutch = await client.get(f"/console/competencies/{world.a.competency_id}?lang=nl")
        assert "2 functiefamilies die deze competentie verwachten" in dutch.text


def _checked(html: str, family_anchor: str) -> list[str]:
    section = html.split(f'id="{family_anchor}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'value="(\d+)" checked', section)


async def test_the_console_page_lists_families_and_saves_the_checked_competencies(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    data_id = await _setup(ctx, world)
    async with signed_in_client(app, LD) as client:
        people = await client.get("/console/people?lang=en")
        assert 'href="/console/people/job-families"' in people.text
        competencies = await client.get("/console/competencies?lang=en")
        assert 'href="/console/people/job-families"' in competencies.text
        page = await client.get("/console/people/job-families?lang=en")
        assert page.status_code == 200
        assert "Finance" in page.text and "2 people · 1 course" in page.text
        assert _checked(page.text, "family-1") == []
        assert "Nothing expected yet" in page.text
        token = client.cookies.get("learnloop_csrf")
        saved = await client.post(
            "/console/people/job-families?lang=en",
            data={"_csrf_token": token, "job_family": "Finance", "competency_ids": [str(data_id)]},
            follow_redirects=False,
        )
        assert saved.status_code == 303
        after = await client.get("/console/people/job-families?lang=en")
        assert "Saved what is expected of job family “Finance”." in after.text
        assert _checked(after.text, "family-1") == [str(data_id)]
        assert "Nothing expected yet" not in after.text
        # another family; a competency of another organisation; a form without a name
        added = await client.post(
            "/console/people/job-families",
            data={
                "_csrf_token": token,
                "job_family": " Logistiek ",
                "competency_ids": str(world.a.competency_id),
            },
            follow_redirects=False,
        )
        assert added.status_code == 303
        assert "Logistiek" in (await client.get("/console/people/job-families")).text
        theirs = await client.post(
            "/console/people/job-families?lang=en",
            data={
                "_csrf_token": token,
                "job_family": "Finance",
                "competency_ids": str(world.b.competency_id),
            },
        )
        assert theirs.status_code == 400
        assert "Choose competencies from the list." in theirs.text
        nameless = await client.post(
            "/console/people/job-families?lang=nl",
            data={"_csrf_token": token, "job_family": "  ", "competency_ids": str(data_id)},
        )
        assert nameless.status_code == 400
        assert "Geef de functiefamilie een naam" in nameless.text
        dutch = await client.get("/console/people/job-families?lang=nl")
        assert "Functiefamilies" in dutch.text and "Verwachte competenties" in dutch.text
        # without the CSRF token nothing is saved
        forged = await client.post(
            "/console/people/job-families",
            data={"job_family": "Finance", "competency_ids": []},
            headers={"x-csrf-token": ""},
        )
        assert forged.status_code == 403
