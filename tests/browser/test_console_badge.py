"""An L&D admin designs a badge in the console; an xAPI statement earns it for a learner."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import BrowserContext, Locator, Page, ViewportSize, expect

from backend.context import AppContext
from tests.browser.test_log_moment import watch_console
from tests.browser.test_pwa_shell import screenshot
from tests.factories import PASSWORD, World

LAPTOP = ViewportSize(width=1280, height=900)
TABLET = ViewportSize(width=800, height=1100)


async def sign_in_as(page: Page, base: str, email: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")


async def _loaded(image: Locator) -> bool:
    """Whether the image loaded and has pixels, once it has finished loading (a visible
    ``img`` may still be on its way on a busy machine)."""
    return bool(
        await image.evaluate(
            """(img) => img.complete ? img.naturalWidth > 0 : new Promise((done) => {
                 img.addEventListener("load", () => done(img.naturalWidth > 0));
                 img.addEventListener("error", () => done(false));
               })"""
        )
    )


async def completed_course(base: str, world: World, email: str) -> None:
    """The LMS reports that ``email`` completed the feedback course (in Communicatie)."""
    statement = {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": f"mailto:{email}"},
        "verb": {
            "id": "http://adlnet.gov/expapi/verbs/completed",
            "display": {"en-US": "completed"},
        },
        "object": {"objectType": "Activity", "id": "https://lms.acme.example/courses/feedback"},
        "result": {"completion": True, "duration": "PT45M"},
        "timestamp": (datetime.now(UTC) - timedelta(minutes=10)).isoformat(),
    }
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post(
            "/xapi/statements",
            json=statement,
            headers={
                "Authorization": f"Bearer {world.a.api_key}",
                "X-Experience-API-Version": "1.0.3",
            },
        )
    assert response.status_code == 200, response.text


@pytest.mark.browser
async def test_a_badge_designed_in_the_console_reaches_a_learner_after_an_xapi_statement(
    browser: BrowserContext, page: Page, live_server: str, world: World, ctx: AppContext,
    tmp_path: Path,
) -> None:  # fmt: skip
    errors = watch_console(page)
    await page.set_viewport_size(LAPTOP)
    await sign_in_as(page, live_server, world.email("a", "ld_admin"))
    await page.goto(f"{live_server}/console/badges")
    await expect(page.get_by_text("Nog geen badges")).to_be_visible()
    await page.get_by_role("link", name="Nieuwe badge").first.click()
    await expect(page.get_by_role("heading", name="Nieuwe badge", level=1)).to_be_visible()
    await page.wait_for_load_state()  # the page's module script is running

    await page.get_by_label("Naam in het Nederlands").fill("Feedbackkampioen")
    await expect(page.locator("[data-preview-name]")).to_have_text("Feedbackkampioen")  # JS
    await page.get_by_label("Naam in het Engels").fill("Feedback champion")
    await page.get_by_label("Beschrijving in het Nederlands").fill("Je vraagt en geeft feedback.")
    await page.get_by_label("De badge beloont").select_option("courses")
    await expect(page.locator("[data-unit-label]")).to_have_text("(trainingen)")
    await page.get_by_label("Alleen binnen competentie").select_option(label="Communicatie")
    await page.get_by_label("Aantal voor niveau 1").fill("1")
    await page.get_by_label("Aantal voor niveau 2").fill("3")
    await page.get_by_label("Naam van niveau 3").fill("")
    await page.get_by_label("Aantal voor niveau 3").fill("")
    # the emblem follows the choices at once (JS), and the Preview button renders it all
    emblem = page.locator("img[data-emblem-preview]")
    await page.locator("label.pick-shape", has_text="Schild").click()
    await page.locator("label.pick-colour", has_text="Roze").click()
    await page.locator("label.pick-icon", has_text="Tekstballon").click()
    await expect(emblem).to_have_attribute(
        "src", "/console/badges/emblem.svg?shape=shield&colour=rose&icon=chat"
    )
    await page.get_by_role("button", name="Voorbeeld", exact=True).click()
    preview = page.locator(".preview")
    await expect(preview).to_contain_text("Feedbackkampioen")
    await expect(preview).to_contain_text("Rond 1 training af binnen Communicatie")
    await expect(preview).to_contain_text("Rond 3 trainingen af binnen Communicatie")
    await expect(preview.locator(".reach-num").first).to_have_text("0 van 3 deelnemers")
    assert await _loaded(emblem)
    await page.evaluate("window.scrollTo(0, 0)")  # the Preview button jumped to the preview
    await screenshot(page, "console-badge-designer-nl-1280", tmp_path)

    await page.get_by_role("button", name="Badge aanmaken").click()
    await expect(page.locator(".notice-success")).to_contain_text(
        "Badge ‘Feedbackkampioen’ aangemaakt."
    )
    await expect(page.get_by_role("heading", name="Feedbackkampioen", level=1)).to_be_visible()
    await expect(page.locator(".notice-error")).to_have_count(0)
    for language, size, name in (
        ("en", LAPTOP, "console-badge-designer-en-1280"),
        ("en", TABLET, "console-badge-designer-en-800"),
        ("nl", TABLET, "console-badge-designer-nl-800"),
    ):
        await page.set_viewport_size(size)
        await page.goto(page.url.split("?")[0] + f"?lang={language}")
        await screenshot(page, name, tmp_path)
    await page.set_viewport_size(LAPTOP)
    await page.goto(f"{live_server}/console/badges?lang=en")
    await expect(page.get_by_role("link", name="Feedback champion")).to_be_visible()
    await screenshot(page, "console-badges-en-1280", tmp_path)

    # the LMS reports Sam's completion; the engine awards bronze on the spot
    await completed_course(live_server, world, "sam@example.com")

    await page.locator("form[action='/logout'] button").click()
    await expect(page.locator("#email")).to_be_visible()
    await page.set_viewport_size(ViewportSize(width=390, height=844))
    await sign_in_as(page, live_server, "sam@example.com")
    await page.goto(f"{live_server}/progress")
    earned = page.locator(".badge-earned", has_text="Feedbackkampioen")
    await expect(earned).to_be_visible()
    await expect(earned).to_contain_text("Brons")
    picture = earned.locator("img.badge-emblem")
    await expect(picture).to_be_visible()
    assert await _loaded(picture)
    await screenshot(page, "progress-new-badge-nl-390", tmp_path)
    assert errors == []
