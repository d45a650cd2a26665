"""The Alembic migrations and the SQLModel tables describe the same schema."""

from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, insert, inspect
from sqlmodel import SQLModel, col, select

from backend.context import AppContext
from backend.db.engine import make_engine
from backend.db.migrate import downgrade, upgrade
from backend.db.models import Kudos, LearningEvent, Organisation, XpLedgerEntry
from tests.factories import World


def _diff(sync_connection: Any) -> list[Any]:
    context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url, null_pool=True)
    async with engine.connect() as conn:
        differences = await conn.run_sync(_diff)
    await engine.dispose()
    assert differences == [], f"models and migrations disagree: {differences}"


async def test_migrations_downgrade_to_nothing_and_back(database_url: str) -> None:
    engine = make_engine(database_url, null_pool=True)
    await downgrade(engine, "base")
    async with engine.connect() as conn:
        tables = await conn.run_sync(
            lambda c: set(inspect(c).get_table_names()) - {"alembic_version"}
        )
    assert tables == set()
    await upgrade(engine)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        differences = await conn.run_sync(_diff)
    await engine.dispose()
    assert {t.name for t in SQLModel.metadata.sorted_tables} <= tables
    assert differences == []


async def _event_with_ledger_and_kudos(ctx: AppContext, world: World) -> tuple[int, int]:
    """A learning moment of world.a's employee, its XP entry, and kudos for it; their ids."""
    learner, colleague = world.a.users["employee"], world.a.users["manager"]
    assert learner.id is not None and colleague.id is not None
    today = datetime.now(UTC)
    async with ctx.sessionmaker() as session:
        # the columns migration 0010 knew (a later one may add some: the test runs on 0010)
        inserted = await (await session.connection()).execute(
            insert(LearningEvent)
            .values(
                organisation_id=world.a.id,
                user_id=learner.id,
                idempotency_key="pwa:moment-1",
                kind="informal",
                source="pwa",
                title="",
                minutes=0,
                payload_hash="",
                payload={},
                occurred_at=today,
                local_date=today.date(),
                created_at=today,
            )
            .returning(col(LearningEvent.id))
        )
        event_id = inserted.scalar_one()
        session.add(
            XpLedgerEntry(
                organisation_id=world.a.id,
                user_id=learner.id,
                event_id=event_id,
                amount=10,
                reason="informal",
                local_date=today.date(),
            )
        )
        kudos = Kudos(
            organisation_id=world.a.id,
            from_user_id=learner.id,
            to_user_id=colleague.id,
            message="Thanks for the pairing session",
            learning_event_id=event_id,
        )
        session.add(kudos)
        await session.commit()
        assert kudos.id is not None
        return event_id, kudos.id


async def test_dropping_the_hot_foreign_keys_keeps_every_row_and_link(
    ctx: AppContext, world: World
) -> None:
    # nothing may be lost or unlinked on the way up or down
    await downgrade(ctx.engine, "0010")
    event_id, kudos_id = await _event_with_ledger_and_kudos(ctx, world)
    for step in (lambda: upgrade(ctx.engine), lambda: downgrade(ctx.engine, "0010")):
        await step()
        async with ctx.sessionmaker() as session:
            events = (await session.exec(select(LearningEvent.id))).all()
            ledger = (await session.exec(select(XpLedgerEntry))).all()
            kudos = await session.get(Kudos, kudos_id)
        assert list(events) == [event_id]
        assert [(e.event_id, e.amount) for e in ledger] == [(event_id, 10)]
        assert kudos is not None and kudos.learning_event_id == event_id
    await upgrade(ctx.engine)


async def test_deleting_an_organisation_still_deletes_its_learning_and_xp(
    ctx: AppContext, world: World
) -> None:
    await _event_with_ledger_and_kudos(ctx, world)
    async with ctx.sessionmaker() as session:
        other = LearningEvent(
            organisation_id=world.b.id,
            user_id=world.b.users["employee"].id,
            idempotency_key="pwa:moment-1",
            kind="informal",
            source="pwa",
            occurred_at=datetime.now(UTC),
            local_date=datetime.now(UTC).date(),
        )
        session.add(other)
        await session.commit()
    async with ctx.sessionmaker() as session:
        await session.exec(delete(Organisation).where(col(Organisation.id) == world.a.id))
        await session.commit()
    async with ctx.sessionmaker() as session:
        events = (await session.exec(select(LearningEvent))).all()
        ledger = (await session.exec(select(XpLedgerEntry))).all()
    assert [e.organisation_id for e in events] == [world.b.id]
    assert ledger == []
