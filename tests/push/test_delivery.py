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
from backend.push.sender import PushSender
from backend.push.vapid import VapidHeaderCache
from backend.settings import Settings
from tests.factories import World, signed_in_client
from tests.push.conftest import deliver_due, queue_nudge
from tests.push.push_service import FakeDevice, PushService, verify_vapid


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


async def deliver(ctx: AppContext, sender: PushSender, now: datetime) -> None:
    """A worker's pass over the outbox with its clock at ``now``."""
    await deliver_due(ctx.engine, sender, now, max_attempts=ctx.settings.push_max_attempts)


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

    now = datetime.now(UTC)
    await deliver(ctx, sender, now)

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
    key = load_vapid_key(ctx.settings)
    assert (received.claims["sub"], received.claims["k"]) == (key.subject, key.public_key_b64)
    assert received.headers["Urgency"] == "high"  # a streak about to break
    assert received.headers["Topic"] == "streak_at_risk"
    assert received.headers["TTL"] == "7200"  # a warning older than 2 hours is not shown
    row = await nudge_row(ctx, nudge_id)
    assert (row.status, row.sent_at, row.last_error) == ("sent", now, "")
    (device,) = await devices_of(ctx, sam.id or 0)
    assert [d.subscription_id for d in await deliveries(ctx, nudge_id)] == [device.id]
    async with signed_in_client(app, sam.email) as client:
        (listed,) = (await client.get("/api/v1/me/push-subscriptions")).json()
    assert datetime.fromisoformat(listed["last_success_at"]) == now


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
    assert [(r.headers["Urgency"], r.headers["TTL"]) for r in push_service.received] == [
        ("normal", "43200"),
        ("normal", "43200"),
    ]


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

    await deliver(ctx, sender, datetime.now(UTC))

    assert [d.endpoint for d in await devices_of(ctx, sam.id or 0)] == [new_phone.endpoint]
    assert [m["nudge_id"] for m in push_service.messages(new_phone)] == [nudge_id]
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
    assert (row.status, row.last_error) == ("skipped", "every device had unsubscribed")
    assert await devices_of(ctx, sam.id or 0) == []


async def test_learner_without_a_device_is_skipped(
    ctx: AppContext, world: World, push_service: PushService, sender: PushSender
) -> None:
    nudge_id = await queue_nudge(ctx, world.a.users["manager"])
    await deliver(ctx, sender, datetime.now(UTC))
    row = await nudge_row(ctx, nudge_id)
    assert (row.status, row.last_error) == ("skipped", "no device subscribed to push")
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
    assert (row.status, row.due_at) == ("pending", start + timedelta(seconds=120))
    assert row.attempts == 0  # waiting is not failing: it does not bring giving up closer

    await deliver(ctx, sender, start + timedelta(seconds=60))
    assert push_service.requests[phone.token] == 1

    await deliver(ctx, sender, start + timedelta(seconds=121))
    assert push_service.requests[phone.token] == 2
    assert [m["nudge_id"] for m in push_service.messages(phone)] == [nudge_id]
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

    await deliver(ctx, sender, start)
    row = await nudge_row(ctx, nudge_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == "push service answered 500"
    # the first backoff: 30 s with equal jitter, so between 15 and 30 s
    assert timedelta(seconds=15) <= row.due_at - start <= timedelta(seconds=30)
    tablet_row = next(
        d for d in await devices_of(ctx, sam.id or 0) if d.endpoint == tablet.endpoint
    )
    assert tablet_row.failure_count == 1

    await deliver(ctx, sender, start + timedelta(minutes=5))

    # the phone's delivery was recorded, so only the tablet is tried again
    assert [m["nudge_id"] for m in push_service.messages(phone)] == [nudge_id]
    assert [m["nudge_id"] for m in push_service.messages(tablet)] == [nudge_id]
    assert push_service.requests[tablet.token] == 2
    devices = {d.id: d.endpoint for d in await devices_of(ctx, sam.id or 0)}
    assert sorted(devices[d.subscription_id] for d in await deliveries(ctx, nudge_id)) == sorted(
        [phone.endpoint, tablet.endpoint]
    )
    row = await nudge_row(ctx, nudge_id)
    assert (row.status, row.last_error) == ("sent", "")


async def test_timeouts_are_retried_then_the_nudge_is_dead_with_the_reason(
    app: Litestar, ctx: AppContext, world: World, push_service: PushService, sender: PushSender
) -> None:
    sam = world.a.users["employee"]
    phone = push_service.device()
    await subscribe(app, sam.email, phone)
    push_service.answer(phone, "timeout", "timeout", "timeout")
    nudge_id = await queue_nudge(ctx, sam)
    now = datetime.now(UTC)

    for attempt in (1, 2):
        await deliver(ctx, sender, now)
        row = await nudge_row(ctx, nudge_id)
        assert (row.status, row.attempts) == ("pending", attempt)
        assert row.last_error == "timed out after 1.5 s"
        now += timedelta(hours=2)  # past any backoff
    await deliver(ctx, sender, now)  # the third of push_max_attempts = 3

    row = await nudge_row(ctx, nudge_id)
    assert (row.status, row.attempts) == ("dead", 3)
    assert row.last_error == "gave up after 3 attempts: timed out after 1.5 s"
    await deliver(ctx, sender, now + timedelta(days=1))
    assert push_service.requests[phone.token] == 3  # a dead nudge is not tried again
    assert push_service.messages(phone) == []


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
    assert (row.status, row.last_error) == ("dead", "push service answered 413")


def test_a_push_service_sees_one_vapid_token_per_origin_renewed_before_it_expires() -> None:
    key = load_vapid_key(
        Settings(secret_key="s" * 48, env="test", database_url="postgresql+asyncpg://h/db")
    )
    clock = [1_000_000.0]
    cache = VapidHeaderCache(key, clock=lambda: clock[0])
    fcm, mozilla = "https://fcm.googleapis.com", "https://updates.push.services.mozilla.com"

    def token(endpoint: str, origin: str) -> tuple[str, dict[str, object]]:
        """The Authorization header and its claims, checked as the push service checks them."""
        header = cache.headers_for(endpoint)["Authorization"]
        return header, verify_vapid(header, origin, clock[0])

    first, claims = token(f"{fcm}/fcm/send/abc", fcm)
    expires = 1_000_000 + 12 * 3600
    assert claims == {"aud": fcm, "exp": expires, "sub": key.subject, "k": key.public_key_b64}
    assert token(f"{fcm}/fcm/send/other", fcm)[0] == first  # one token for all of FCM
    assert token(f"{mozilla}/wpush/v2/x", mozilla)[1]["aud"] == mozilla
    clock[0] += 10 * 3600  # 2 h before the 12 h expiry: still the same, still valid
    assert token(f"{fcm}/fcm/send/abc", fcm)[0] == first
    clock[0] += 1.5 * 3600  # within the last hour: a new token, valid for another 12 h
    renewed, claims = token(f"{fcm}/fcm/send/abc", fcm)
    assert renewed != first and claims["exp"] == clock[0] + 12 * 3600


def test_retry_after_may_be_seconds_or_an_http_date() -> None:
    from email.utils import format_datetime

    from backend.push.sender import DEFAULT_RETRY_AFTER_SECONDS, retry_after_seconds

    now = 1_800_000_000.0
    in_two_minutes = format_datetime(datetime.fromtimestamp(now + 120, UTC), usegmt=True)
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds(in_two_minutes, now) == 120
    assert retry_after_seconds("soon", now) == DEFAULT_RETRY_AFTER_SECONDS
    assert retry_after_seconds(None, now) == DEFAULT_RETRY_AFTER_SECONDS
