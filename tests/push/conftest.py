"""Push tests: settings that allow the local push service's http:// endpoints, a nudge queued
as the policy queues it, and one pass of a worker's sender loop."""

import dataclasses
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.context import AppContext
from backend.db.models import Nudge
from backend.push import outbox
from backend.push.delivery import DeliveryLog, deliver
from backend.push.sender import PushSender, SendLanes
from backend.settings import Settings
from tests.push.push_service import PushService


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # 1.5 s: a loaded CI machine can stall the one event loop the sender and the fake push
    # service share for longer than 0.5 s, and a request timed out before it arrived is one
    # the service never counts
    return dataclasses.replace(
        settings, push_allow_http_endpoints=True, push_timeout_seconds=1.5, push_max_attempts=3
    )


@pytest.fixture
async def push_service(settings: Settings) -> AsyncIterator[PushService]:
    # a "timeout" answer is held well past the sender's timeout
    service = PushService(timeout_sleep=2 * settings.push_timeout_seconds)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def queue_nudge(
    ctx: AppContext,
    user: Any,
    *,
    kind: str = "daily_reminder",
    title: str = "Tijd om te leren",
    body: str = "Vijf minuten vandaag houden je reeks in leven.",
    url: str = "/log",
    locale: str = "nl",
    due_at: datetime | None = None,
) -> str:
    """An outbox row as the nudge policy writes it: pending and due."""
    nudge_id = secrets.token_hex(16)  # the outbox id format: 128 random bits, hex
    async with ctx.sessionmaker() as session:
        session.add(
            Nudge(
                id=nudge_id,
                organisation_id=user.organisation_id,
                user_id=user.id,
                kind=kind,
                dedupe_key=f"test:{nudge_id}",
                locale=locale,
                title=title,
                body=body,
                url=url,
                due_at=due_at or datetime.now(UTC) - timedelta(seconds=1),
            )
        )
        await session.commit()
    return nudge_id


async def deliver_due(
    engine: AsyncEngine, sender: PushSender, now: datetime, *, max_attempts: int = 5
) -> None:
    """One pass of a worker's sender loop at ``now``: claim due nudges, deliver, record."""
    batch = await outbox.claim(engine, now, limit=100, lease_seconds=120.0)
    if not batch.nudges:
        return
    delivery_log = DeliveryLog(engine)
    try:
        async with SendLanes(sender, 64) as lanes:
            await deliver(
                engine, lanes, delivery_log, batch, max_attempts=max_attempts, clock=lambda: now
            )
    finally:
        await delivery_log.close()
