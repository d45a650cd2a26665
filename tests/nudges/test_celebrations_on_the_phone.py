"""A new level and a streak milestone reach the learner's phone, end to end.

Learning is recorded through the events API, as an LMS does; a push worker (what
``learnloop worker`` runs: the scheduler tick and the senders) plans the nudge into the
outbox and sends it; the local push service (``tests/push/push_service.py``) checks the
VAPID token and decrypts the message with the phone's own keys, as a browser would.
"""

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import Nudge
from backend.push.worker import PushWorker
from backend.settings import Settings
from gamification.nudge_texts import render
from tests.factories import World, signed_in_client
from tests.nudges.test_scheduler import (
    a_week_of_days,
    learning,
    nudgeable_any_time,
    record,
    set_user,
)
from tests.push.push_service import FakeDevice, PushService


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # as in tests/push: the local push service speaks http://
    return dataclasses.replace(
        settings, push_allow_http_endpoints=True, push_timeout_seconds=1.5, push_max_attempts=3
    )


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    service = PushService()
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def subscribe(app: Litestar, email: str, phone: FakeDevice) -> None:
    async with signed_in_client(app, email) as client:
        response = await client.post(
            "/api/v1/me/push-subscriptions", json=phone.subscription_json("Pixel 8")
        )
        assert response.status_code == 201, response.text


async def worker_delivers(
    ctx: AppContext, push_service: PushService, phone: FakeDevice
) -> list[dict[str, Any]]:
    """Run a push worker (its first tick runs at once) until the phone got a message."""
    worker = PushWorker(ctx, senders=1)
    running = asyncio.create_task(worker.run())
    try:
        for _ in range(200):
            if push_service.messages(phone) or running.done():
                break
            await asyncio.sleep(0.05)
    finally:
        worker.stop.set()
        await asyncio.wait_for(running, 15)
    return push_service.messages(phone)


async def nudge(ctx: AppContext, nudge_id: str) -> Nudge:
    async with ctx.sessionmaker() as session:
        return (await session.exec(select(Nudge).where(Nudge.id == nudge_id))).one()


async def test_a_new_level_reaches_the_phone_in_english(
    app: Litestar, ctx: AppContext, world: World, push_service: PushService
) -> None:
    sam = world.a.users["employee"]
    assert sam.id
    await nudgeable_any_time(ctx, world.a.id, sam.id, yearly_budget_cents=0)
    await set_user(ctx, sam.id, locale="en")
    phone = push_service.device()
    await subscribe(app, sam.email, phone)

    await record(app, world, [learning(sam.email, "completion", minutes=120)])  # level 2
    [message] = await worker_delivers(ctx, push_service, phone)

    row = await nudge(ctx, message["nudge_id"])
    assert (row.kind, row.dedupe_key, row.status) == ("level_up", "level:2", "sent")
    text = render("level_up", row.variant, "en", {"level": 2})
    assert (message["title"], message["body"], message["lang"], message["url"]) == (
        text.title,
        text.body,
        "en",
        "/progress",
    )


async def test_a_streak_milestone_reaches_the_phone_in_dutch(
    app: Litestar, ctx: AppContext, world: World, push_service: PushService
) -> None:
    sam = world.a.users["employee"]
    assert sam.id
    await nudgeable_any_time(ctx, world.a.id, sam.id, streak_mode="daily", yearly_budget_cents=0)
    await set_user(ctx, sam.id, locale="nl")
    phone = push_service.device()
    await subscribe(app, sam.email, phone)

    await record(app, world, [learning(sam.email, "informal", when) for when in a_week_of_days()])
    [message] = await worker_delivers(ctx, push_service, phone)

    row = await nudge(ctx, message["nudge_id"])
    assert (row.kind, row.dedupe_key, row.status) == ("streak_milestone", "streak:daily:7", "sent")
    text = render("streak_milestone", row.variant, "nl", {"streak": 7, "streak_mode": "daily"})
    assert (message["title"], message["body"], message["lang"], message["url"]) == (
        text.title,
        text.body,
        "nl",
        "/progress",
    )
    assert "7 dagen" in message["title"]
