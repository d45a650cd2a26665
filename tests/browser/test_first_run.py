"""First run, settings and kudos in a real Chromium: the notification opt-in only after the goal
and reminder steps (never a prompt on load), settings that persist, kudos that arrive."""

import re
from datetime import date, timedelta

import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.browser.test_log_moment import watch_console
from tests.browser.test_pwa_shell import service_worker_ready, sign_in
from tests.factories import PASSWORD, World

# counts every permission request a page makes, before any of its own scripts run
COUNT_PERMISSION_REQUESTS = """
window.__permissionRequests = 0;
if ('Notification' in window) {
  const original = Notification.requestPermission.bind(Notification);
  Notification.requestPermission = (...args) => { window.__permissionRequests += 1; return original(...args); };
}
"""


async def permission_requests(page: Page) -> int:
    count: int = await page.evaluate("window.__permissionRequests")
    return count


@pytest.mark.browser
async def test_first_run_asks_for_notifications_only_after_goal_and_reminder_on_a_click(
    browser: BrowserContext, page: Page, live_server: str, world: World
) -> None:
    await page.add_init_script(COUNT_PERMISSION_REQUESTS)
    await sign_in(page, live_server)
    await service_worker_ready(page)
    assert await permission_requests(page) == 0

    await page.get_by_role("link", name="Aan de slag").click()
    await expect(page.get_by_text("Stap 1 van 3")).to_be_visible()
    assert await page.locator("[data-push-toggle]").count() == 0
    await page.locator("label[for=goal-90]").click()
    await page.fill("#reminder-time", "08:15")
    await page.get_by_role("button", name="Volgende").click()

    await expect(page.get_by_text("Stap 2 van 3")).to_be_visible()
    await expect(page.get_by_role("heading", name="Wat Acme je biedt")).to_be_visible()
    assert await page.locator("[data-push-toggle]").count() == 0
    await page.get_by_role("link", name="Volgende").click()

    await expect(page.get_by_text("Stap 3 van 3")).to_be_visible()
    toggle = page.get_by_role("button", name="Meldingen aanzetten")
    await expect(toggle).to_be_visible()
    assert await permission_requests(page) == 0  # shown, explained, not asked
    assert await page.evaluate("Notification.permission") == "default"

    await browser.grant_permissions(["notifications"], origin=live_server)
    async with page.expect_request("**/api/v1/push/public-key"):
        await toggle.click()
    assert await permission_requests(page) == 1
    # whatever the push service says, the page answers calmly and stays usable
    status = page.locator("[data-push-status]")
    await expect(status).to_have_text(
        re.compile("Meldingen staan aan op dit apparaat|Meldingen konden nu niet worden aangezet"),
        timeout=20_000,
    )
    await page.get_by_role("button", name="Afronden").click()
    await expect(page.locator("h1.greeting")).to_contain_text("Sam")
    await expect(page.get_by_text("Nieuw hier?")).to_have_count(0)
    assert "08:15" in await page.evaluate(
        "fetch('/api/v1/me').then(r => r.json()).then(me => me.reminder_time)"
    )


@pytest.mark.browser
async def test_settings_changes_persist_after_a_reload(
    browser: BrowserContext, page: Page, live_server: str, world: World
) -> None:
    errors = watch_console(page)
    await page.add_init_script(COUNT_PERMISSION_REQUESTS)
    await sign_in(page, live_server)
    await page.goto(f"{live_server}/settings")
    assert await permission_requests(page) == 0
    await expect(page.get_by_role("button", name="Meldingen aanzetten")).to_be_visible()

    await page.fill("#reminder-time", "07:30")
    await page.fill("#quiet-start", "22:00")
    await page.fill("#quiet-end", "07:00")
    await page.locator("#reminder-time").press("Enter")
    await expect(page.get_by_text("Opgeslagen.")).to_be_visible()

    await page.locator("#kind-new_course").uncheck()
    await page.locator("#kind-budget").uncheck()
    nudges = page.locator("form", has=page.locator("#kind-budget"))
    await nudges.get_by_role("button", name="Opslaan").click()
    await expect(page.get_by_text("Opgeslagen.")).to_be_visible()

    start = date.today() + timedelta(days=14)
    await page.fill("#pause-start", start.isoformat())
    await page.fill("#pause-end", (start + timedelta(days=2)).isoformat())
    await page.get_by_role("button", name="Pauze plannen").click()
    await expect(page.get_by_text("3 dagen")).to_be_visible()

    await page.reload()
    await expect(page.locator("#reminder-time")).to_have_value("07:30")
    await expect(page.locator("#quiet-start")).to_have_value("22:00")
    await expect(page.locator("#quiet-end")).to_have_value("07:00")
    await expect(page.locator("#kind-budget")).not_to_be_checked()
    await expect(page.locator("#kind-new_course")).not_to_be_checked()
    await expect(page.locator("#kind-kudos")).to_be_checked()
    await expect(page.locator(".pause-row")).to_have_count(1)
    assert await permission_requests(page) == 0
    assert errors == []


@pytest.mark.browser
async def test_kudos_sent_show_on_the_recipients_team_page(
    browser: BrowserContext, page: Page, live_server: str, world: World
) -> None:
    await sign_in(page, live_server)
    await page.goto(f"{live_server}/team")
    await expect(page.get_by_text("Nog geen kudos.")).to_be_visible()
    await page.get_by_role("link", name="Kudos sturen aan een teamgenoot").click()
    await page.select_option("#kudos-to", label="Mia Acme")
    await page.fill("#kudos-message", "Dank voor je hulp met de retro!")
    await page.get_by_role("button", name="Kudos sturen").click()
    await expect(page.get_by_text("Je kudos zijn onderweg.")).to_be_visible()

    await page.get_by_role("button", name="Uitloggen").click()
    await page.fill("#email", world.email("a", "manager"))
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    # a manager starts on their team's page in the console; their own app is a link away
    await expect(page.get_by_role("heading", name="Teamoverzicht")).to_be_visible()
    await page.goto(f"{live_server}/team")
    kudos = page.locator(".kudos-list li")
    await expect(kudos).to_have_count(1)
    await expect(kudos).to_contain_text("Sam Acme")
    await expect(kudos).to_contain_text("Dank voor je hulp met de retro!")
