"""Testimonials through the API: one per person per course, earning XP once, never across orgs."""

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.auth.passwords import hash_password
from backend.context import AppContext
from backend.db.models import User, XpLedgerEntry
from tests.factories import PASSWORD, World, signed_in_client


async def _xp(ctx: AppContext, user_id: int | None) -> int:
    async with ctx.sessionmaker() as session:
        amounts = (
            await session.exec(select(XpLedgerEntry.amount).where(XpLedgerEntry.user_id == user_id))
        ).all()
    return sum(amounts)


async def test_create_update_and_list(app: Litestar, ctx: AppContext, world: World) -> None:
    url = f"/api/v1/courses/{world.a.course_id}/testimonials"
    sam = world.a.users["employee"]
    async with signed_in_client(app, sam.email) as client:
        assert (await client.get(url)).json() == []
        created = await client.post(url, json={"text": "  Heel praktisch, meteen toegepast.  "})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["text"] == "Heel praktisch, meteen toegepast."
        assert body["created"] is True and body["xp"] == 15 and body["mine"] is True
        assert body["display_name"] == "Sam Acme"
        assert await _xp(ctx, sam.id) == 15

        updated = await client.post(url, json={"text": "Nog steeds goed, na een maand."})
        assert updated.status_code == 200, updated.text
        assert updated.json()["created"] is False and updated.json()["xp"] == 0
        assert updated.json()["id"] == body["id"]
        assert await _xp(ctx, sam.id) == 15, "rewriting earns nothing more"

        listed = (await client.get(url)).json()
        assert [t["text"] for t in listed] == ["Nog steeds goed, na een maand."]
        # writing it is one learning moment in my history, rewriting it is none
        history = (await client.get("/api/v1/me/history")).json()["items"]
        assert [(i["kind"], i["course_id"], i["xp"]) for i in history] == [
            ("testimonial", world.a.course_id, 15)
        ]

    async with signed_in_client(app, world.a.users["manager"].email) as mia:
        await mia.post(url, json={"text": "Goede oefeningen met rollenspel."})
        listed = (await mia.get(url)).json()
        assert [t["display_name"] for t in listed] == ["Mia Acme", "Sam Acme"], "newest first"
        assert [t["mine"] for t in listed] == [True, False]


async def test_validation_and_unknown_courses(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.a.users["employee"].email) as client:
        url = f"/api/v1/courses/{world.a.course_id}/testimonials"
        for body in (
            {"text": "Te kort"},
            {"text": "          x         "},
            {"text": "x" * 1001},
            {},
            {"text": "Lang genoeg maar", "organisation_id": world.b.id},
        ):
            response = await client.post(url, json=body)
            assert response.status_code == 400, (body, response.text)
        assert (await client.get(url)).json() == []
        for course_id in (world.b.course_id, 2**31, 999_999):
            other = f"/api/v1/courses/{course_id}/testimonials"
            assert (await client.get(other)).status_code == 404
            response = await client.post(other, json={"text": "Mag ik hier iets over zeggen?"})
            assert response.status_code == 404


async def test_other_organisation_sees_nothing(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    url_a = f"/api/v1/courses/{world.a.course_id}/testimonials"
    async with signed_in_client(app, world.a.users["employee"].email) as sam_a:
        created = await sam_a.post(url_a, json={"text": "Alleen voor Acme bedoeld."})
        assert created.status_code == 201
    async with ctx.sessionmaker() as session:
        session.add(
            User(
                organisation_id=world.b.id,
                email="gus@globex.example",
                display_name="Gus Globex",
                password_hash=hash_password(PASSWORD, ctx.settings.password_cost),
                roles=["employee"],
            )
        )
        await session.commit()
    async with signed_in_client(app, "gus@globex.example") as gus:
        response = await gus.get(url_a)
        assert response.status_code == 404 and "Acme" not in response.text
        write = await gus.post(url_a, json={"text": "Ik schrijf bij de buren."})
        assert write.status_code == 404
        own = await gus.get(f"/api/v1/courses/{world.b.course_id}/testimonials")
        assert own.status_code == 200 and own.json() == []
    async with signed_in_client(app, world.a.users["employee"].email) as sam_a:
        assert [t["text"] for t in (await sam_a.get(url_a)).json()] == ["Alleen voor Acme bedoeld."]


async def test_api_keys_read_but_do_not_write(app: Litestar, world: World) -> None:
    url = f"/api/v1/courses/{world.a.course_id}/testimonials"
    async with AsyncTestClient(app=app) as client:
        client.headers["Authorization"] = f"Bearer {world.a.api_key}"
        assert (await client.get(url)).status_code == 200
        response = await client.post(url, json={"text": "Een sleutel heeft geen mening."})
        assert response.status_code == 403
    async with AsyncTestClient(app=app) as anonymous:
        assert (await anonymous.get(url)).status_code == 401
