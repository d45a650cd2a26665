"""The intake log: every statement and event an integration sends is noted with its outcome
(accepted, duplicate, conflict, rejected with the reason the sender got, learner unknown),
for xAPI, the signed webhook and the events API; only the newest are kept and shown; one
organisation never sees another's."""

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import IntakeLogEntry, LearningEvent
from backend.integrations.services import create_webhook_secret
from backend.learning import intake_log
from backend.learning.webhook import sign
from tests.factories import World, signed_in_client

XAPI = {"X-Experience-API-Version": "1.0.3"}
INTAKE = "/api/v1/integrations/intake"


def statement(email: str = "sam@example.com", sid: str | None = None, **extra: Any) -> dict:
    return {
        "id": sid or str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": f"mailto:{email}"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"objectType": "Activity", "id": "https://lms.acme.example/courses/feedback"},
        "timestamp": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        **extra,
    }


def xapi_headers(world: World) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.a.api_key}", **XAPI}


async def intake(app: Litestar, world: World, org: str = "a", **params: str) -> list[dict]:
    async with signed_in_client(app, world.email(org, "ld_admin")) as admin:
        response = await admin.get(INTAKE, params=params)
        assert response.status_code == 200, response.text
        return list(response.json())


async def test_xapi_statements_are_logged_with_each_outcome(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    headers = xapi_headers(world)
    first = statement()
    assert (await client.post("/xapi/statements", json=first, headers=headers)).status_code == 200
    again = await client.post("/xapi/statements", json=first, headers=headers)
    assert again.status_code == 200
    changed = {**first, "timestamp": datetime.now(UTC).isoformat()}
    conflict = await client.post("/xapi/statements", json=changed, headers=headers)
    assert conflict.status_code == 409
    stranger = statement("nobody@acme.example")
    unknown = await client.post("/xapi/statements", json=[statement(), stranger], headers=headers)
    assert unknown.status_code == 200  # kept for when they are added (tests/lrs)
    invalid = await client.post("/xapi/statements", json={"id": "x"}, headers=headers)
    assert invalid.status_code == 400

    entries = await intake(app, world)
    # newest first: the invalid one, the batch (2), the conflict, duplicate, accepted
    assert [e["outcome"] for e in entries] == [
        "rejected",
        "accepted",
        "unknown_learner",
        "conflict",
        "duplicate",
        "accepted",
    ]
    assert all(e["source"] == "xapi" for e in entries)
    rejected, batch_mate, stranger_entry, conflicting, duplicate, accepted = entries
    assert rejected["reason"] == invalid.json()["detail"]  # word for word what the LMS got
    assert rejected["status"] == 400
    assert stranger_entry["status"] == 200 and stranger_entry["note"] == "kept"
    assert stranger_entry["actor"] == "nobody@acme.example"
    assert stranger_entry["key"] == stranger["id"]
    assert batch_mate["learner"] == "Sam Acme" and batch_mate["xp"] > 0
    assert batch_mate["course"] == "Feedback geven (Acme)"
    assert conflicting["reason"] == conflict.json()["detail"] and conflicting["status"] == 409
    assert accepted["key"] == first["id"] and accepted["learner"] == "Sam Acme"
    assert accepted["course"] == "Feedback geven (Acme)" and accepted["xp"] > 0
    assert duplicate["key"] == first["id"] and duplicate["xp"] == 0


async def test_an_entry_shows_what_was_sent_or_stored(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    headers = xapi_headers(world)
    ok = statement()
    await client.post("/xapi/statements", json=ok, headers=headers)
    bad = statement(
        "ghost@acme.example", context={"extensions": {"https://acme.example/note": "x" * 5000}}
    )
    await client.post("/xapi/statements", json=bad, headers=headers)
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        refused, accepted = (await admin.get(INTAKE)).json()
        one = (await admin.get(f"{INTAKE}/{refused['log_id']}/{refused['index']}")).json()
        assert one["outcome"] == "unknown_learner" and one["key"] == bad["id"]
        assert "ghost@acme.example" in one["payload"] and one["payload_trimmed"]
        assert len(one["payload"]) < 2000
        stored = (await admin.get(f"{INTAKE}/{accepted['log_id']}/{accepted['index']}")).json()
        assert json.loads(stored["payload"])["id"] == ok["id"]
        assert not stored["payload_trimmed"]
        missing = await admin.get(f"{INTAKE}/{accepted['log_id']}/7")
        assert missing.status_code == 404


async def test_events_api_items_are_judged_and_logged_one_by_one(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    headers = {"Authorization": f"Bearer {world.a.api_key}"}
    when = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    event = {
        "id": "evt-1",
        "learner": {"email": "sam@example.com"},
        "kind": "completion",
        "occurred_at": when,
        "course": {"id": world.a.course_id},
    }
    batch = [
        event,
        {**event, "id": "evt-2", "learner": {"email": "ghost@acme.example"}},
        {**event, "id": "evt-3", "course": {"id": 999_999}},
    ]
    assert (await client.post("/api/v1/events", json=batch, headers=headers)).status_code == 200
    again = await client.post("/api/v1/events", json=event, headers=headers)
    assert again.json()["status"] == "duplicate"
    changed = await client.post("/api/v1/events", json={**event, "minutes": 5}, headers=headers)
    assert changed.status_code == 409
    broken = await client.post("/api/v1/events", content=b"[{", headers=headers)
    assert broken.status_code == 400

    entries = await intake(app, world, source="api")
    assert [(e["outcome"], e["key"]) for e in entries] == [
        ("rejected", ""),
        ("conflict", "evt-1"),
        ("duplicate", "evt-1"),
        ("accepted", "evt-1"),
        ("unknown_learner", "evt-2"),
        ("rejected", "evt-3"),
    ]
    assert entries[0]["reason"] == broken.json()["detail"]
    assert entries[5]["reason"] == f"course.id: no course {999_999}"
    assert entries[3]["course"] == "Feedback geven (Acme)"
    unknown = await intake(app, world, outcome="unknown_learner")
    assert [e["key"] for e in unknown] == ["evt-2"]


async def test_webhook_deliveries_are_logged_with_bad_signatures_too(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    async with ctx.sessionmaker() as session:
        secret = await create_webhook_secret(session, ctx.settings, world.a.id, "Moodle")

    async def deliver(body: dict, key: str = secret.secret) -> Any:
        raw = json.dumps(body).encode()
        stamp = int(time.time())
        return await client.post(
            "/api/v1/webhooks/lms",
            content=raw,
            headers={
                "Content-Type": "application/json",
                "X-Learnloop-Webhook-Key": secret.key_id,
                "X-Learnloop-Timestamp": str(stamp),
                "X-Learnloop-Signature": sign(key.encode(), raw, stamp),
            },
        )

    delivery = {
        "delivery_id": "d-1",
        "event": "course.completed",
        "learner": {"email": "sam@example.com"},
        "course": {"external_id": "feedback"},
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }
    assert (await deliver(delivery)).status_code == 201
    assert (await deliver(delivery)).status_code == 200
    assert (await deliver({**delivery, "minutes": 9})).status_code == 409
    ghost = {**delivery, "delivery_id": "d-2", "learner": {"email": "ghost@acme.example"}}
    assert (await deliver(ghost)).status_code == 400
    forged = await deliver({**delivery, "delivery_id": "d-3"}, key="whsec_wrong")
    assert forged.status_code == 401

    entries = await intake(app, world, source="webhook")
    assert [(e["outcome"], e["key"], e["status"]) for e in entries] == [
        ("rejected", "", 401),
        ("unknown_learner", "d-2", 400),
        ("conflict", "d-1", 409),
        ("duplicate", "d-1", 200),
        ("accepted", "d-1", 201),
    ]
    assert entries[0]["reason"] == forged.json()["detail"]
    assert entries[0]["credential"] == secret.key_id
    assert entries[1]["actor"] == "ghost@acme.example"
    assert entries[4]["learner"] == "Sam Acme"


async def test_only_the_newest_200_are_shown_and_pruning_keeps_the_newest(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    headers = xapi_headers(world)
    batch = [statement() for _ in range(150)]
    assert (await client.post("/xapi/statements", json=batch, headers=headers)).status_code == 200
    newest = [statement() for _ in range(60)]
    await client.post("/xapi/statements", json=newest, headers=headers)
    entries = await intake(app, world)
    assert len(entries) == 200
    assert [e["key"] for e in entries[:60]] == [s["id"] for s in newest]
    assert [e["key"] for e in entries[60:]] == [s["id"] for s in batch[:140]]

    # many requests: the writer prunes to the newest KEEP_REQUESTS rows of the organisation
    writer = intake_log.writer_for(ctx.engine)
    for n in range(intake_log.PRUNE_AFTER_ROWS + 10):
        intake_log.note(ctx.engine, world.a.id, "api", 200, [{"o": "accepted", "k": f"n{n}"}])
    await writer.flush()
    async with ctx.sessionmaker() as session:
        kept = (
            await session.exec(
                select(func.count())
                .select_from(IntakeLogEntry)
                .where(IntakeLogEntry.organisation_id == world.a.id)
            )
        ).one()
    assert kept == intake_log.KEEP_REQUESTS
    shown = await intake(app, world)
    assert shown[0]["key"] == f"n{intake_log.PRUNE_AFTER_ROWS + 9}"


async def test_organisations_see_only_their_own_log(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    await client.post("/xapi/statements", json=statement(), headers=xapi_headers(world))
    assert len(await intake(app, world, "a")) == 1
    assert await intake(app, world, "b") == []
    entry = (await intake(app, world, "a"))[0]
    async with signed_in_client(app, world.email("b", "ld_admin")) as admin_b:
        peek = await admin_b.get(f"{INTAKE}/{entry['log_id']}/{entry['index']}")
        assert peek.status_code == 404
    for role in ("employee", "manager"):
        async with signed_in_client(app, world.email("a", role)) as person:
            assert (await person.get(INTAKE)).status_code == 403


async def test_a_failing_log_never_fails_the_ingestion(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    writer = intake_log.writer_for(ctx.engine)
    writer.pending.extend([(0, datetime.now(UTC), "xapi", 200, "", [])])  # no organisation 0
    one = statement()
    response = await client.post("/xapi/statements", json=one, headers=xapi_headers(world))
    assert response.status_code == 200
    await writer.flush()  # the foreign key refuses the batch: logged and dropped, no raise
    async with ctx.sessionmaker() as session:
        keys = (await session.exec(select(LearningEvent.idempotency_key))).all()
    assert keys == [f"xapi:{one['id']}"]
    assert writer.pending == []


async def test_a_filter_outside_the_outcomes_is_a_clear_400(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        response = await admin.get(INTAKE, params={"outcome": "lost"})
        assert response.status_code == 400
        assert "outcome" in response.text
