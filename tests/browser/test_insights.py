"""Insights in a real Chromium: the charts render without console errors (a laptop screenshot
for the README with LEARNLOOP_SCREENSHOTS set), and the leadership summary prints to one A4
page with its five numbers."""

import io
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from playwright.async_api import Page, expect
from pypdf import PdfReader
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import Competency, Course, CourseCompetency, TrainingRequest, User
from backend.insights.leadership import MEASURES
from pwa.i18n import gettext, set_locale
from tests.browser.test_console_badge import LAPTOP, sign_in_as
from tests.browser.test_log_moment import watch_console
from tests.console.test_challenges import _challenge as organisation_challenge
from tests.console.test_insights_pages import crowd
from tests.factories import World

DOCS = Path(__file__).resolve().parents[2] / "docs"


COMPETENCIES = ("Klantgesprekken", "Data & AI", "Veiligheid", "Duurzaamheid")


async def _courses(ctx: AppContext, world: World) -> list[int]:
    """Acme's courses: the feedback course and one per competency, for two job families."""
    ids = [world.a.course_id]
    async with ctx.sessionmaker() as session:
        for n, name in enumerate(COMPETENCIES):
            competency = Competency(organisation_id=world.a.id, name=name)
            course = Course(
                organisation_id=world.a.id,
                title=f"{name} in de praktijk",
                duration_minutes=40,
                job_family="Support" if n % 2 else "Sales",
            )
            session.add_all([competency, course])
            await session.flush()
            assert competency.id and course.id
            session.add(
                CourseCompetency(
                    course_id=course.id, competency_id=competency.id, organisation_id=world.a.id
                )
            )
            ids.append(course.id)
        await session.commit()
    return ids


async def a_quarter_of_learning(
    ctx: AppContext, world: World, client: AsyncTestClient[Litestar]
) -> None:
    """Acme's support team of fourteen learning for twelve weeks, more as the weeks go by:
    moments on a few days a week and a course now and then (one batch of events)."""
    people = ["sam@example.com", *await crowd(ctx, world, 13)]
    courses = await _courses(ctx, world)
    await organisation_challenge(ctx, world, -20, 6, "informal", 8)
    async with ctx.sessionmaker() as session:
        rows = await session.exec(select(User).where(col(User.email).in_(people)))
        for n, user in enumerate(rows.all()):
            user.job_family = "Support" if len(user.email) % 2 else "Sales"
            session.add(user)
            if n % 3 != 2:  # two in three had a course approved from their budget
                assert user.id is not None
                session.add(
                    TrainingRequest(
                        organisation_id=world.a.id,
                        user_id=user.id,
                        course_id=courses[n % len(courses)],
                        cost_cents=45_000 + 5_000 * (n % 4),
                        status="approved",
                    )
                )
        await session.commit()
    now = datetime.now(UTC)
    events: list[dict[str, object]] = []
    for week in range(12):
        for n, email in enumerate(people):
            if (week * 5 + n * 3) % 11 < 2 + week // 3:
                continue  # fewer people learned in the earlier weeks
            days = 1 + (n + week) % 3  # one to three days of the week
            for day in range(days):
                when = now - timedelta(weeks=week, days=day, hours=1 + n % 5)
                minutes = 10 + 5 * ((week + n + day) % 4)
                events.append({"kind": "informal", "minutes": minutes} | _at(email, when))
            if (week + n) % 3 != 1:
                course = courses[(week + n) % len(courses)]
                completion = {"kind": "completion", "minutes": 40, "course": {"id": course}}
                events.append(completion | _at(email, now - timedelta(weeks=week, hours=9)))
    response = await client.post(
        "/api/v1/events", json=events, headers={"Authorization": f"Bearer {world.a.api_key}"}
    )
    assert response.status_code == 200, response.text


def _at(email: str, when: datetime) -> dict[str, object]:
    return {"id": f"e-{uuid.uuid4()}", "learner": {"email": email}, "occurred_at": when.isoformat()}


@pytest.mark.browser
async def test_the_insights_page_draws_its_charts_without_console_errors(
    page: Page, live_server: str, world: World, ctx: AppContext, client: AsyncTestClient[Litestar]
) -> None:
    await a_quarter_of_learning(ctx, world, client)
    errors = watch_console(page)
    await page.set_viewport_size(LAPTOP)
    await sign_in_as(page, live_server, world.email("a", "ld_admin"))
    await page.goto(f"{live_server}/console/insights?team={world.a.team_id}&lang=en")
    await expect(page.get_by_role("heading", name="Insights", level=1)).to_be_visible()
    charts = page.locator("svg.chart-wide")
    assert await charts.count() >= 6
    for index in range(await charts.count()):
        await expect(charts.nth(index)).to_be_visible()  # the laptop's drawing, not the phone's
        box = await charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 60
    assert await page.locator("svg.chart-compact:visible").count() == 0
    # the table of a chart opens, and its CSV link names the same filter
    card = page.locator("#insight-weekly_active")
    await card.get_by_text("Show as a table").click()
    await expect(card.locator("table tbody tr")).to_have_count(12)
    csv_link = card.get_by_role("link", name="Download CSV")
    assert await csv_link.get_attribute("href") == (
        f"/console/insights/weekly_active.csv?team={world.a.team_id}&period=12w"
    )
    # the custom period shows its date fields (the page's module script)
    await page.get_by_label("Period").select_option("custom")
    await expect(page.get_by_label("From")).to_be_visible()
    assert errors == []
    if os.environ.get("LEARNLOOP_SCREENSHOTS"):
        await page.reload()
        await page.screenshot(path=str(DOCS / "console-insights.png"), full_page=True)
    # the filter form round trip: the whole organisation over the last four weeks
    await page.get_by_label("Team", exact=True).select_option("")
    await page.get_by_label("Period").select_option("4w")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator(".insights-scope")).to_contain_text("Acme")
    assert "period=4w" in page.url
    await expect(page.locator("#insight-weekly_active table tbody tr")).to_have_count(4)
    assert errors == []


@pytest.mark.browser
async def test_the_leadership_summary_prints_on_one_a4_page_with_its_five_numbers(
    page: Page, live_server: str, world: World, ctx: AppContext, client: AsyncTestClient[Litestar]
) -> None:
    await a_quarter_of_learning(ctx, world, client)
    errors = watch_console(page)
    await page.set_viewport_size(LAPTOP)
    await sign_in_as(page, live_server, world.email("a", "ld_admin"))
    await page.goto(f"{live_server}/console/insights/summary?team={world.a.team_id}")
    await expect(page.get_by_role("button", name="Printen / als pdf bewaren")).to_be_visible()
    pdf = await page.pdf(format="A4", print_background=True)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    text = " ".join((reader.pages[0].extract_text() or "").split())
    set_locale("nl")
    for measure in MEASURES:
        assert gettext(measure.label) in text
    assert "Acme Support" in text
    for hidden in ("Uitloggen", "Printen / als pdf bewaren", "Toon"):  # no menu, buttons or form
        assert hidden not in text
    assert errors == []
