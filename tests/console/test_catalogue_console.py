"""The catalogue console: courses, competencies and hot-skill seasons through the browser's
forms (the same services and schemas as the JSON API)."""

import re
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import AuditEntry, Competency, Course, CourseCompetency, HotSkillSeason
from tests.factories import World, signed_in_client

LD = "ld@acme.example"


def _course_form(**fields: object) -> dict[str, object]:
    return {
        "title": "Excel voor gevorderden",
        "format": "elearning",
        "duration_minutes": "90",
        "cost": "49,95",
        "provider": "GoodHabitz",
        "description": "",
        "url": "",
        "external_id": "",
        "xapi_activity_id": "",
    } | fields


def _titles(page: str) -> list[str]:
    return re.findall(r'class="row-title"[^>]*>([^<]+)<', page)


async def _course_row(ctx: AppContext, title: str) -> Course:
    async with ctx.sessionmaker() as session:
        return (await session.exec(select(Course).where(Course.title == title))).one()


async def _actions(ctx: AppContext, organisation_id: int) -> list[str]:
    async with ctx.sessionmaker() as session:
        rows = (
            await session.exec(
                select(AuditEntry.action).where(AuditEntry.organisation_id == organisation_id)
            )
        ).all()
    return list(rows)


async def test_the_course_list_searches_filters_sorts_and_pages(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with ctx.sessionmaker() as session:
        for n in range(30):
            session.add(
                Course(
                    organisation_id=world.a.id,
                    title=f"Module {n:02d}",
                    format="video" if n % 2 else "book",
                    duration_minutes=10 + n,
                    cost_cents=100 * n,
                )
            )
        session.add(Course(organisation_id=world.b.id, title="Globex secret", duration_minutes=5))
        await session.commit()
    async with signed_in_client(app, LD) as admin:
        page = await admin.get("/console/courses?lang=en")
        assert page.status_code == 200
        assert "1–25 of 31" in page.text and "Globex secret" not in page.text
        second = await admin.get("/console/courses?page=2&lang=en")
        assert "26–31 of 31" in second.text
        found = await admin.get("/console/courses?q=module+07&lang=en")
        assert "Module 07" in found.text and "Module 08" not in found.text
        books = await admin.get("/console/courses?format=video&sort=duration&dir=desc&lang=en")
        titles = _titles(books.text)
        assert titles[:2] == ["Module 29", "Module 27"] and "Module 28" not in titles
        by_skill = await admin.get(f"/console/courses?competency={world.a.competency_id}")
        assert _titles(by_skill.text) == ["Feedback geven (Acme)"]
        nothing = await admin.get("/console/courses?q=zzz&lang=en")
        assert "No courses match" in nothing.text


async def test_a_course_is_added_with_the_form_and_audited(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, LD) as admin:
        form = await admin.get("/console/courses/new?lang=en")
        assert form.status_code == 200
        assert "At least 1 minute" in form.text and "Fields marked * are required." in form.text
        response = await admin.post(
            "/console/courses/new?lang=en",
            data=_course_form(competency_ids=[str(world.a.competency_id)], hot_skill="1"),
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        listing = await admin.get(response.headers["location"] + "&lang=en")
        assert "Course “Excel voor gevorderden” added." in listing.text
    row = await _course_row(ctx, "Excel voor gevorderden")
    assert (row.cost_cents, row.duration_minutes, row.hot_skill) == (4995, 90, True)
    async with ctx.sessionmaker() as session:
        links = (
            await session.exec(
                select(CourseCompetency.competency_id).where(CourseCompetency.course_id == row.id)
            )
        ).all()
    assert list(links) == [world.a.competency_id]
    assert "course.create" in await _actions(ctx, world.a.id)


async def test_the_course_form_names_each_missing_field_and_keeps_the_values(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, LD) as admin:
        response = await admin.post(
            "/console/courses/new?lang=en",
            data=_course_form(
                title="  ", format="", duration_minutes="0", cost="veel", provider="Kept provider"
            ),
        )
        assert response.status_code == 400
        text = response.text
        assert 'id="f-title-error">This field is required.' in text
        assert 'id="f-format-error">This field is required.' in text
        assert 'id="f-duration_minutes-error">This number is too small.' in text
        assert 'id="f-cost-error">Enter an amount in euros' in text
        assert 'value="Kept provider"' in text
        dutch = await admin.post(
            "/console/courses/new?lang=nl", data=_course_form(format="", title="Zonder vorm")
        )
        assert dutch.status_code == 400 and "Dit veld is verplicht." in dutch.text
    async with ctx.sessionmaker() as session:
        count = len(
            (await session.exec(select(Course).where(Course.organisation_id == world.a.id))).all()
        )
    assert count == 1


async def test_a_course_is_edited_archived_and_restored_from_the_console(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    course = f"/console/courses/{world.a.course_id}"
    async with signed_in_client(app, LD) as admin:
        form = await admin.get(course + "?lang=en")
        assert 'value="Feedback geven (Acme)"' in form.text
        response = await admin.post(
            course,
            data=_course_form(title="Feedback geven", duration_minutes="50", cost="0"),
            follow_redirects=False,
        )
        assert response.status_code == 303
        response = await admin.post(
            course, data=_course_form(duration_minutes=""), follow_redirects=False
        )
        assert response.status_code == 400
        response = await admin.post(
            course + "/archive?lang=en",
            data={"back": "/console/courses?q=feedback"},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/console/courses?q=feedback"
        active = await admin.get("/console/courses?lang=en")
        assert "is archived: learners no longer see it" in active.text
        assert "Feedback geven" not in _titles(active.text)
        archived = await admin.get("/console/courses?status=archived&lang=en")
        assert _titles(archived.text) == ["Feedback geven"] and "Restore" in archived.text
    async with signed_in_client(app, "sam@example.com") as sam:
        assert "Feedback geven" not in (await sam.get("/catalogue")).text
    async with signed_in_client(app, LD) as admin:
        await admin.post(course + "/restore", data={"back": "https://evil.example/"})
    row = await _course_row(ctx, "Feedback geven")
    assert row.archived_at is None and row.duration_minutes == 50
    actions = await _actions(ctx, world.a.id)
    assert {"course.update", "course.archive", "course.restore"} <= set(actions)


async def test_org_b_course_competency_and_season_pages_are_404(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with ctx.sessionmaker() as session:
        season = HotSkillSeason(
            organisation_id=world.b.id,
            name="Globex spring",
            starts_on=datetime.now(UTC).date(),
            ends_on=datetime.now(UTC).date() + timedelta(days=9),
            course_ids=[world.b.course_id],
        )
        session.add(season)
        await session.commit()
    async with signed_in_client(app, LD) as admin:
        for path in (
            f"/console/courses/{world.b.course_id}",
            f"/console/competencies/{world.b.competency_id}",
            f"/console/hot-skills/{season.id}",
        ):
            assert (await admin.get(path)).status_code == 404, path
        for path, data in (
            (f"/console/courses/{world.b.course_id}", _course_form()),
            (f"/console/courses/{world.b.course_id}/archive", {}),
            (f"/console/competencies/{world.b.competency_id}", {"name": "Mine"}),
            (
                f"/console/competencies/{world.b.competency_id}/merge",
                {"into_id": str(world.a.competency_id)},
            ),
            (f"/console/competencies/{world.b.competency_id}/delete", {}),
            (f"/console/hot-skills/{season.id}/end", {}),
            (f"/console/hot-skills/{season.id}/delete", {}),
        ):
            response = await admin.post(path, data=data)
            assert response.status_code == 404, path
    async with ctx.sessionmaker() as session:
        b_course = await session.get(Course, world.b.course_id)
        assert b_course is not None and b_course.archived_at is None
        assert await session.get(Competency, world.b.competency_id) is not None
        assert await session.get(HotSkillSeason, season.id) is not None


async def test_competencies_are_created_renamed_merged_and_deleted_when_unused(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, LD) as admin:
        page = await admin.get("/console/competencies?lang=en")
        assert "Communicatie" in page.text
        response = await admin.post(
            "/console/competencies", data={"name": "Communication"}, follow_redirects=False
        )
        assert response.status_code == 303
        duplicate = await admin.post(
            "/console/competencies?lang=en", data={"name": "communication"}
        )
        assert duplicate.status_code == 409
        assert "A competency with this name already exists." in duplicate.text
        empty = await admin.post("/console/competencies?lang=en", data={"name": " "})
        assert empty.status_code == 400 and "This field is required." in empty.text
        async with ctx.sessionmaker() as session:
            twin = (
                await session.exec(select(Competency).where(Competency.name == "Communication"))
            ).one()
        refused = await admin.post(f"/console/competencies/{world.a.competency_id}/delete?lang=en")
        assert refused.status_code == 409
        assert "still in use (1 course)" in refused.text
        renamed = await admin.post(
            f"/console/competencies/{twin.id}",
            data={"name": "Communiceren", "description": ""},
            follow_redirects=False,
        )
        assert renamed.status_code == 303
        await admin.post(
            f"/console/courses/{world.a.course_id}",
            data=_course_form(
                title="Feedback geven (Acme)",
                competency_ids=[str(world.a.competency_id), str(twin.id)],
            ),
        )
        bad_merge = await admin.post(
            f"/console/competencies/{twin.id}/merge?lang=en", data={"into_id": ""}
        )
        assert bad_merge.status_code == 400
        assert "Choose the competency to merge into." in bad_merge.text
        merged = await admin.post(
            f"/console/competencies/{twin.id}/merge",
            data={"into_id": str(world.a.competency_id)},
            follow_redirects=False,
        )
        assert merged.status_code == 303
        assert merged.headers["location"] == f"/console/competencies/{world.a.competency_id}"
        spare = await admin.post("/console/competencies", data={"name": "Spare"})
        async with ctx.sessionmaker() as session:
            spare_row = (
                await session.exec(select(Competency).where(Competency.name == "Spare"))
            ).one()
        deleted = await admin.post(
            f"/console/competencies/{spare_row.id}/delete", follow_redirects=False
        )
        assert deleted.status_code == 303 and spare.status_code in (200, 303)
        listing = await admin.get("/console/competencies?lang=en")
        assert _titles(listing.text) == ["Communicatie"]
    actions = await _actions(ctx, world.a.id)
    for action in (
        "competency.create",
        "competency.rename",
        "competency.merge",
        "competency.delete",
    ):
        assert action in actions


async def test_a_hot_skill_season_is_planned_edited_and_ended(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    today = datetime.now(UTC).date()
    async with signed_in_client(app, LD) as admin:
        empty = await admin.get("/console/hot-skills?lang=en")
        assert "No hot-skill seasons yet" in empty.text
        wrong = await admin.post(
            "/console/hot-skills/new?lang=en",
            data={
                "name": "AI spring",
                "starts_on": (today + timedelta(days=9)).isoformat(),
                "ends_on": today.isoformat(),
            },
        )
        assert wrong.status_code == 400
        assert "The season cannot end before it starts." in wrong.text
        assert "Choose at least one competency or course." in wrong.text
        dutch = await admin.post(
            "/console/hot-skills/new?lang=nl",
            data={"name": "x", "starts_on": today.isoformat(), "ends_on": today.isoformat()},
        )
        assert "Kies minstens één competentie of cursus." in dutch.text
        created = await admin.post(
            "/console/hot-skills/new",
            data={
                "name": "Feedback month",
                "starts_on": (today - timedelta(days=2)).isoformat(),
                "ends_on": (today + timedelta(days=20)).isoformat(),
                "competency_ids": [str(world.a.competency_id)],
            },
            follow_redirects=False,
        )
        assert created.status_code == 303, created.text
        listing = await admin.get("/console/hot-skills?lang=en")
        assert "Feedback month" in listing.text and "Running" in listing.text
        assert "1 course is hot today." in listing.text
        courses = await admin.get("/console/courses?hot=yes&lang=en")
        assert "Feedback geven (Acme)" in courses.text
        async with ctx.sessionmaker() as session:
            season = (await session.exec(select(HotSkillSeason))).one()
        edited = await admin.post(
            f"/console/hot-skills/{season.id}",
            data={
                "name": "Feedback month",
                "starts_on": (today - timedelta(days=2)).isoformat(),
                "ends_on": (today + timedelta(days=10)).isoformat(),
                "course_ids": [str(world.a.course_id)],
            },
            follow_redirects=False,
        )
        assert edited.status_code == 303
        ended = await admin.post(f"/console/hot-skills/{season.id}/end", follow_redirects=False)
        assert ended.status_code == 303
        after = await admin.get("/console/hot-skills?lang=en")
        assert "Ended" in after.text and "0 courses are hot today." in after.text
    async with signed_in_client(app, "sam@example.com") as sam:
        assert "Hot skill" not in (await sam.get(f"/catalogue/{world.a.course_id}?lang=en")).text
    actions = await _actions(ctx, world.a.id)
    for action in ("hot_skill_season.create", "hot_skill_season.update", "hot_skill_season.end"):
        assert action in actions


async def test_a_season_shows_hot_in_the_learner_catalogue_and_welcome(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    today = datetime.now(UTC).date()
    async with ctx.sessionmaker() as session:
        session.add(
            HotSkillSeason(
                organisation_id=world.a.id,
                name="Now",
                starts_on=today - timedelta(days=1),
                ends_on=today + timedelta(days=1),
                competency_ids=[world.a.competency_id],
            )
        )
        await session.commit()
    async with signed_in_client(app, "sam@example.com") as sam:
        hot = await sam.get("/catalogue?hot=1&lang=en")
        assert "Feedback geven (Acme)" in hot.text and "Hot skill" in hot.text
        welcome = await sam.get("/welcome?step=2&lang=en")
        assert "Communicatie" in welcome.text
