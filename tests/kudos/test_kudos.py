"""Kudos: thanks to a colleague, by hand (API and Team page) or with a learning moment."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import Kudos, LearnerState, LearningEvent
from tests.factories import World, signed_in_client


def _token(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


async def _kudos_rows(ctx: AppContext) -> list[Kudos]:
    async with ctx.sessionmaker() as session:
        return list((await session.exec(select(Kudos).order_by(Kudos.id))).all())  # type: ignore[arg-type]


async def _next_nudge(ctx: AppContext, user_id: int) -> datetime | None:
    async with ctx.sessionmaker() as session:
        row = (
            await session.exec(select(LearnerState).where(LearnerState.user_id == user_id))
        ).one()
        return row.next_nudge_at


async def test_kudos_sent_by_api_reach_the_colleague_newest_first_and_wake_their_nudges(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    mia = world.a.users["manager"]
    assert mia.id is not None and await _next_nudge(ctx, mia.id) is None
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        for text in ("Thanks for the demo!", "Great feedback session"):
            sent = await sam.post("/api/v1/kudos", json={"to_user_id": mia.id, "message": text})
            assert sent.status_code == 201, sent.text
            assert sent.json()["to_name"] == "Mia Acme" and sent.json()["kind"] == "note"
    woken = await _next_nudge(ctx, mia.id)
    assert woken is not None and abs(woken - datetime.now(UTC)) < timedelta(minutes=1)
    async with signed_in_client(app, world.email("a", "manager")) as mia_client:
        received = (await mia_client.get("/api/v1/me/kudos")).json()
        page = await mia_client.get("/team")
    assert [k["message"] for k in received] == ["Great feedback session", "Thanks for the demo!"]
    assert received[0]["from_name"] == "Sam Acme"
    assert "Kudos ontvangen" in page.text and "Great feedback session" in page.text


async def test_kudos_refuse_myself_other_organisations_and_bad_messages(
    app: Litestar, world: World
) -> None:
    me = world.a.users["employee"].id
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        to_me = await sam.post("/api/v1/kudos", json={"to_user_id": me, "message": "Me!"})
        assert to_me.status_code == 400 and "yourself" in to_me.json()["detail"]
        other_org = world.b.users["manager"].id
        foreign = await sam.post("/api/v1/kudos", json={"to_user_id": other_org, "message": "Hi"})
        assert foreign.status_code == 404
        mia = world.a.users["manager"].id
        too_long = await sam.post("/api/v1/kudos", json={"to_user_id": mia, "message": "x" * 281})
        assert too_long.status_code == 400
        empty = await sam.post("/api/v1/kudos", json={"to_user_id": mia, "message": "  "})
        assert empty.status_code == 400
        assert (await sam.get("/api/v1/me/kudos")).json() == []


async def test_more_than_twenty_kudos_a_day_are_refused_with_429(
    app: Litestar, world: World
) -> None:
    mia = world.a.users["manager"].id
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        for n in range(20):
            response = await sam.post("/api/v1/kudos", json={"to_user_id": mia, "message": f"#{n}"})
            assert response.status_code == 201
        refused = await sam.post("/api/v1/kudos", json={"to_user_id": mia, "message": "one more"})
    assert refused.status_code == 429
    assert "20 kudos" in refused.json()["detail"]


async def test_a_moment_naming_a_colleague_thanks_them_once_even_when_retried(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    mia = world.a.users["manager"].id
    moment = {
        "client_id": str(uuid.uuid4()),
        "what": "How to run a retro",
        "minutes": 20,
        "colleague_id": mia,
    }
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        first = await sam.post("/api/v1/me/moments", json=moment)
        again = await sam.post("/api/v1/me/moments", json=moment)
        assert (first.status_code, again.status_code) == (201, 200)
    rows = await _kudos_rows(ctx)
    assert len(rows) == 1 and rows[0].to_user_id == mia and rows[0].learning_event_id
    async with signed_in_client(app, world.email("a", "manager")) as mia_client:
        [kudos] = (await mia_client.get("/api/v1/me/kudos")).json()
        page = await mia_client.get("/team")
    assert kudos["kind"] == "learned_from_you" and kudos["moment"] == "How to run a retro"
    assert "Sam Acme heeft van je geleerd" in page.text and "How to run a retro" in page.text


async def test_the_log_form_without_javascript_thanks_the_colleague_once(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    mia = world.a.users["manager"].id
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        form = await sam.get("/log")
        client_id = re.search(r'name="client_id" value="([^"]+)"', form.text)
        assert client_id
        fields = {
            "_csrf_token": _token(form.text),
            "client_id": client_id.group(1),
            "what": "Excel pivot tables",
            "minutes": "15",
            "colleague_id": str(mia),
        }
        for _ in range(2):  # a double submit
            posted = await sam.post("/log", data=fields, follow_redirects=False)
            assert posted.status_code == 303
    rows = await _kudos_rows(ctx)
    assert len(rows) == 1 and rows[0].to_user_id == mia
    async with ctx.sessionmaker() as session:
        event = (
            await session.exec(
                select(LearningEvent).where(LearningEvent.id == rows[0].learning_event_id)
            )
        ).one()
    assert event.title == "Excel pivot tables"


async def _send_form(client: AsyncTestClient[Litestar], **fields: str) -> httpx.Response:
    page = await client.get("/team/kudos")
    assert page.status_code == 200
    return await client.post(
        "/team/kudos", data={"_csrf_token": _token(page.text), **fields}, follow_redirects=False
    )


async def test_kudos_sent_from_the_team_page_without_javascript_show_for_the_recipient(
    app: Litestar, world: World
) -> None:
    mia = world.a.users["manager"].id
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        team = await sam.get("/team")
        assert "Nog geen kudos" in team.text and 'href="/team/kudos?team=' in team.text
        form = await sam.get("/team/kudos")
        assert "Mia Acme" in form.text and "Lou Acme" not in form.text  # teammates only
        missing = await _send_form(sam, to_user_id=str(mia), message="")
        assert missing.status_code == 400 and "Schrijf een kort bericht" in missing.text
        outsider = await _send_form(sam, to_user_id=str(world.a.users["ld_admin"].id), message="Hi")
        assert outsider.status_code == 400 and "Kies een teamgenoot" in outsider.text
        sent = await _send_form(sam, to_user_id=str(mia), message="<b>Dank</b> voor de uitleg")
        assert sent.status_code == 303
        assert sent.headers["location"] == "/team?kudos=sent#kudos-title"
        assert "Je kudos zijn onderweg" in (await sam.get(sent.headers["location"])).text
    async with signed_in_client(app, world.email("a", "manager")) as mia_client:
        page = (await mia_client.get("/team")).text
    assert "&lt;b&gt;Dank&lt;/b&gt; voor de uitleg" in page and "Sam Acme" in page


async def test_my_export_has_kudos_sent_and_received(app: Litestar, world: World) -> None:
    mia = world.a.users["manager"].id
    sam_id = world.a.users["employee"].id
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        await sam.post("/api/v1/kudos", json={"to_user_id": mia, "message": "Thanks Mia"})
    async with signed_in_client(app, world.email("a", "manager")) as mia_client:
        await mia_client.post("/api/v1/kudos", json={"to_user_id": sam_id, "message": "You too"})
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        export = (await sam.get("/api/v1/me/export")).json()
    assert [(k["to"], k["message"]) for k in export["kudos_sent"]] == [("Mia Acme", "Thanks Mia")]
    assert [(k["from"], k["message"]) for k in export["kudos_received"]] == [
        ("Mia Acme", "You too")
    ]


async def test_deleting_my_account_removes_the_kudos_i_sent_and_received(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    mia = world.a.users["manager"].id
    sam_id = world.a.users["employee"].id
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        await sam.post("/api/v1/kudos", json={"to_user_id": mia, "message": "Thanks Mia"})
    async with signed_in_client(app, world.email("a", "manager")) as mia_client:
        await mia_client.post("/api/v1/kudos", json={"to_user_id": sam_id, "message": "You too"})
    assert len(await _kudos_rows(ctx)) == 2
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        deleted = await sam.request("DELETE", "/api/v1/me", json={"confirm": "DELETE"})
        assert deleted.status_code == 204, deleted.text
    assert await _kudos_rows(ctx) == []
    async with signed_in_client(app, world.email("a", "manager")) as mia_client:
        assert (await mia_client.get("/api/v1/me/kudos")).json() == []
