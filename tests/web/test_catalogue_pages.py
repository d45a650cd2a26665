"""The catalogue pages: searching, a course with what it earns, and testimonials by form."""

import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import (
    Competency,
    Course,
    CourseCompetency,
    TrainingRequest,
    XpLedgerEntry,
)
from backend.db.models import Testimonial as SavedTestimonial
from tests.factories import World, signed_in_client


def _form_token(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


async def _more_courses(ctx: AppContext, world: World) -> dict[str, int]:
    async with ctx.sessionmaker() as session:
        excel = Competency(organisation_id=world.a.id, name="Data")
        session.add(excel)
        courses = {
            "excel": Course(
                organisation_id=world.a.id,
                title="Excel voor gevorderden",
                provider="GoodHabitz",
                format="elearning",
                duration_minutes=120,
                cost_cents=0,
                hot_skill=True,
                description="Draaitabellen en <b>formules</b>.",
                url="https://provider.example/excel",
            ),
            "lead": Course(
                organisation_id=world.a.id,
                title="Leiderschap in de praktijk",
                provider="NCOI",
                format="classroom",
                duration_minutes=960,
                cost_cents=129_550,
            ),
        }
        session.add_all(courses.values())
        await session.flush()
        assert excel.id is not None and courses["excel"].id is not None
        session.add(
            CourseCompetency(
                course_id=courses["excel"].id, competency_id=excel.id, organisation_id=world.a.id
            )
        )
        await session.commit()
        return {"data": excel.id, **{k: c.id or 0 for k, c in courses.items()}}


def _titles(html: str) -> list[str]:
    return re.findall(r'<h3 class="course-title"><a href="/catalogue/\d+">([^<]+)</a>', html)


async def test_search_and_filters_narrow_the_list(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    ids = await _more_courses(ctx, world)
    async with signed_in_client(app, world.a.users["employee"].email) as client:
        page = await client.get("/catalogue")
        assert page.status_code == 200
        assert "Catalogus" in page.text and "Zoeken" in page.text
        assert "Mijn leerbudget: €\xa01.000,00 over dit jaar" in page.text
        assert sorted(_titles(page.text)) == [
            "Excel voor gevorderden",
            "Feedback geven (Acme)",
            "Leiderschap in de praktijk",
        ]
        assert "Globex" not in page.text
        assert (
            "€\xa01.295,50" in page.text
            and "Gratis" in page.text
            and "Gevraagde vaardigheid" in page.text
        )
        assert "16 uur" in page.text and "2 uur" in page.text and "Klassikaal" in page.text

        assert _titles((await client.get("/catalogue", params={"q": "excel"})).text) == [
            "Excel voor gevorderden"
        ]
        assert _titles((await client.get("/catalogue", params={"q": "ncoi"})).text) == [
            "Leiderschap in de praktijk"
        ]
        by_competency = await client.get("/catalogue", params={"competency": ids["data"]})
        assert _titles(by_competency.text) == ["Excel voor gevorderden"]
        assert _titles((await client.get("/catalogue", params={"hot": "1"})).text) == [
            "Excel voor gevorderden"
        ]
        classroom = await client.get("/catalogue", params={"format": "classroom"})
        assert _titles(classroom.text) == ["Leiderschap in de praktijk"]
        short = await client.get("/catalogue", params={"max_minutes": "60"})
        assert _titles(short.text) == ["Feedback geven (Acme)"]
        free = await client.get("/catalogue", params={"free": "1", "q": "leiderschap"})
        assert _titles(free.text) == []
        assert "Geen cursussen gevonden" in free.text
        # nonsense from a hand-edited URL is ignored, not an error
        odd = await client.get(
            "/catalogue",
            params={"competency": "abc", "format": "vr", "max_minutes": "-1", "q": "x\x00"},
        )
        assert odd.status_code == 200
        # org B's competency cannot be used to probe
        foreign = await client.get("/catalogue", params={"competency": world.b.competency_id})
        assert sorted(_titles(foreign.text)) == sorted(_titles(page.text))  # not filtered

        english = await client.get("/catalogue", params={"lang": "en"})
        assert "My learning budget: €1,000.00 left this year" in english.text
        assert "Free" in english.text and "Classroom" in english.text


async def test_course_page_shows_what_it_earns_and_escapes_testimonials(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    ids = await _more_courses(ctx, world)
    async with ctx.sessionmaker() as session:
        session.add(
            SavedTestimonial(
                organisation_id=world.a.id,
                course_id=ids["excel"],
                user_id=world.a.users["manager"].id or 0,
                text="<script>alert('x')</script> Echt een aanrader",
            )
        )
        await session.commit()
    async with signed_in_client(app, world.a.users["employee"].email) as client:
        page = await client.get(f"/catalogue/{ids['excel']}")
        assert page.status_code == 200
        # 50 + 0.5 x 120 = 110, hot skill x1.5 = 165
        assert "+165 XP" in page.text and "Dit levert afronden op" in page.text
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Echt een aanrader" in page.text
        assert "<script>alert" not in page.text
        assert "Mia Acme" in page.text
        assert "&lt;b&gt;formules&lt;/b&gt;" in page.text
        assert 'href="https://provider.example/excel"' in page.text
        assert 'rel="noopener noreferrer"' in page.text
        plain = await client.get(f"/catalogue/{world.a.course_id}")
        assert "+73 XP" in plain.text  # 50 + 0.5 x 45 = 72.5, rounded half up


async def test_writing_a_testimonial_by_form_earns_xp_once(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sam = world.a.users["employee"]
    url = f"/catalogue/{world.a.course_id}"

    async def xp() -> int:
        async with ctx.sessionmaker() as session:
            rows = (
                await session.exec(
                    select(XpLedgerEntry.amount).where(XpLedgerEntry.user_id == sam.id)
                )
            ).all()
        return sum(rows)

    async with signed_in_client(app, sam.email) as client:
        page = await client.get(url)
        assert "Nog geen ervaringen van collega's" in page.text
        too_short = await client.post(
            f"{url}/testimonial", data={"text": "Kort", "_csrf_token": _form_token(page.text)}
        )
        assert too_short.status_code == 400
        assert (
            "Schrijf minstens 10 tekens." in too_short.text and ">Kort</textarea>" in too_short.text
        )
        assert await xp() == 0

        response = await client.post(
            f"{url}/testimonial",
            data={"text": "Ik gebruik het elke week.", "_csrf_token": _form_token(page.text)},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"{url}?xp=15#testimonials"
        page = await client.get(f"{url}?xp=15")
        assert "Ik gebruik het elke week." in page.text and "+15 XP" in page.text
        assert "Sam Acme (jij)" in page.text and "Je ervaring bewerken" in page.text
        assert await xp() == 15

        response = await client.post(
            f"{url}/testimonial",
            data={"text": "Na een maand nog steeds nuttig.", "_csrf_token": _form_token(page.text)},
        )
        assert response.status_code == 200
        assert "Na een maand nog steeds nuttig." in response.text
        assert "Ik gebruik het elke week." not in response.text
        assert "Je ervaring is bijgewerkt." in response.text
        assert await xp() == 15, "editing earns no XP again"

        client.headers.pop("x-csrf-token")
        no_token = await client.post(f"{url}/testimonial", data={"text": "Zonder token gepost."})
        assert no_token.status_code == 403


async def test_anonymous_is_sent_to_sign_in_and_other_orgs_course_is_404(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    for path in ("/catalogue", f"/catalogue/{world.a.course_id}"):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/"
    async with signed_in_client(app, world.a.users["employee"].email) as sam:
        for course_id in (world.b.course_id, 2**31, 999_999):
            response = await sam.get(f"/catalogue/{course_id}")
            assert response.status_code == 404
            assert "Pagina niet gevonden" in response.text and "Globex" not in response.text
        token = sam.headers["x-csrf-token"]
        write = await sam.post(
            f"/catalogue/{world.b.course_id}/testimonial",
            data={"text": "Ik schrijf bij de buren.", "_csrf_token": token},
        )
        assert write.status_code == 404 and "Globex" not in write.text


async def test_requesting_budget_for_a_paid_course_once_shows_it_pending(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    ids = await _more_courses(ctx, world)
    async with signed_in_client(app, world.a.users["employee"].email) as client:
        page = await client.get(f"/catalogue/{ids['lead']}")
        assert (
            "Deze cursus kost €\xa01.295,50; je hebt dit jaar nog €\xa01.000,00 over." in page.text
        )
        assert "Dat is meer dan je nog over hebt" in page.text
        token = _form_token(page.text)
        for _ in range(2):  # a double tap asks once
            sent = await client.post(
                f"/catalogue/{ids['lead']}/request",
                data={"_csrf_token": token},
                follow_redirects=False,
            )
            assert sent.status_code == 303
            assert sent.headers["location"] == f"/catalogue/{ids['lead']}?requested=1#budget"
        page = await client.get(f"/catalogue/{ids['lead']}?requested=1")
        assert "Aangevraagd op " in page.text and "Deze training aanvragen" not in page.text
        catalogue = await client.get("/catalogue")
        budget_note = re.sub(r"<[^>]+>", "", catalogue.text)
        assert "€\xa01.000,00 over dit jaar · €\xa01.295,50 aangevraagd" in budget_note
        export = (await client.get("/api/v1/me/export")).json()
        assert [(r["course"], r["status"]) for r in export["training_requests"]] == [
            ("Leiderschap in de praktijk", "pending")
        ]

        # a free course needs no request; another organisation's course is not found
        free = await client.post(f"/catalogue/{ids['excel']}/request", data={"_csrf_token": token})
        assert free.status_code == 400 and "aanvragen is niet nodig" in free.text
        foreign = await client.post(
            f"/catalogue/{world.b.course_id}/request", data={"_csrf_token": token}
        )
        assert foreign.status_code == 404
        # without the form's CSRF token nothing is asked
        client.headers.pop("x-csrf-token")
        forged = await client.post(f"/catalogue/{world.a.course_id}/request", data={})
        assert forged.status_code == 403
    async with ctx.sessionmaker() as session:
        rows = (await session.exec(select(TrainingRequest))).all()
    assert [(r.course_id, r.cost_cents, r.status) for r in rows] == [
        (ids["lead"], 129_550, "pending")
    ]
    async with signed_in_client(app, world.a.users["manager"].email) as other:
        # a colleague's request is theirs: my page still offers the request
        page = await other.get(f"/catalogue/{ids['lead']}")
        assert "Deze training aanvragen" in page.text


async def _many_courses(ctx: AppContext, world: World, count: int) -> None:
    """``count`` more courses "Cursus 01", "Cursus 02", ...; every third one hot."""
    async with ctx.sessionmaker() as session:
        session.add_all(
            Course(
                organisation_id=world.a.id,
                title=f"Cursus {n:02d}",
                format="elearning",
                duration_minutes=10 + n,
                hot_skill=n % 3 == 0,
            )
            for n in range(1, count + 1)
        )
        await session.commit()


def _more_link(html: str) -> str | None:
    match = re.search(r'<a class="button more-link" href="([^"]+)"', html)
    return match.group(1).replace("&amp;", "&") if match else None


async def test_the_catalogue_shows_twelve_courses_and_more_on_request(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _many_courses(ctx, world, 29)  # with the world's own course: 30
    async with signed_in_client(app, world.a.users["employee"].email) as client:
        first = await client.get("/catalogue")
        assert len(_titles(first.text)) == 12
        assert "30 cursussen" in first.text and "12 van 30 getoond" in first.text
        assert _titles(first.text)[:3] == ["Cursus 03", "Cursus 06", "Cursus 09"]  # hot first
        more = _more_link(first.text)
        assert more == "/catalogue?page=2#course-13"

        # page 2 is the first 24: a reload or a shared link shows what was scrolled through
        second = await client.get(more)
        assert _titles(second.text)[:12] == _titles(first.text)
        assert len(_titles(second.text)) == 24 and 'id="course-13"' in second.text
        last = await client.get(_more_link(second.text) or "")
        assert len(_titles(last.text)) == 30 and "30 van 30 getoond" in last.text
        assert _more_link(last.text) is None
        assert len(set(_titles(last.text))) == 30, "no course twice, none left out"

        # nonsense pages are the first or the last, never an error
        for page in ("0", "-3", "abc", "99999999999"):
            odd = await client.get("/catalogue", params={"page": page})
            assert odd.status_code == 200 and _titles(odd.text)


async def test_filters_search_and_order_stay_in_the_url_and_the_more_link(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _many_courses(ctx, world, 29)
    async with signed_in_client(app, world.a.users["employee"].email) as client:
        view = {"q": "cursus", "max_minutes": "30", "sort": "title", "lang": "en"}
        page = await client.get("/catalogue", params=view)
        # 10 + n <= 30: Cursus 01 .. Cursus 20, by title
        assert _titles(page.text) == [f"Cursus {n:02d}" for n in range(1, 13)]
        assert "20 courses" in page.text and "12 of 20 shown" in page.text
        more = _more_link(page.text) or ""
        assert more.startswith("/catalogue?") and more.endswith("#course-13")
        assert dict(re.findall(r"[?&](\w+)=([^&#]+)", more)) == {**view, "page": "2"}
        rest = await client.get(more)
        assert _titles(rest.text) == [f"Cursus {n:02d}" for n in range(1, 21)]
        assert _more_link(rest.text) is None

        # the order form keeps the search and filters; the search form keeps the order
        hidden = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text)
        assert ("q", "cursus") in hidden and ("max_minutes", "30") in hidden
        assert ("sort", "title") in hidden and ("lang", "en") in hidden
        assert 'value="title" selected' in page.text

        newest = await client.get("/catalogue", params={**view, "sort": "short"})
        assert _titles(newest.text)[:2] == ["Cursus 01", "Cursus 02"]
        unknown = await client.get("/catalogue", params={**view, "sort": "'; drop"})
        assert unknown.status_code == 200 and len(_titles(unknown.text)) == 12

        # the course page leads back to the view the learner came from, and only to ours
        course = f"/catalogue/{world.a.course_id}"
        came_from = "http://testserver.local/catalogue?q=cursus&sort=title&page=2"
        back = await client.get(course, headers={"referer": came_from})
        assert 'class="back-link" href="/catalogue?q=cursus&amp;sort=title&amp;page=2"' in back.text
        for elsewhere in ("https://evil.example/catalogue?q=x", "http://testserver.local/log?q=x"):
            other = await client.get(course, headers={"referer": elsewhere})
            assert 'class="back-link" href="/catalogue"' in other.text


async def test_filters_that_match_nothing_offer_to_clear_them(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _many_courses(ctx, world, 3)
    async with signed_in_client(app, world.a.users["employee"].email) as client:
        page = await client.get(
            "/catalogue", params={"q": "sterrenkunde", "free": "1", "sort": "cheap"}
        )
        assert _titles(page.text) == [] and "Geen cursussen gevonden" in page.text
        assert "Mijn leerbudget: €\xa01.000,00 over dit jaar" in page.text
        assert "Probeer een ander woord of filter minder." in page.text
        clear = re.search(
            r'<a class="button button-primary" href="([^"]+)">Filter wissen', page.text
        )
        assert clear and clear.group(1) == "/catalogue?sort=cheap"
        assert len(_titles((await client.get(clear.group(1))).text)) == 4


def _visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


async def test_the_dutch_catalogue_speaks_dutch(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    ids = await _more_courses(ctx, world)  # a hot course with a competency
    async with signed_in_client(app, world.a.users["employee"].email) as client:
        pages = {
            "catalogue": await client.get("/catalogue", params={"hot": "1"}),
            "empty": await client.get("/catalogue", params={"q": "niets"}),
            "course": await client.get(f"/catalogue/{ids['excel']}"),
        }
        for name, page in pages.items():
            text = _visible_text(page.text)
            for english in ("testimonial", "hot skill", "hot-skill", "filters"):
                assert english not in text.lower(), f"{english!r} on the {name} page"
        assert "Gevraagde vaardigheid" in pages["catalogue"].text
        assert "Alleen gevraagde vaardigheden" in pages["catalogue"].text
        assert ">Filter</summary>" in pages["catalogue"].text
        assert "Deel je ervaring" in pages["course"].text
        english = await client.get("/catalogue", params={"hot": "1", "lang": "en"})
        assert "Hot skill" in english.text and ">Filters</summary>" in english.text


async def test_the_catalogue_reads_in_two_statements_and_a_course_in_four(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    """What a nudge burst hits stays cheap: besides the sign-in check, the catalogue reads
    its frame (budget settings, competencies) and its courses with the budget totals; a
    course page the frame, the course (completed, budget totals), testimonials and my
    budget request."""
    await _many_courses(ctx, world, 20)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    async with signed_in_client(app, world.a.users["employee"].email) as client:
        event.listen(ctx.engine.sync_engine, "before_cursor_execute", count)
        try:
            for params in ({}, {"page": "2", "sort": "short", "hot": "1"}):
                statements.clear()
                page = await client.get("/catalogue", params=params)
                assert page.status_code == 200 and _titles(page.text)
                assert len(statements) <= 3, statements
            statements.clear()
            course = await client.get(f"/catalogue/{world.a.course_id}")
            assert course.status_code == 200 and "Feedback geven (Acme)" in course.text
            assert len(statements) <= 5, statements
        finally:
            event.remove(ctx.engine.sync_engine, "before_cursor_execute", count)
