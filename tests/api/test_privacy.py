"""My data: the JSON export holds only my own rows; deleting my account removes everything."""

import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.badges.defaults import ensure_default_badges
from backend.context import AppContext
from backend.db.models import LearnerState, LearningEvent, TeamMembership, User, XpLedgerEntry
from tests.factories import GLOBEX_SAM_PASSWORD, World, sign_in, signed_in_client


async def _log(client: AsyncTestClient[Litestar], what: str, minutes: int = 20) -> None:
    moment = {"client_id": str(uuid.uuid4()), "what": what, "minutes": minutes}
    response = await client.post("/api/v1/me/moments", json=moment)
    assert response.status_code == 201, response.text


async def test_export_holds_my_data_and_nothing_of_a_colleague(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with ctx.sessionmaker() as session:
        await ensure_default_badges(session, world.a.id)  # a first moment earns a badge
        await session.commit()
    async with signed_in_client(app, world.email("a", "manager")) as colleague:
        await _log(colleague, "Colleague's secret podcast")
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        await _log(sam, "Feedback asked from my team", 25)
        response = await sam.get("/api/v1/me/export")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        'attachment; filename="learnloop-export.json"'
    )
    data = response.json()
    assert data["profile"]["email"] == "sam@example.com"
    assert [e["title"] for e in data["learning_events"]] == ["Feedback asked from my team"]
    event = data["learning_events"][0]
    assert event["minutes"] == 25 and event["kind"] == "informal" and event["source"] == "pwa"
    assert event["local_date"] and event["occurred_at"]
    assert sum(x["amount"] for x in data["xp_ledger"]) == data["learner_state"]["xp_total"] > 0
    assert [(b["badge_code"], b["tier"]) for b in data["badge_awards"]] == [
        ("first-moment", "bronze")
    ]
    assert data["testimonials"] == []
    text = response.text
    assert "Colleague's secret podcast" not in text
    assert "Mia" not in text and "Globex" not in text


async def test_export_needs_a_person(client: AsyncTestClient[Litestar], world: World) -> None:
    assert (await client.get("/api/v1/me/export")).status_code == 401
    key = await client.get(
        "/api/v1/me/export", headers={"Authorization": f"Bearer {world.a.api_key}"}
    )
    assert key.status_code == 403


async def test_delete_needs_the_confirmation_word_then_removes_everything(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sam_id = world.a.users["employee"].id
    async with AsyncTestClient(app=app) as sam:
        await sign_in(sam, world.email("a", "employee"))
        await _log(sam, "Something I will take with me")
        for body in ({}, {"confirm": "delete"}, {"confirm": "VERWIJDER"}):
            refused = await sam.request("DELETE", "/api/v1/me", json=body)
            assert refused.status_code == 400, body
        assert (await sam.get("/api/v1/me")).status_code == 200, "nothing was deleted"
        gone = await sam.request("DELETE", "/api/v1/me", json={"confirm": "DELETE"})
        assert gone.status_code == 204
        assert (await sam.get("/api/v1/me")).status_code == 401, "the session is cleared"
    async with ctx.sessionmaker() as session:
        assert (await session.exec(select(User).where(User.id == sam_id))).first() is None
        for model in (LearningEvent, XpLedgerEntry, LearnerState, TeamMembership):
            rows = (await session.exec(select(model).where(model.user_id == sam_id))).all()
            assert rows == [], model.__name__
        # Globex's Sam, with the same e-mail address, is untouched
        other = world.b.users["employee"].id
        assert (await session.exec(select(User).where(User.id == other))).first() is not None
    async with AsyncTestClient(app=app) as again:
        await again.get("/")
        login = await again.post(
            "/api/v1/auth/login",
            json={"email": world.email("a", "employee"), "password": GLOBEX_SAM_PASSWORD},
            headers={"x-csrf-token": again.cookies.get("learnloop_csrf") or ""},
        )
        # the same address still opens Globex's account, never Acme's
        assert login.status_code == 200 and login.json()["organisation"]["id"] == world.b.id


async def test_last_ld_admin_cannot_delete_themselves(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        refused = await lou.request("DELETE", "/api/v1/me", json={"confirm": "DELETE"})
        assert refused.status_code == 409
        assert "last L&D admin" in refused.json()["detail"]
        assert (await lou.get("/api/v1/me")).status_code == 200
        # with a second L&D admin it is allowed
        assert (
            await lou.patch(
                f"/api/v1/users/{world.a.users['manager'].id}",
                json={"roles": ["employee", "manager", "ld_admin"]},
            )
        ).status_code == 200
        gone = await lou.request("DELETE", "/api/v1/me", json={"confirm": "DELETE"})
        assert gone.status_code == 204


async def test_delete_needs_a_signed_in_person(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    await client.get("/")
    token = client.cookies.get("learnloop_csrf") or ""
    anonymous = await client.request(
        "DELETE", "/api/v1/me", json={"confirm": "DELETE"}, headers={"x-csrf-token": token}
    )
    assert anonymous.status_code == 401
    key = await client.request(
        "DELETE",
        "/api/v1/me",
        json={"confirm": "DELETE"},
        headers={"Authorization": f"Bearer {world.a.api_key}"},
    )
    assert key.status_code == 403


async def test_delete_without_csrf_token_is_refused(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        del sam.headers["x-csrf-token"]
        response = await sam.request("DELETE", "/api/v1/me", json={"confirm": "DELETE"})
        assert response.status_code == 403
        sam.headers["x-csrf-token"] = sam.cookies.get("learnloop_csrf") or ""
        assert (await sam.get("/api/v1/me")).status_code == 200
