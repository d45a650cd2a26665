"""A manager sponsors a team challenge in the console on their phone; a team member signs in
and sees it in the app as upcoming, with its start date and the manager's message."""

from datetime import date, timedelta
from pathlib import Path

import pytest
from babel.dates import format_date
from playwright.async_api import BrowserContext, Page, expect

from backend.context import AppContext
from tests.browser.test_console_badge import sign_in_as
from tests.browser.test_log_moment import watch_console
from tests.browser.test_pwa_shell import screenshot
from tests.console.team_world import build_team, org_today
from tests.factories import World


@pytest.mark.browser
async def test_a_sponsored_challenge_shows_up_as_upcoming_for_the_team(
    browser: BrowserContext, page: Page, live_server: str, world: World, ctx: AppContext,
    tmp_path: Path,
) -> None:  # fmt: skip
    team = await build_team(ctx, world, size=5)
    errors = watch_console(page)
    await sign_in_as(page, live_server, team.manager_email)  # a phone: 390 px wide
    await page.goto(f"{live_server}/console/team?team={team.team_id}")
    await expect(page.get_by_role("heading", name="Teamoverzicht", level=1)).to_be_visible()
    await expect(page.get_by_text("Actief deze week")).to_be_visible()
    await screenshot(page, "console-team-phone", tmp_path)

    await page.get_by_role("link", name="Challenge sponsoren").first.click()
    await expect(page.get_by_role("heading", name="Een teamchallenge sponsoren")).to_be_visible()
    await page.wait_for_load_state()  # the page's module script is running
    await page.get_by_label("Titel").fill("Feedbackweken")
    await page.get_by_label("Wat telt").select_option("participation")
    await expect(page.get_by_label("Samen minuten")).to_be_hidden()  # JS: the chosen kind only
    await page.get_by_label("Deel van het team, in procent").fill("80")
    await page.get_by_label("Dagen per week").fill("2")
    await page.get_by_label("Aantal weken").fill("1")
    starts = org_today() + timedelta(days=3)
    await page.get_by_label("Eerste dag").fill(starts.isoformat())
    await page.get_by_label("Laatste dag").fill((starts + timedelta(days=13)).isoformat())
    await page.get_by_label("Belofte aan het team").fill("Taart op vrijdag")
    await page.get_by_label("Bericht aan het team").fill("Laten we van elkaar leren!")
    await screenshot(page, "console-team-sponsor-phone", tmp_path)
    await page.get_by_role("button", name="Sponsoren en het team laten weten").click()
    await expect(page.get_by_text("het team heeft bericht gekregen")).to_be_visible()
    await expect(page.get_by_role("heading", name="Feedbackweken", level=1)).to_be_visible()

    await browser.clear_cookies()
    await sign_in_as(page, live_server, team.member_emails[0])
    await page.goto(f"{live_server}/team")
    card = page.locator(".team-challenge", has_text="Feedbackweken")
    await expect(card).to_be_visible()
    await expect(card.get_by_text("Gepland")).to_be_visible()
    await expect(card.get_by_text(f"Begint op {_words(starts)}")).to_be_visible()
    await expect(card.get_by_text("Laten we van elkaar leren!")).to_be_visible()
    await screenshot(page, "team-upcoming-phone", tmp_path)
    assert errors == []


def _words(day: date) -> str:
    return format_date(day, "EEEE d MMMM", locale="nl")
