"""The catalogue in a phone's browser: "more" appends in place and the address keeps up."""

import pytest
from playwright.async_api import Page, expect

from backend.context import AppContext
from backend.db.models import Course
from tests.browser.test_pwa_shell import sign_in
from tests.factories import World


@pytest.mark.browser
async def test_more_appends_the_next_courses_and_a_reload_keeps_them(
    page: Page, live_server: str, ctx: AppContext, world: World
) -> None:
    async with ctx.sessionmaker() as session:
        session.add_all(
            Course(organisation_id=world.a.id, title=f"Cursus {n:02d}", duration_minutes=n)
            for n in range(1, 20)
        )
        await session.commit()
    await page.set_viewport_size({"width": 320, "height": 640})
    await sign_in(page, live_server)
    await page.goto(f"{live_server}/catalogue?sort=short")
    cards = page.locator(".course-list > li")
    await expect(cards).to_have_count(12)
    assert await page.evaluate("document.scrollingElement.scrollWidth") <= 320

    await page.get_by_role("link", name="Meer cursussen tonen").click()
    await expect(cards).to_have_count(20)
    await expect(page).to_have_url(f"{live_server}/catalogue?sort=short&page=2")
    await expect(page.get_by_role("link", name="Cursus 13 ›")).to_be_focused()
    await expect(page.get_by_text("20 van 20 getoond")).to_be_visible()
    await expect(page.get_by_role("link", name="Meer cursussen tonen")).to_have_count(0)

    await page.reload()
    await expect(cards).to_have_count(20)
    # picking another order applies it at once (its button is for browsers without JS)
    await expect(page.get_by_role("button", name="Sorteren")).to_be_hidden()
    await page.get_by_label("Volgorde").select_option("title")
    await expect(page).to_have_url(f"{live_server}/catalogue?sort=title")
    await expect(cards.first).to_contain_text("Cursus 01")
