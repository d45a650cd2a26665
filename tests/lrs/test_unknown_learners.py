"""Never lose a statement: one about someone who is no learner yet is kept, shown as "learner
unknown", and counts once, for that person only, when L&D adds or imports them."""

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, func, select

from backend.context import AppContext
from backend.db.models import LearnerState, LearningEvent, User
from backend.lrs import unclaimed
from tests.factories import World, signed_in_client
from tests.imports.test_import_services import import_text

XAPI = {"X-Experience-API-Version": "1.0.3"}
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
ATTEMPTED = "http://adlnet.gov/expapi/verbs/attempted"  # not learning: stored, earns nothing
Client = AsyncTestClient[Litestar]


def _statement(actor: dict[str, Any], verb: str = COMPLETED) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", **actor},
        "verb": {"id": verb, "display": {"en-US": "completed"}},
        "object": {"objectType": "Activity", "id": "https://lms.acme.example/courses/feedback"},
        "result": {"completion": True, "duration": "PT30M"},
        "timestamp": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }


def _mbox(email: str) -> dict[str, str]:
    return {"mbox": f"mailto:{email}"}


def _headers(world: World, org: str = "a") -> dict[str, str]:
    return {"Authorization": f"Bearer {getattr(world, org).api_key}", **XAPI}


async def _learning(ctx: AppContext, org_id: int, email: str) -> tuple[int, int, int]:
    """XP, days active (their streak's days) and learning events of the person with
    ``email`` in ``org_id``."""
    async with ctx.sessionmaker() as session:
        user = (
            await session.exec(
                select(User).where(User.organisation_id == org_id, User.email == email)
            )
        ).one()
        state = (
            await session.exec(select(LearnerState).where(LearnerState.user_id == user.id))
        ).one()
        events, days = (
            await session.exec(
                select(func.count(), func.count(func.distinct(LearningEvent.local_date))).where(
                    col(LearningEvent.user_id) == user.id
                )
            )
        ).one()
    assert (state.last_active_date is not None) == (days > 0)
    return state.xp_total, int(days), int(events)


async def test_an_unknown_learner_is_kept_and_counts_once_they_are_added(
    app: Litestar, client: Client, world: World, ctx: AppContext
) -> None:
    known = _statement(_mbox("sam@example.com"))
    noor = _statement(_mbox("Noor@Acme.example"))
    noor_browsing = _statement(_mbox("noor@acme.example"), verb=ATTEMPTED)
    response = await client.post(
        "/xapi/statements", json=[known, noor, noor_browsing], headers=_headers(world)
    )
    assert response.status_code == 200, response.text
    assert response.json() == [known["id"], noor["id"], noor_browsing["id"]]
    assert (await _learning(ctx, world.a.id, "sam@example.com"))[0] > 0
    # another organisation's statement about the same address never counts in A
    elsewhere = await client.post(
        "/xapi/statements",
        json=_statement(_mbox("noor@acme.example")),
        headers=_headers(world, "b"),
    )
    assert elsewhere.status_code == 200

    kept = await client.get(
        "/xapi/statements", params={"statementId": noor["id"]}, headers=_headers(world)
    )
    assert kept.status_code == 200 and kept.json()["actor"]["mbox"] == "mailto:Noor@Acme.example"

    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        entries = (await admin.get("/api/v1/integrations/intake")).json()
        by_key = {e["key"]: e for e in entries}
        assert by_key[noor["id"]]["outcome"] == "unknown_learner"
        assert by_key[noor["id"]]["actor"] == "noor@acme.example"
        assert by_key[noor["id"]]["note"] == "kept"
        assert by_key[known["id"]]["outcome"] == "accepted"
        page = (await admin.get("/console/integrations/intake?lang=nl")).text
        assert "Onbekende deelnemer" in page and "telt zodra de persoon is toegevoegd" in page

        created = await admin.post(
            "/api/v1/users", json={"email": "noor@acme.example", "display_name": "Noor Bakker"}
        )
        assert created.status_code == 201, created.text
    xp, days, events = await _learning(ctx, world.a.id, "noor@acme.example")
    assert xp > 0 and days == 1 and events == 1  # the completion; the browsing earns nothing

    # the LMS sends it again, or the replay runs again: nothing doubles
    again = await client.post("/xapi/statements", json=noor, headers=_headers(world))
    assert again.status_code == 200
    async with ctx.sessionmaker() as session:
        assert await unclaimed.claim(session, world.a.id, [int(created.json()["id"])]) == []
    assert await _learning(ctx, world.a.id, "noor@acme.example") == (xp, days, events)


async def test_a_person_imported_later_gets_their_account_and_sha1_statements(
    client: Client, world: World, ctx: AppContext
) -> None:
    digest = hashlib.sha1(b"mailto:lea@acme.example", usedforsecurity=False).hexdigest()
    by_account = _statement({"account": {"homePage": "https://lms.acme.example", "name": "EMP-77"}})
    by_sha1 = _statement({"mbox_sha1sum": digest})
    by_sha1["timestamp"] = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    response = await client.post(
        "/xapi/statements", json=[by_account, by_sha1], headers=_headers(world)
    )
    assert response.status_code == 200, response.text

    people = "email,name,external_id\r\nlea@acme.example,Lea Jansen,EMP-77\r\n"
    job = await import_text(ctx, world, people, kind="people")
    assert (job.status, job.created) == ("done", 1)
    xp, days, events = await _learning(ctx, world.a.id, "lea@acme.example")
    assert xp > 0 and events == 2 and days == 2  # two days: both count
    # importing the same file again changes nothing
    again = await import_text(ctx, world, people, kind="people")
    assert again.status == "done"
    assert await _learning(ctx, world.a.id, "lea@acme.example") == (xp, days, events)
