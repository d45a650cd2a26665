"""The learner app's frame on the narrowest phone: no page is wider than the screen."""

import pytest
from playwright.async_api import Page, expect

from tests.browser.test_pwa_shell import sign_in
from tests.factories import World

# a long Dutch compound, as learners type them: it must wrap, not widen the page
LONG_TITLE = "Toekomstbestendigheidsvraagstukkenonderzoek"


@pytest.mark.browser
async def test_every_learner_page_fits_a_320_px_phone_in_dutch(
    page: Page, live_server: str, world: World
) -> None:
    await page.set_viewport_size({"width": 320, "height": 640})
    await sign_in(page, live_server)
    status = await page.evaluate(
        """async (title) => {
            const token = document.cookie.match(/learnloop_csrf=([^;]*)/)[1];
            const response = await fetch('/api/v1/me/moments', {
              method: 'POST',
              headers: {'content-type': 'application/json', 'x-csrf-token': token},
              body: JSON.stringify({client_id: crypto.randomUUID(), what: title, minutes: 15}),
            });
            return response.status;
        }""",
        LONG_TITLE,
    )
    assert status == 201
    pages = [
        "/",
        "/catalogue",
        f"/catalogue/{world.a.course_id}",
        "/log",
        "/progress",
        "/goals",
        "/team",
        "/settings",
        "/catalogue/budget",
        "/team/kudos",
        "/welcome",
    ]
    too_wide = {}
    for path in pages:
        response = await page.goto(f"{live_server}{path}")
        assert response is not None and response.status == 200, path
        await expect(page.locator("html")).to_have_attribute("lang", "nl")
        width = await page.evaluate("document.scrollingElement.scrollWidth")
        if width > 320:
            too_wide[path] = width
    assert too_wide == {}, "pages wider than the 320 px screen"
    # Today's header keeps settings and signing out on screen, and the tab bar in view
    await page.goto(f"{live_server}/")
    await expect(page.get_by_role("button", name="Uitloggen")).to_be_in_viewport()
    await expect(page.get_by_role("link", name="Instellingen").first).to_be_in_viewport()
    await expect(page.get_by_role("navigation", name="Hoofdnavigatie")).to_be_in_viewport()
