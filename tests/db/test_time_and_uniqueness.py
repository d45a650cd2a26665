"""Storage rules every feature relies on: aware datetimes and per-organisation idempotency keys."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import LearningEvent
from tests.factories import World


async def test_datetimes_come_back_timezone_aware_in_utc(ctx: AppContext, world: World) -> None:
    amsterdam_evening = datetime(2026, 3, 29, 23, 30, tzinfo=timezone(timedelta(hours=2)))
    async with ctx.sessionmaker() as session:
        session.add(
            LearningEvent(
                organisation_id=world.a.id,
                user_id=world.a.users["employee"].id,
                idempotency_key="k1",
                kind="informal",
                source="pwa",
                occurred_at=amsterdam_evening,
                local_date=date(2026, 3, 29),
            )
        )
        await session.commit()
    async with ctx.sessionmaker() as session:
        stored = (
            await session.exec(select(LearningEvent).where(LearningEvent.idempotency_key == "k1"))
        ).one()
    assert stored.occurred_at.tzinfo is not None
    assert stored.occurred_at == amsterdam_evening
    assert stored.occurred_at.astimezone(UTC).hour == 21


async def test_naive_datetimes_are_refused(ctx: AppContext, world: World) -> None:
    async with ctx.sessionmaker() as session:
        session.add(
            LearningEvent(
                organisation_id=world.a.id,
                user_id=world.a.users["employee"].id,
                idempotency_key="naive",
                kind="informal",
                source="pwa",
                occurred_at=datetime(2026, 1, 1, 12),
                local_date=date(2026, 1, 1),
            )
        )
        with pytest.raises(Exception, match="naive datetime"):
            await session.commit()


async def test_idempotency_key_is_unique_per_organisation_only(
    ctx: AppContext, world: World
) -> None:
    def event(org_id: int, user_id: int | None) -> LearningEvent:
        return LearningEvent(
            organisation_id=org_id,
            user_id=user_id,
            idempotency_key="stmt-1",
            kind="completion",
            source="xapi",
            occurred_at=datetime.now(UTC),
            local_date=date.today(),
        )

    async with ctx.sessionmaker() as session:
        session.add(event(world.a.id, world.a.users["employee"].id))
        session.add(event(world.b.id, world.b.users["employee"].id))
        await session.commit()
    async with ctx.sessionmaker() as session:
        session.add(event(world.a.id, world.a.users["manager"].id))
        with pytest.raises(IntegrityError):
            await session.commit()
    async with ctx.sessionmaker() as session:
        rows = (
            await session.exec(
                select(LearningEvent).where(LearningEvent.idempotency_key == "stmt-1")
            )
        ).all()
    assert sorted(r.organisation_id for r in rows) == sorted([world.a.id, world.b.id])
