"""Setting a goal on the narrowest phone: only the chosen kind's fields show, the page fits
the screen, and axe finds nothing on the goals page in Dutch or English."""

from datetime import date, timedelta

import pytest
from playwright.async_api import Page, expect

from tests.browser.test_accessibility import axe_violations
from tests.browser.test_pwa_shell import sign_in
from tests.factories import World


@pytest.mark.browser
async def test_a_learner_sets_a_goal_of_courses_on_a_320_px_phone(
    page: Page, live_server: str, world: World
) -> None:
    await page.set_viewport_size({"width": 320, "height": 640})
    await sign_in(page, live_server)
    await page.goto(f"{live_server}/goals")
    await expect(page.get_by_text("Nog geen doelen met een datum")).to_be_visible()
    assert await axe_violations(page) == []

    await page.get_by_label("Cursussen afronden").check()
    # the competency's fields step aside for the courses
    await expect(page.get_by_label("Competentie", exact=True)).to_be_hidden()
    await page.get_by_label("Feedback geven (Acme)").check()
    due = (date.today() + timedelta(days=20)).isoformat()
    await page.fill("#new-due", due)
    await page.get_by_role("button", name="Doel instellen").click()

    await expect(page.get_by_role("status")).to_contain_text("Je doel staat. Succes!")
    goal = page.locator(".goal-card")
    await expect(goal.get_by_role("heading")).to_have_text("1 cursus afronden")
    await expect(goal).to_contain_text("Je ligt op schema.")
    assert await page.evaluate("document.scrollingElement.scrollWidth") <= 320
    await goal.get_by_text("Aanpassen").click()
    assert await axe_violations(page) == []

    await page.goto(f"{live_server}/goals?lang=en")
    await expect(page.get_by_role("heading", name="Your goals")).to_be_visible()
    assert await axe_violations(page) == []
