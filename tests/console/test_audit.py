"""The audit log: the console page and the API, with search, filters, paging and CSV export."""

import csv
import io
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import AuditEntry, User
from tests.factories import World, signed_in_client

PAGE = "/console/audit"
# 10:00 in Amsterdam on 1 December 2026 (UTC+1), and a day earlier per entry below
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def _log(ctx: AppContext, world: World) -> None:
    """Org A: 60 course edits on 60 days (newest on 1 Dec), one testimonial hidden on 2 Dec,
    and an entry whose texts try to run as spreadsheet formulas. Org B: one entry."""
    async with ctx.sessionmaker() as session:
        lou = (
            await session.exec(select(User).where(User.email == world.email("a", "ld_admin")))
        ).one()
        for n in range(60):
            session.add(
                AuditEntry(
                    organisation_id=world.a.id,
                    actor_id=lou.id,
                    actor_name="Lou Acme",
                    action="course.update",
                    target_type="course",
                    target_id=str(n),
                    summary=f"Changed course “Excel {n:02d}”",
                    details={"title": f"Excel {n:02d}"},
                    created_at=START - timedelta(days=n),
                )
            )
        session.add(
            AuditEntry(
                organisation_id=world.a.id,
                actor_id=lou.id,
                actor_name="Lou Acme",
                action="testimonial.hide",
                target_type="testimonial",
                target_id="7",
                summary="Hid the testimonial of Zoë on “Één op één”",
                details={"reason": "Naar"},
                created_at=START + timedelta(days=1),
            )
        )
        session.add(
            AuditEntry(
                organisation_id=world.a.id,
                actor_name="=cmd|' /C calc'!A0",
                action="user.rename",
                target_type="user",
                target_id="@SUM(1+1)",
                summary="+1-1 renamed by a formula",
                details={},
                created_at=START - timedelta(days=100),
            )
        )
        session.add(
            AuditEntry(
                organisation_id=world.b.id,
                actor_name="Lou Globex",
                action="course.update",
                summary="Changed course “Globex secret”",
                created_at=START,
            )
        )
        await session.commit()


def _rows(body: bytes) -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode()), "UTF-8 with a byte order mark, for Excel"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


async def test_the_page_lists_newest_first_with_search_filters_and_paging(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _log(ctx, world)
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        page = await lou.get(f"{PAGE}?lang=en")
        assert page.status_code == 200
        html = page.text
        assert "62 entries" in html and "1–50 of 62" in html
        assert (
            html.index("Hid the testimonial of Zoë")
            < html.index("Excel 00")
            < html.index("Excel 01")
        ), "newest first"
        assert "Globex" not in html
        assert "Excel 55" not in html
        second = (await lou.get(f"{PAGE}?lang=en&page=2")).text
        assert "Excel 55" in second and "formula" in second and "Excel 00" not in second

        found = (await lou.get(f"{PAGE}?lang=en&q=excel 0")).text
        assert "10 entries" in found and "Excel 09" in found and "Excel 10" not in found
        kinds = (await lou.get(f"{PAGE}?lang=en&action=testimonial")).text
        assert "1 entry" in kinds and "Zoë" in kinds and "Excel" not in kinds
        assert '<option value="testimonial" selected>Testimonials</option>' in kinds
        # local days in Amsterdam, both included
        days = (await lou.get(f"{PAGE}?lang=en&from=2026-11-29&to=2026-12-01")).text
        assert "3 entries" in days
        assert all(f"Excel {n:02d}" in days for n in (0, 1, 2)) and "Excel 03" not in days
        empty = (await lou.get(f"{PAGE}?lang=en&q=nothing+like+this")).text
        assert "No entries match this filter" in empty

        wrong = await lou.get(f"{PAGE}?lang=en&from=2026-12-05&to=2026-12-01")
        assert wrong.status_code == 400 and "The last day comes before the first." in wrong.text
        bad = await lou.get(f"{PAGE}?lang=en&from=tomorrow")
        assert bad.status_code == 400 and "Enter a date." in bad.text
        dutch = (await lou.get(f"{PAGE}?lang=nl")).text
        assert "Logboek" in dutch and "Exporteren als CSV" in dutch


async def test_the_csv_export_is_the_current_filter_excel_ready_and_formula_safe(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _log(ctx, world)
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        page = (await lou.get(f"{PAGE}?lang=en&action=testimonial&q=zo")).text
        assert f'href="{PAGE}/export.csv?q=zo&amp;action=testimonial"' in page
        response = await lou.get(f"{PAGE}/export.csv?q=zo&action=testimonial")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"].startswith(
            'attachment; filename="audit-log-'
        )
        rows = _rows(response.content)
        assert [(r["who"], r["action"], r["summary"]) for r in rows] == [
            ("Lou Acme", "testimonial.hide", "Hid the testimonial of Zoë on “Één op één”")
        ]
        assert rows[0]["when"] == "2026-12-02T09:00:00+00:00"
        assert rows[0]["details"] == '{"reason": "Naar"}'

        everything = _rows((await lou.get(f"{PAGE}/export.csv")).content)
        assert len(everything) == 62, "every page, not just the first"
        assert "Globex" not in str(everything)
        formula = everything[-1]
        assert formula["who"] == "'=cmd|' /C calc'!A0"
        assert formula["target_id"] == "'@SUM(1+1)"
        assert formula["summary"] == "'+1-1 renamed by a formula"
        for row in everything:
            for value in row.values():
                assert value[:1] not in ("=", "+", "-", "@"), value


async def test_the_api_lists_and_exports_the_same_log(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _log(ctx, world)
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        body = (await lou.get("/api/v1/audit", params={"per_page": 5})).json()
        assert body["total"] == 62 and len(body["items"]) == 5
        assert body["items"][0]["action"] == "testimonial.hide"
        assert body["items"][0]["details"] == {"reason": "Naar"}
        days = (
            await lou.get(
                "/api/v1/audit", params={"from": "2026-11-29", "to": "2026-12-01", "q": "excel"}
            )
        ).json()
        assert [i["summary"] for i in days["items"]] == [
            "Changed course “Excel 00”",
            "Changed course “Excel 01”",
            "Changed course “Excel 02”",
        ]
        assert (await lou.get("/api/v1/audit?action=user")).json()["total"] == 1
        assert (await lou.get("/api/v1/audit?from=2026-12-05&to=2026-12-01")).status_code == 400
        assert (await lou.get("/api/v1/audit?from=yesterday")).status_code == 400
        assert (await lou.get("/api/v1/audit?per_page=500")).status_code == 400
        exported = await lou.get("/api/v1/audit.csv", params={"action": "course"})
        assert exported.status_code == 200
        assert len(_rows(exported.content)) == 60
    for role in ("employee", "manager"):
        async with signed_in_client(app, world.email("a", role)) as person:
            assert (await person.get("/api/v1/audit")).status_code == 403
            assert (await person.get("/api/v1/audit.csv")).status_code == 403
            assert (await person.get(f"{PAGE}/export.csv")).status_code == 403
    async with signed_in_client(app, world.email("b", "ld_admin")) as b_lou:
        items = (await b_lou.get("/api/v1/audit")).json()["items"]
        assert [i["summary"] for i in items] == ["Changed course “Globex secret”"]


async def test_moderating_a_testimonial_shows_up_in_the_log(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        written = await sam.post(
            f"/api/v1/courses/{world.a.course_id}/testimonials", json={"text": "Prima cursus!"}
        )
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        await lou.post(f"/console/testimonials/{written.json()['id']}/approve")
        page = (await lou.get(f"{PAGE}?lang=en")).text
        assert "Approved the testimonial of Sam Acme on “Feedback geven (Acme)”" in page
        assert "testimonial.approve" in page and "Lou Acme" in page
