"""An L&D admin adds a nudge text in the console and sends it to themself: the push worker of
the running app delivers it through a Web Push service, which decrypts exactly that text.

The push service is the local one of ``tests/push/push_service.py`` (it checks the VAPID token
and decrypts with the device's own keys, as a browser would); the admin's device is one of
its fake devices, subscribed through the app's own API.
"""

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from playwright.async_api import BrowserContext, Page, expect
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import Nudge
from backend.settings import Settings
from tests.browser.test_console_badge import LAPTOP, TABLET, sign_in_as
from tests.browser.test_log_moment import watch_console
from tests.browser.test_pwa_shell import screenshot
from tests.factories import World, signed_in_client
from tests.push.push_service import PushService


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # the app runs its push worker in process, as `learnloop serve` does on one machine
    return dataclasses.replace(
        settings, push_in_process=True, push_allow_http_endpoints=True, push_timeout_seconds=5.0
    )


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    service = PushService()
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def delivered(service: PushService, device: Any, seconds: float = 20.0) -> list[Any]:
    for _ in range(int(seconds * 10)):
        messages = service.messages(device)
        if messages:
            return messages
        await asyncio.sleep(0.1)
    return []


@pytest.mark.browser
async def test_a_text_added_in_the_console_arrives_decrypted_on_the_admins_phone(
    browser: BrowserContext, page: Page, live_server: str, app: Litestar, world: World,
    ctx: AppContext, push_service: PushService, tmp_path: Path,
) -> None:  # fmt: skip
    errors = watch_console(page)
    lou = world.a.users["ld_admin"]
    phone = push_service.device()
    async with signed_in_client(app, lou.email) as client:
        subscribed = await client.post(
            "/api/v1/me/push-subscriptions", json=phone.subscription_json("Lou's phone")
        )
        assert subscribed.status_code == 201, subscribed.text

    await page.set_viewport_size(LAPTOP)
    await sign_in_as(page, live_server, lou.email)
    await page.goto(f"{live_server}/console/nudges/texts?kind=kudos_received")
    await page.get_by_role("link", name="Tekst toevoegen").first.click()
    await expect(
        page.get_by_role("heading", name="Tekst voor een duwtje toevoegen", level=1)
    ).to_be_visible()
    await expect(page.locator("[data-placeholders]")).to_contain_text("{colleague}")
    await page.get_by_label("Taal").select_option("en")  # an English text
    # a placeholder the kind does not have is refused, naming it
    await page.locator("#f-title").fill("High five, {name}!")
    await page.locator("#f-body").fill("{colleague} says thanks for what you shared.")
    await page.get_by_role("button", name="Tekst toevoegen").click()
    await expect(page.locator("#f-title-error")).to_contain_text(
        "{name} is geen invulveld van deze soort"
    )
    await page.locator("#f-title").fill("High five from {colleague}!")
    await page.get_by_role("button", name="Tekst toevoegen").click()
    await expect(page.locator(".notice-success")).to_contain_text("Tekst toegevoegd")
    await expect(page.locator(".push-preview")).to_contain_text("High five from Sam!")
    variant = page.url.rstrip("/").split("/")[-1].split("?")[0]
    assert variant.startswith("v")

    await page.get_by_role("button", name="Stuur dit duwtje naar mij").click()
    await expect(page.locator(".notice-success")).to_contain_text("Onderweg naar je apparaten (1)")

    (message,) = await delivered(push_service, phone)
    assert (message["title"], message["body"]) == (
        "High five from Sam!",
        "Sam says thanks for what you shared.",
    )
    assert (message["tag"], message["lang"], message["url"]) == ("kudos_received", "en", "/")
    # the worker records the delivery right after the push service answered it
    for _ in range(100):
        async with ctx.sessionmaker() as session:
            query = select(Nudge).where(Nudge.id == message["nudge_id"])
            nudge = (await session.exec(query)).one()
        if nudge.status != "pending":
            break
        await asyncio.sleep(0.1)
    assert (nudge.user_id, nudge.variant, nudge.status) == (lou.id, variant, "sent")

    # the pages as L&D sees them, in both languages, on a laptop and a tablet
    shots = (
        ("/console/nudges", "console-nudges-rules"),
        ("/console/nudges/texts", "console-nudges-texts"),
        (f"/console/nudges/texts/kudos_received/en/{variant}", "console-nudges-variant"),
    )
    for size, width in ((LAPTOP, 1280), (TABLET, 800)):
        await page.set_viewport_size(size)
        for language in ("nl", "en"):
            for path, name in shots:
                await page.goto(f"{live_server}{path}?lang={language}")
                await screenshot(page, f"{name}-{language}-{width}", tmp_path)
    # the form with the unknown placeholder answered 400, on purpose; nothing else failed
    assert [e for e in errors if "status of 400" not in e] == []
    assert len(errors) == 1
