"""Inviting a colleague from the console: the mail arrives through a real SMTP server on
127.0.0.1 (aiosmtpd), the browser opens its link, sets a password and is signed in."""

import asyncio
import dataclasses
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.async_api import Page, expect

from backend.settings import Settings
from tests.browser.test_pwa_shell import screenshot
from tests.factories import PASSWORD, World
from tests.mailbox import Mailbox, smtp_mailbox

__all__ = ["smtp_mailbox"]  # the fixture this module uses


@pytest.fixture
def settings(database_url: str, smtp_mailbox: Mailbox) -> Settings:
    """The live server's settings: the test settings with mail going to ``smtp_mailbox``."""
    from backend.auth.passwords import TEST_HASH_COST

    base = Settings(
        database_url=database_url,
        secret_key="test-secret-" + "x" * 40,
        env="test",
        password_cost=TEST_HASH_COST,
        login_attempts_per_window=5,
    )
    return dataclasses.replace(
        base,
        smtp_host="127.0.0.1",
        smtp_port=smtp_mailbox.port,  # type: ignore[attr-defined]
        smtp_starttls=False,
        smtp_from="learnloop <learnloop@acme.example>",
    )


@pytest.mark.browser
async def test_an_admin_invites_a_colleague_who_signs_in_through_the_mailed_link(
    page: Page, live_server: str, world: World, smtp_mailbox: Mailbox, tmp_path: Path
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.set_viewport_size({"width": 1280, "height": 900})

    # the L&D admin signs in and lands in the console
    await page.goto(f"{live_server}/login?lang=en")
    await page.get_by_label("Work e-mail").fill("ld@acme.example")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{live_server}/console")

    await page.goto(f"{live_server}/console/people/new?lang=en")
    await page.get_by_label("Name").fill("Noor Bakker")
    await page.get_by_label("Work e-mail").fill("noor@acme.example")
    await page.get_by_label("Team").select_option(label="Acme Support")
    await page.get_by_label("Language").select_option(label="English")
    await expect(page.get_by_label("Send an invitation now")).to_be_checked()
    await page.get_by_role("button", name="Add person").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Noor Bakker")
    # Lou reads the console in Dutch (her own language) after the redirect
    await expect(page.get_by_role("status")).to_contain_text("noor@acme.example")
    await expect(page.locator("#person-link")).to_have_count(0)  # mailed, so no link shown
    await screenshot(page, "console-person-invited-1280", tmp_path)

    (mail,) = await asyncio.to_thread(smtp_mailbox.wait_for, 1)
    assert smtp_mailbox.recipients == [["noor@acme.example"]]
    assert mail["Subject"] == "You are invited to learnloop at Acme"
    link = Mailbox.link(mail)

    # Noor opens the link on her own device (a fresh session)
    await page.context.clear_cookies()
    await page.goto(live_server + urlparse(link).path)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Noor!")
    await page.get_by_label("New password").fill("noor's own passphrase")
    await page.get_by_label("The same password again").fill("noor's own passphrase")
    await page.get_by_role("button", name="Save and sign in").click()
    await expect(page).to_have_url(f"{live_server}/")
    await expect(page.locator("body")).to_contain_text("Noor")
    assert "page-login" not in (await page.locator("body").get_attribute("class") or "")

    # the link was spent
    await page.goto(live_server + urlparse(link).path)
    await expect(page.get_by_role("heading", level=1)).to_have_text("This link no longer works")
    assert errors == []
