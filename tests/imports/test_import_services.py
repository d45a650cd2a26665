"""The import runner through its service functions, on PostgreSQL."""

from sqlmodel import col, select

from backend.auth.principal import Principal
from backend.context import AppContext
from backend.db.models import AuditEntry, Competency, Course, CourseCompetency, ImportJob
from backend.imports import services
from backend.tenancy import OrgScope
from tests.factories import World

GOOD = (
    "external_id,title,description,provider,format,duration_minutes,cost,url,"
    "xapi_activity_id,competencies,hot_skill\r\n"
    "C-1,Feedback geven,Kort en krachtig,Academie,elearning,45,0,https://lms.example/c1,,"
    "Communicatie|Leiderschap,no\r\n"
    'C-2,Excel voor analisten,,Data Academy,classroom,240,"149,50",,,Data,yes\r\n'
)


def admin(world: World, org: str = "a") -> Principal:
    o = getattr(world, org)
    user = o.users["ld_admin"]
    return Principal(
        organisation_id=o.id,
        user_id=user.id,
        roles=frozenset(user.roles),
        via="session",
        display_name=user.display_name,
        email=user.email,
    )


async def import_text(
    ctx: AppContext, world: World, text: str, kind: str = "courses", org: str = "a"
) -> ImportJob:
    principal = admin(world, org)
    async with ctx.sessionmaker() as session:
        job, checked = await services.submit(
            OrgScope(session, principal), services.KINDS[kind], "file.csv", text.encode()
        )
    if job.status == "rejected":
        return job
    assert job.id is not None
    return await services.run(ctx.sessionmaker, principal, job.id, checked)


async def test_a_good_file_creates_its_courses_and_their_competencies(
    ctx: AppContext, world: World
) -> None:
    job = await import_text(ctx, world, GOOD)
    assert (job.status, job.created, job.updated, job.unchanged) == ("done", 2, 0, 0)
    async with ctx.sessionmaker() as session:
        c2 = (await session.exec(select(Course).where(Course.external_id == "C-2"))).one()
        assert (c2.cost_cents, c2.format, c2.hot_skill, c2.organisation_id) == (
            14950,
            "classroom",
            True,
            world.a.id,
        )
        names = (
            await session.exec(
                select(Competency.name).where(Competency.organisation_id == world.a.id)
            )
        ).all()
        assert sorted(names) == ["Communicatie", "Data", "Leiderschap"]  # Communicatie reused
        audit = (await session.exec(select(AuditEntry))).all()
        assert [a.action for a in audit] == ["import.courses"]
        assert "2 created, 0 updated, 0 unchanged" in audit[0].summary
    again = await import_text(ctx, world, GOOD)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


async def courses_of(ctx: AppContext, org_id: int) -> dict[str, Course]:
    async with ctx.sessionmaker() as session:
        rows = (await session.exec(select(Course).where(Course.organisation_id == org_id))).all()
    return {c.external_id or c.title: c for c in rows}


BAD = (
    "external_id;title;format;duration_minutes;cost;url;hot_skill\r\n"
    "C-1;Feedback geven;elearning;45;0;https://lms.example/c1;nee\r\n"
    "C-2;;classroom;-5;twaalf;ftp://x;misschien\r\n"
    "C-3;Excel;hologram;30;;;\r\n"
    "C-1;Nog een keer;elearning;10;;;\r\n"
)


async def test_a_file_with_errors_names_every_one_by_row_and_column_and_imports_nothing(
    ctx: AppContext, world: World
) -> None:
    before = await courses_of(ctx, world.a.id)
    job = await import_text(ctx, world, BAD)
    assert job.status == "rejected"
    found = [(e["row"], e["column"]) for e in job.errors]
    assert found == [
        (3, "title"),
        (3, "duration_minutes"),
        (3, "cost"),
        (3, "url"),
        (3, "hot_skill"),
        (4, "format"),
        (5, "external_id"),
    ]
    assert job.error_count == 7
    assert services.problem_text(job.errors[-1], translate=False) == (
        "“C-1” is also on row 2; each course once."
    )
    assert await courses_of(ctx, world.a.id) == before
    async with ctx.sessionmaker() as session:
        assert (await session.exec(select(AuditEntry))).all() == []


async def test_changed_rows_are_updated_and_the_others_left_unchanged(
    ctx: AppContext, world: World
) -> None:
    await import_text(ctx, world, GOOD)
    changed = GOOD.replace("Kort en krachtig", '"Kort, krachtig en concreet"').replace(
        "Communicatie|Leiderschap", "Communicatie"
    )
    job = await import_text(ctx, world, changed)
    assert (job.created, job.updated, job.unchanged) == (0, 1, 1)
    c1 = (await courses_of(ctx, world.a.id))["C-1"]
    assert c1.description == "Kort, krachtig en concreet"
    async with ctx.sessionmaker() as session:
        links = (
            await session.exec(
                select(Competency.name)
                .join(CourseCompetency, col(CourseCompetency.competency_id) == col(Competency.id))
                .where(CourseCompetency.course_id == c1.id)
            )
        ).all()
    assert links == ["Communicatie"]


async def test_an_empty_cell_leaves_the_stored_value_and_a_missing_column_is_not_touched(
    ctx: AppContext, world: World
) -> None:
    await import_text(ctx, world, GOOD)
    partial = (
        "external_id,title,format,duration_minutes,description\r\n"
        "C-1,Feedback geven,elearning,45,\r\n"
    )
    job = await import_text(ctx, world, partial)
    assert (job.updated, job.unchanged) == (0, 1)
    c1 = (await courses_of(ctx, world.a.id))["C-1"]
    assert (c1.description, c1.provider) == ("Kort en krachtig", "Academie")


async def test_an_activity_id_of_another_course_is_refused(ctx: AppContext, world: World) -> None:
    taken = "https://lms.acme.example/courses/feedback"  # world.a's existing course
    text = (
        "external_id,title,format,duration_minutes,xapi_activity_id\r\n"
        f"C-9,Nieuw,video,5,{taken}\r\n"
    )
    job = await import_text(ctx, world, text)
    assert [(e["row"], e["column"]) for e in job.errors] == [(2, "xapi_activity_id")]
    assert "Feedback geven (Acme)" in services.problem_text(job.errors[0], translate=False)


async def test_an_import_stays_in_its_organisation(ctx: AppContext, world: World) -> None:
    b_before = await courses_of(ctx, world.b.id)
    # org B's course has this activity id; in org A it is free
    text = (
        "external_id,title,format,duration_minutes,xapi_activity_id,competencies\r\n"
        "C-1,Acme-cursus,video,5,https://lms.globex.example/courses/feedback,Communicatie\r\n"
    )
    job = await import_text(ctx, world, text)
    assert job.status == "done" and job.created == 1
    assert await courses_of(ctx, world.b.id) == b_before
    # the same file in org B creates B's own course; A's stays as it was
    b_job = await import_text(
        ctx,
        world,
        text.replace("globex", "acme").replace("courses/feedback", "courses/other"),
        org="b",
    )
    assert b_job.created == 1
    a_course = (await courses_of(ctx, world.a.id))["C-1"]
    b_course = (await courses_of(ctx, world.b.id))["C-1"]
    assert a_course.id != b_course.id and a_course.organisation_id == world.a.id
    async with ctx.sessionmaker() as session:
        competencies = (
            await session.exec(
                select(Competency.organisation_id, Competency.name).order_by(
                    Competency.organisation_id
                )
            )
        ).all()
    # each organisation's own "Communicatie" was used; none was created across the fence
    assert competencies == [(world.a.id, "Communicatie"), (world.b.id, "Communicatie")]


async def test_ten_thousand_rows_import_and_import_again_unchanged(
    ctx: AppContext, world: World
) -> None:
    lines = ["external_id;title;format;duration_minutes;cost;competencies;hot_skill"]
    lines += [
        f"X-{i};Cursus {i};elearning;{i % 300 + 1};{i % 50},{i % 100:02d};Skill {i % 40};"
        f"{'ja' if i % 7 == 0 else 'nee'}"
        for i in range(10_000)
    ]
    text = "\ufeff" + "\r\n".join(lines) + "\r\n"
    job = await import_text(ctx, world, text)
    assert (job.status, job.created, job.processed_rows) == ("done", 10_000, 10_000)
    courses = await courses_of(ctx, world.a.id)
    assert len(courses) == 10_001  # and the world's own course
    assert courses["X-4321"].cost_cents == (4321 % 50) * 100 + 4321 % 100
    async with ctx.sessionmaker() as session:
        links = (
            await session.exec(
                select(CourseCompetency).where(CourseCompetency.organisation_id == world.a.id)
            )
        ).all()
    assert len(links) == 10_001
    again = await import_text(ctx, world, text)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 10_000)


PEOPLE = (
    "email;name;roles;teams;manager;locale\r\n"
    "Daan@Example.com;Daan de Vries;employee;Klantenservice;ja;nl\r\n"
    "sam@example.com;Sam Acme;;Klantenservice|Sales;nee;en\r\n"
)


async def test_people_are_matched_by_email_and_teams_created(ctx: AppContext, world: World) -> None:
    from backend.db.models import LearnerState, Team, TeamMembership, User

    job = await import_text(ctx, world, PEOPLE, kind="people")
    # sam@example.com already exists in org A (and in org B: that one is not touched)
    assert (job.status, job.created, job.updated, job.unchanged) == ("done", 1, 1, 0)
    async with ctx.sessionmaker() as session:
        daan = (await session.exec(select(User).where(User.email == "daan@example.com"))).one()
        assert (daan.organisation_id, daan.roles, daan.password_hash) == (
            world.a.id,
            ["employee", "manager"],
            None,
        )
        assert (
            await session.exec(select(LearnerState).where(LearnerState.user_id == daan.id))
        ).one().next_nudge_at is not None  # the scheduler welcomes the new hire
        teams = {
            t.name: t.id
            for t in (
                await session.exec(select(Team).where(Team.organisation_id == world.a.id))
            ).all()
        }
        assert set(teams) == {"Acme Support", "Klantenservice", "Sales"}
        sam = world.a.users["employee"]
        memberships = (
            await session.exec(
                select(TeamMembership.team_id, TeamMembership.is_manager).where(
                    TeamMembership.user_id == sam.id
                )
            )
        ).all()
        assert sorted(memberships) == sorted(
            [(teams["Klantenservice"], False), (teams["Sales"], False)]
        )
        b_sam = world.b.users["employee"]
        b_row = (await session.exec(select(User).where(User.id == b_sam.id))).one()
        assert b_row.locale == "nl" and b_row.display_name == "Sam Globex"
    again = await import_text(ctx, world, PEOPLE, kind="people")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


async def test_an_admin_cannot_import_away_their_own_admin_role(
    ctx: AppContext, world: World
) -> None:
    text = (
        "email,name,roles\r\nld@acme.example,Lou Acme,employee\r\nx@acme.example,,manager|boss\r\n"
    )
    job = await import_text(ctx, world, text, kind="people")
    assert [(e["row"], e["column"]) for e in job.errors] == [
        (2, "roles"),
        (3, "name"),
        (3, "roles"),
    ]
