"""A nudge in a real Chromium: the push message the worker sends becomes the notification, and
opening it is reported back to the server.

The push message is delivered through Chromium's DevTools protocol
(``ServiceWorker.deliverPushMessage``), carrying exactly the JSON the worker encrypts for a
push service (``backend.push.payload.payload_json`` of the outbox row).
"""

import asyncio
import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import Nudge
from backend.push.payload import PushMessage, payload_json
from tests.browser.test_pwa_shell import service_worker_ready, sign_in
from tests.factories import World


async def queue_nudge(ctx: AppContext, user: Any) -> Nudge:
    async with ctx.sessionmaker() as session:
        nudge = Nudge(
            id=secrets.token_hex(16),
            organisation_id=user.organisation_id,
            user_id=user.id,
            kind="streak_at_risk",
            dedupe_key="browser-test",
            locale="nl",
            title="Je reeks van 4 dagen staat op het spel",
            body="Nog 3 uur: vijf minuten leren is genoeg.",
            url="/log",
            due_at=datetime.now(UTC),
        )
        session.add(nudge)
        await session.commit()
        return nudge


async def registration_id(cdp: Any, scope: str) -> str:
    """The service worker registration's id, from the DevTools ServiceWorker domain."""
    found: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def updated(event: dict[str, Any]) -> None:
        for registration in event["registrations"]:
            if registration["scopeURL"] == scope and not found.done():
                found.set_result(registration["registrationId"])

    cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
    await cdp.send("ServiceWorker.enable")
    return await asyncio.wait_for(found, 10)


@pytest.mark.browser
async def test_a_push_nudge_is_shown_and_opening_it_is_recorded(
    browser: BrowserContext, page: Page, live_server: str, world: World, ctx: AppContext
) -> None:
    await browser.grant_permissions(["notifications"], origin=live_server)
    await sign_in(page, live_server)
    await service_worker_ready(page)
    nudge = await queue_nudge(ctx, world.a.users["employee"])
    message = PushMessage(nudge.id, nudge.kind, nudge.locale, nudge.title, nudge.body, nudge.url)

    cdp = await browser.new_cdp_session(page)
    reg_id = await registration_id(cdp, f"{live_server}/")
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": live_server, "registrationId": reg_id, "data": payload_json(message).decode()},
    )

    notification = None
    for _ in range(100):
        notification = await page.evaluate(
            """async () => {
                const registration = await navigator.serviceWorker.ready;
                const [shown] = await registration.getNotifications();
                return shown ? {
                    title: shown.title, body: shown.body, tag: shown.tag, lang: shown.lang,
                    icon: shown.icon, badge: shown.badge, data: shown.data,
                } : null;
            }"""
        )
        if notification:
            break
        await asyncio.sleep(0.1)
    assert notification, "the push message became a notification"
    assert notification["title"] == "Je reeks van 4 dagen staat op het spel"
    assert notification["body"] == "Nog 3 uur: vijf minuten leren is genoeg."
    assert (notification["tag"], notification["lang"]) == ("streak_at_risk", "nl")
    assert notification["icon"].endswith("/static/icons/icon-192.png")
    assert notification["badge"].endswith("/static/icons/badge-96.png")
    assert notification["data"] == {"url": "/log", "nudge_id": nudge.id}
    badge = await page.request.get(notification["badge"])
    assert badge.ok and badge.headers["content-type"] == "image/png"

    # Headless Chromium has no notification to tap: dispatch the click in the service worker
    # itself, so its real notificationclick handler runs (close, report, open the app).
    (worker,) = browser.service_workers
    await worker.evaluate(
        """async () => {
            const [notification] = await self.registration.getNotifications();
            self.dispatchEvent(new NotificationEvent("notificationclick", { notification }));
        }"""
    )
    clicked_at = None
    for _ in range(100):
        async with ctx.sessionmaker() as session:
            row = (await session.exec(select(Nudge).where(Nudge.id == nudge.id))).one()
        if row.clicked_at is not None:
            clicked_at = row.clicked_at
            break
        await asyncio.sleep(0.05)
    assert clicked_at is not None, "the service worker reported the click"
    remaining = await page.evaluate(
        "navigator.serviceWorker.ready.then(async (r) => (await r.getNotifications()).length)"
    )
    assert remaining == 0, "the notification was closed"
