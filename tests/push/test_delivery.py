"""Nudges reach the learner's devices through a real push service protocol, or fail visibly.

The push service is the local one of ``push_service.py``: it verifies the VAPID token and
decrypts every message with the device's own keys, as a browser would.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import Nudge, PushDelivery, PushSubscription
from backend.push.keys import load_vapid_key
from backend.push.model import DeliveryReport
from backend.push.sender import PushSender
from backend.push.vapid import VapidHeaderCache
from tests.factories import World, signed_in_client
from tests.push.conftest import deliver_due, queue_nudge
from tests.push.push_service import FakeDevice, PushService


@pytest.fixture
async def sender(ctx: AppContext) -> AsyncIterator[PushSender]:
    vapid = VapidHeaderCache(load_vapid_key(ctx.settings))
    async with PushSender(vapid, timeout=ctx.settings.push_timeout_seconds) as push_sender:
        yield push_sender


async def subscribe(app: Litestar, email: str, *devices: FakeDevice) -> None:
    async with signed_in_client(app, email) as client:
        for device in devices:
            response = await client.post(
                "/api/v1/me/push-subscriptions", json=device.subscription_json("Pixel 8")
            )
            assert response.status_code == 201, response.text


async def deliver(ctx: AppContext, sender: PushSender, now: datetime) -> DeliveryReport:
    return await deliver_due(ctx.engine, sender, now, max_attempts=ctx.settings.push_max_attempts)


async def nudge_row(ctx: AppContext, nudge_id: str) -> Nudge:
    async with ctx.sessionmaker() as session:
        return (await session.exec(select(Nudge).where(Nudge.id == nudge_id))).one()


async def devices_of(ctx: AppContext, user_id: int) -> list[PushSubscription]:
    async with ctx.sessionmaker() as session:
        query = select(PushSubscription).where(PushSubscription.user_id == user_id)
        return list((await session.exec(query)).all())


async def deliveries(ctx: AppContext, nudge_id: str) -> list[PushDelivery]:
    async with ctx.sessionmaker() as session:
        query = select(PushDelivery).where(PushDelivery.nudge_id == nudge_id)
        return list((await session.exec(query.order_by(col(PushDelivery.id)))).all())


async def test_nudge_arrives_encrypted_in_the_learners_language_with_a_valid_vapid_token(
    app: Litestar, ctx: AppContext, world: World, push_service: PushService, sender: PushSender
) -> None:
    sam = world.a.users["employee"]
    phone = push_service.device()
    await subscribe(app, sam.email, phone)
    nudge_id = await queue_nudge(
        ctx, sam, kind="streak_at_risk", title="Je reeks staat op het spel", body="Nog 3 uur."
    )

    report = await deliver(ctx, sender, datetime.now(UTC))

    assert report.sent == 1 and report.nudges_sent == 1
    assert push_service.messages(phone) == [
        {
            "nudge_id": nudge_id,
            "title": "Je reeks staat op het spel",
            "body": "Nog 3 uur.",
            "url": "/log",
            "icon": "/static/icons/icon-192.png",
            "badge": "/static/icons/badge-96.png",
            "tag": "streak_at_risk",
            "lang": "nl",
        }
    ]
    (received,) = push_service.received
    assert received.claims["aud"] == push_service.origin
    assert received.claims["sub"].startswith("mailto:")
    assert received.claims["k"] == load_vapid_key(ctx.settings).public_key_b64
    assert received.headers["Urgency"] == "high"  # a streak about to break
    assert received.headers["Topic"] == "streak_at_risk"
    assert 0 < int(received.headers["TTL"]) <= 12 * 3600
    row = await nudge_row(ctx, nudge_id)
    assert row.status == "sent" and row.sent_at is not None and row.claimed_until is None
    (device,) = await devices_of(ctx, sam.id or 0)
    assert device.last_success_at is not None and device.failure_count == 0
    assert [d.subscription_id for d in await deliveries(ctx, nudge_id)] == [device.id]


async def test_english_learner_gets_english_and_each_device_once(
    app: Litestar, ctx: AppContext, world: World, push_service: PushService, sender: PushSender
) -> None:
    lou = world.a.users["ld_admin"]
    phone, laptop = push_service.device(), push_service.device()
    await subscribe(app, lou.email, phone, laptop)
    nudge_id = await queue_nudge(
        ctx, lou, kind="badge_earned", title="New badge", body="You earned Finisher.", locale="en"
    )
    await deliver(ctx, sender, datetime.now(UTC))
    await deliver(ctx, sender, datetime.now(UTC) + timedelta(hours=1))  # nothing left to do
    for device in (phone, laptop):
        (message,) = push_service.messages(device)
        assert (message["title"], message["body"], message["lang"]) == (
            "New badge",
            "You earned Finisher.",
            "en",
        )
        assert message["nudge_id"] == nudge_id
    assert push_service.received[0].headers["Urgency"] == "normal"


@pytest.mark.parametrize("status", [404, 410])
async def test_a_device_the_push_service_no_longer_knows_is_removed(
    app: Litestar,
    ctx: AppContext,
    world: World,
    push_service: PushService,
    sender: PushSender,
    status: int,
) -> None:
    sam = world.a.users["employee"]
    old_phone, new_phone = push_service.device(), push_service.device()
    await subscribe(app, sam.email, old_phone, new_phone)
    push_service.answer(old_phone, status)
    nudge_id = await queue_nudge(ctx, sam)

    report = await deliver(ctx, sender, datetime.now(UTC))

    assert report.gone == 1
    assert [d.endpoint for d in await devices_of(ctx, sam.id or 0)] == [new_phone.endpoint]
    assert len(push_service.messages(new_phone)) == 1
    assert (await nudge_row(ctx, nudge_id)).status == "sent"
    async with signed_in_client(app, sam.email) as client:
        listed = (await client.get("/api/v1/me/push-subscriptions")).json()
        assert [d["endpoint"] for d in listed] == [new_phone.endpoint]


async def test_only_device_gone_means_skipped(
    app: Litestar, ctx: AppContext, world: World, push_service: PushService, sender: PushSender
) -> None:
    sam = world.a.users["employee"]
    phone = push_service.device()
    await subscribe(app, sam.email, phone)
    push_service.answer(phone, 410)
    nudge_id = await queue_nudge(ctx, sam)
    await deliver(ctx, sender, datetime.now(UTC))
    row = await nudge_row(ctx, nudge_id)
    assert row.status == "skipped" and "unsubscribed" in row.last_error
    assert await devices_of(ctx, sam.id or 0) == []


async def test_learner_without_a_device_is_skipped(
    ctx: AppContext, world: World, push_service: PushService, sender: PushSender
) -> None:
    nudge_id = await queue_nudge(ctx, world.a.users["manager"])
    report = await deliver(ctx, sender, datetime.now(UTC))
    assert report.skipped == 1
    row = await nudge_row(ctx, nudge_id)
    assert row.status == "skipped" and row.last_error == "no device subscribed to push"
    assert push_service.requests.total() == 0


async def test_429_waits_for_retry_after_before_trying_again(
    app: Litestar, ctx: AppContext, world: World, push_service: PushService, sender: PushSender
) -> None:
    sam = world.a.users["employee"]
    phone = push_service.device()
    await subscribe(app, sam.email, phone)
    push_service.answer(phone, (429, {"Retry-After": "120"}))
    nudge_id = await queue_nudge(ctx, sam)
    start = datetime.now(UTC)

    await deliver(ctx, sender, start)
    row = await nudge_row(ctx, nudge_id)
    assert row.status == "pending" and row.attempts == 0  # waiting is not failing
    assert timedelta(seconds=119) <= row.due_at - start <= timedelta(seconds=121)

    early = await deliver(ctx, sender, start + timedelta(seconds=60))
    assert early.claimed == 0 and push_service.requests[phone.token] == 1

    await deliver(ctx, sender, start + timedelta(seconds=121))
    assert push_service.requests[phone.token] == 2
    assert len(push_service.messages(phone)) == 1
    assert (await nudge_row(ctx, nudge_id)).status == "sent"


async def test_500_then_success_delivers_exactly_once_per_device(
    app: Litestar, ctx: AppContext, world: World, push_service: PushService, sender: PushSender
) -> None:
    sam = world.a.users["employee"]
    phone, tablet = push_service.device(), push_service.device()
    await subscribe(app, sam.email, phone, tablet)
    push_service.answer(tablet, 500)
    nudge_id = await queue_nudge(ctx, sam)
    start = datetime.now(UTC)

    first = await deliver(ctx, sender, start)
    assert first.retried == 1
    row = await nudge_row(ctx, nudge_id)
    assert row.status == "pending" and row.attempts == 1 and "500" in row.last_error
    # backoff: at least half of 30 s, at most 30 s
    assert timedelta(seconds=15) <= row.due_at - start <= timedelta(seconds=31)
    tablet_row = next(
        d for d in await devices_of(ctx, sam.id or 0) if d.endpoint == tablet.endpoint
    )
    assert tablet_row.failure_count == 1

    await deliver(ctx, sender, start + timedelta(minutes=5))

    assert len(push_service.messages(phone)) == 1  # not sent again: its delivery was recorded
    assert len(push_service.messages(tablet)) == 1
    assert push_service.requests[tablet.token] == 2
    assert len(await deliveries(ctx, nudge_id)) == 2
    assert (await nudge_row(ctx, nudge_id)).status == "sent"


async def test_timeouts_are_retried_then_the_nudge_is_dead_with_the_reason(
    app: Litestar, ctx: AppContext, world: World, push_service: PushService, sender: PushSender
) -> None:
    sam = world.a.users["employee"]
    phone = push_service.device()
    await subscribe(app, sam.email, phone)
    push_service.answer(phone, "timeout", "timeout", "timeout")
    nudge_id = await queue_nudge(ctx, sam)
    now = datetime.now(UTC)

    for attempt in range(1, ctx.settings.push_max_attempts + 1):
        report = await deliver(ctx, sender, now)
        row = await nudge_row(ctx, nudge_id)
        assert row.attempts == attempt and "timed out" in row.last_error
        now += timedelta(hours=2)  # past any backoff

    assert report.dead == 1
    assert row.status == "dead" and row.last_error.startswith("gave up after 3 attempts")
    assert push_service.requests[phone.token] == 3
    assert push_service.messages(phone) == []
    assert (await deliver(ctx, sender, now + timedelta(days=1))).claimed == 0


async def test_a_rejected_message_is_dead_with_the_push_services_words(
    app: Litestar, ctx: AppContext, world: World, push_service: PushService, sender: PushSender
) -> None:
    sam = world.a.users["employee"]
    phone = push_service.device()
    await subscribe(app, sam.email, phone)
    push_service.answer(phone, 413)
    nudge_id = await queue_nudge(ctx, sam)
    await deliver(ctx, sender, datetime.now(UTC))
    row = await nudge_row(ctx, nudge_id)
    assert row.status == "dead" and "413" in row.last_error


def test_vapid_headers_are_signed_once_per_origin_and_renewed_before_expiry() -> None:
    from backend.push.keys import load_vapid_key
    from backend.settings import Settings

    clock = [1_000_000.0]
    cache = VapidHeaderCache(
        load_vapid_key(
            Settings(secret_key="s" * 48, env="test", database_url="postgresql+asyncpg://h/db")
        ),
        clock=lambda: clock[0],
    )
    first = cache.headers_for("https://fcm.googleapis.com/fcm/send/abc")
    assert cache.headers_for("https://fcm.googleapis.com/fcm/send/other") == first
    cache.headers_for("https://updates.push.services.mozilla.com/wpush/v2/x")
    assert cache.signed == 2
    clock[0] += 10 * 3600  # 2 h before the 12 h expiry: still reused
    assert cache.headers_for("https://fcm.googleapis.com/fcm/send/abc") == first
    clock[0] += 1.5 * 3600  # within the last hour: re-signed
    renewed = cache.headers_for("https://fcm.googleapis.com/fcm/send/abc")
    assert renewed != first and cache.signed == 3


def test_retry_after_may_be_seconds_or_an_http_date() -> None:
    from email.utils import format_datetime

    from backend.push.sender import DEFAULT_RETRY_AFTER_SECONDS, retry_after_seconds

    now = 1_800_000_000.0
    in_two_minutes = format_datetime(datetime.fromtimestamp(now + 120, UTC), usegmt=True)
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds(in_two_minutes, now) == 120
    assert retry_after_seconds("soon", now) == DEFAULT_RETRY_AFTER_SECONDS
    assert retry_after_seconds(None, now) == DEFAULT_RETRY_AFTER_SECONDS
