"""The console's import page: upload, every problem shown, progress and the summary."""

import pytest
from litestar import Litestar
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import AuditEntry, Course
from tests.factories import World, signed_in_client

HEADER = "external_id;title;format;duration_minutes;cost;competencies;hot_skill\r\n"
GOOD = HEADER + (
    "LMS-1;Feedback geven;elearning;45;0;Communicatie;nee\r\n"
    "LMS-2;Excel voor analisten;classroom;240;149,50;Data|Excel;ja\r\n"
)
ONE_BAD = GOOD + "LMS-3;Timemanagement;webinar;0;;;\r\n"


async def titles(ctx: AppContext, org_id: int) -> set[str]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(select(Course.title).where(Course.organisation_id == org_id))
        return set(rows.all())


def upload(text: str, kind: str = "courses", name: str = "cursussen.csv") -> dict[str, object]:
    return {"files": {"file": (name, text.encode(), "text/csv")}, "data": {"kind": kind}}


async def test_the_upload_page_explains_the_columns_and_offers_templates(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as client:
        page = await client.get("/console/import?lang=en")
        assert page.status_code == 200
        assert 'enctype="multipart/form-data"' in page.text
        assert "No imports yet" in page.text
        assert 'href="/console/import/template/courses.csv"' in page.text
        dutch = await client.get("/console/import?lang=nl")
        assert "Nog geen imports" in dutch.text
        template = await client.get("/console/import/template/courses.csv")
        assert template.headers["content-type"].startswith("text/csv")
        assert template.content.startswith(b"\xef\xbb\xbfexternal_id,title,")
        people = await client.get("/console/import/template/people.csv")
        assert people.content.startswith(b"\xef\xbb\xbfemail,name,")


@pytest.mark.parametrize("template", ["courses", "people"])
async def test_a_downloaded_template_imports_as_it_is(
    app: Litestar, ctx: AppContext, world: World, template: str
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as client:
        body = (await client.get(f"/console/import/template/{template}.csv")).content
        done = await client.post(
            "/console/import",
            files={"file": (f"{template}.csv", body, "text/csv")},
            data={"kind": template},
        )
        assert done.status_code == 200, done.text
        assert "Imported" in done.text or "Geïmporteerd" in done.text


async def test_one_bad_row_shows_its_problem_and_imports_nothing_then_the_fix_imports(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    before = await titles(ctx, world.a.id)
    async with signed_in_client(app, world.email("a", "ld_admin")) as client:
        rejected = await client.post("/console/import?lang=en", **upload(ONE_BAD))
        assert rejected.status_code == 400
        assert "1 problem in “cursussen.csv”: nothing was imported" in rejected.text
        assert '<td class="num">4</td><td><code>duration_minutes</code></td>' in rejected.text
        assert "This number is too small." in rejected.text
        assert await titles(ctx, world.a.id) == before

        fixed = ONE_BAD.replace("webinar;0;", "webinar;30;")
        done = await client.post("/console/import?lang=en", **upload(fixed), follow_redirects=False)
        assert done.status_code == 303
        job_page = await client.get(done.headers["location"] + "?lang=en")
        assert "3 rows imported." in job_page.text
        assert '<dd id="count-created">3</dd>' in job_page.text
        assert await titles(ctx, world.a.id) == before | {
            "Feedback geven",
            "Excel voor analisten",
            "Timemanagement",
        }
        status = await client.get(done.headers["location"] + "/status")
        assert status.json()["status"] == "done"
        assert (status.json()["created"], status.json()["unchanged"]) == (3, 0)

        again = await client.post("/console/import?lang=nl", **upload(fixed))
        assert again.status_code == 200
        assert '<dd id="count-unchanged">3</dd>' in again.text
        recent = await client.get("/console/import?lang=en")
        assert recent.text.count('href="/console/import/') >= 3  # both imports and a rejection
    async with ctx.sessionmaker() as session:
        audit = (await session.exec(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert [a.action for a in audit] == ["import.courses", "import.courses"]
    assert audit[0].actor_name == "Lou Acme"
    assert audit[0].details["created"] == 3
    assert audit[1].summary.endswith("0 created, 0 updated, 3 unchanged")


async def test_a_messy_file_from_dutch_excel_imports(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    messy = (
        "\ufeffExternal ID;Title;Format;Duration minutes;Description\r\n"
        'LMS-7;"Presenteren; de basis";video;20;"Regel een\r\nregel twee"\r\n'
        "\r\n;;;;\r\n\r\n"
    )
    async with signed_in_client(app, world.email("a", "ld_admin")) as client:
        done = await client.post("/console/import", **upload(messy))
        assert "1 rij geïmporteerd." in done.text  # Lou's own language after the redirect
    assert "Presenteren; de basis" in await titles(ctx, world.a.id)


async def test_the_form_asks_for_a_file_and_a_kind(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as client:
        no_file = await client.post("/console/import?lang=en", data={"kind": "courses"})
        assert no_file.status_code == 400
        assert "Choose a CSV file to upload." in no_file.text
        no_kind = await client.post("/console/import?lang=en", **upload(GOOD, kind="planets"))
        assert no_kind.status_code == 400
        assert "Choose what to import." in no_kind.text
        header = await client.post(
            "/console/import?lang=en", **upload("external_id;titel\r\nX;Y\r\n")
        )
        assert header.status_code == 400
        assert "Unknown column “titel”" in header.text


async def test_another_organisations_import_is_not_found(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("b", "ld_admin")) as other:
        done = await other.post("/console/import", **upload(GOOD), follow_redirects=False)
        b_job = done.headers["location"]
    async with signed_in_client(app, world.email("a", "ld_admin")) as client:
        assert (await client.get(b_job)).status_code == 404
        assert (await client.get(b_job + "/status")).status_code == 404
        listing = await client.get("/console/import?lang=en")
        assert b_job not in listing.text
