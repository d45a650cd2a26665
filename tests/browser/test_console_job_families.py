"""On a 320 px phone, L&D says what a job family is expected to learn: the page fits the
screen, axe-core finds nothing, and a checked competency is saved and shown again."""

import pytest
from playwright.async_api import Page, ViewportSize, expect

from backend.context import AppContext
from backend.db.models import User
from tests.browser.test_accessibility import axe_violations
from tests.browser.test_console_badge import sign_in_as
from tests.browser.test_log_moment import watch_console
from tests.factories import World

SMALL_PHONE = ViewportSize(width=320, height=700)


@pytest.mark.browser
async def test_ld_checks_an_expected_competency_on_a_small_phone(
    page: Page, live_server: str, world: World, ctx: AppContext
) -> None:
    async with ctx.sessionmaker() as session:
        sam = await session.get(User, world.a.users["employee"].id)
        assert sam is not None
        sam.job_family = "Klantenservice en verkoop"  # a long name on a narrow screen
        session.add(sam)
        await session.commit()
    errors = watch_console(page)
    await page.set_viewport_size(SMALL_PHONE)
    await sign_in_as(page, live_server, world.email("a", "ld_admin"))
    await page.goto(f"{live_server}/console/people")
    await page.get_by_role("link", name="Functiefamilies").click()
    await expect(page.get_by_role("heading", name="Functiefamilies", level=1)).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 320
    assert await axe_violations(page) == []

    family = page.locator("section.family", has_text="Klantenservice en verkoop")
    await family.get_by_label("Communicatie").check()
    await family.get_by_role("button", name="Opslaan").click()
    await expect(page.get_by_text("Opgeslagen wat er van functiefamilie")).to_be_visible()
    family = page.locator("section.family", has_text="Klantenservice en verkoop")
    await expect(family.get_by_label("Communicatie")).to_be_checked()
    assert errors == []
