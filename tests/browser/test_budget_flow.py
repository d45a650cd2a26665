"""A budget request end to end on a phone: the learner asks for a course from the catalogue,
their manager approves it in the console, and the learner sees it approved and what is left."""

import uuid
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, expect

from backend.context import AppContext
from backend.db.models import Course
from tests.browser.test_console_badge import sign_in_as
from tests.browser.test_log_moment import watch_console
from tests.browser.test_pwa_shell import screenshot
from tests.budgets.test_budget_rules import _settings
from tests.factories import World


@pytest.mark.browser
async def test_a_request_approved_by_the_manager_shows_approved_and_what_is_left(
    browser: BrowserContext, page: Page, live_server: str, world: World, ctx: AppContext,
    tmp_path: Path,
) -> None:  # fmt: skip
    await _settings(ctx, world.a.id, yearly_budget_cents=100_000)
    title = f"Onderhandelen {uuid.uuid4().hex[:4]}"
    async with ctx.sessionmaker() as session:
        course = Course(organisation_id=world.a.id, title=title, cost_cents=40_000)
        session.add(course)
        await session.commit()
    errors = watch_console(page)

    await sign_in_as(page, live_server, world.email("a", "employee"))
    await page.goto(f"{live_server}/catalogue/{course.id}")
    await page.get_by_role("button", name="Deze training aanvragen").click()
    await expect(page.get_by_text("wacht op je manager")).to_be_visible()

    await browser.clear_cookies()
    before = len(errors)
    await sign_in_as(page, live_server, world.email("a", "manager"))
    # a manager lands on their team's view: Mia's team of two is below the privacy floor (403)
    del errors[before:]
    await page.goto(f"{live_server}/console/budget")
    request = page.locator(".budget-request", has_text=title)
    await expect(request).to_be_visible()
    await expect(request.get_by_text("€ 1.000,00")).to_be_visible()  # what Sam has left
    await screenshot(page, "console-budget-phone", tmp_path)
    # the card fits the phone's width: nothing to scroll sideways
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await request.get_by_label("Toelichting voor Sam Acme").fill("Veel plezier!")
    await request.get_by_role("button", name="Goedkeuren").click()
    await expect(
        page.get_by_text(f"Goedgekeurd: Sam Acme kan beginnen met {title}.")
    ).to_be_visible()
    await expect(page.get_by_text("Niets te beslissen")).to_be_visible()

    await browser.clear_cookies()
    await sign_in_as(page, live_server, world.email("a", "employee"))
    await page.goto(f"{live_server}/catalogue/budget")
    mine = page.locator("[data-request-stage]", has_text=title)
    await expect(mine.get_by_text("Goedgekeurd", exact=True)).to_be_visible()
    await expect(mine.get_by_text("“Veel plezier!”")).to_be_visible()
    await expect(page.get_by_text("Nog € 600,00 over")).to_be_visible()
    await screenshot(page, "budget-approved-phone", tmp_path)
    assert errors == []
