"""First run: on an empty database the first visitor sets up the organisation in the browser."""

import asyncio

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import AuditEntry, Organisation, User
from tests.factories import World

PASSWORD = "a long first password"


async def _csrf(client: AsyncTestClient[Litestar]) -> str:
    await client.get("/")
    token = client.cookies.get("learnloop_csrf")
    assert token
    return token


def _form(token: str, **changes: str) -> dict[str, str]:
    return {
        "organisation": "Bakkerij Jansen",
        "display_name": "Els Jansen",
        "email": "els@jansen.example",
        "password": PASSWORD,
        "_csrf_token": token,
    } | changes


async def test_the_first_visitor_sets_up_the_organisation_and_lands_in_the_console(
    app: Litestar, ctx: AppContext
) -> None:
    async with AsyncTestClient(app=app) as client:
        start = await client.get("/?lang=en")
        assert "This learnloop has no organisation yet." in start.text
        assert 'href="/setup"' in start.text
        token = await _csrf(client)
        page = await client.get("/setup?lang=en")
        assert page.status_code == 200 and "its first L&D admin" in page.text

        bad = await client.post(
            "/setup?lang=en", data=_form(token, email="not an address", password="short")
        )
        assert bad.status_code == 400
        assert 'id="f-email-error"' in bad.text and "Use at least 10 characters." in bad.text
        assert 'value="Bakkerij Jansen"' in bad.text  # what was typed stays

        done = await client.post("/setup", data=_form(token), follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/console"
        console = await client.get("/console?lang=en")
        assert console.status_code == 200 and "Set up your programme" in console.text

    async with ctx.sessionmaker() as session:
        (org,) = (await session.exec(select(Organisation))).all()
        (admin,) = (await session.exec(select(User))).all()
        entries = (
            await session.exec(select(AuditEntry).where(AuditEntry.organisation_id == org.id))
        ).all()
    assert (org.name, org.slug) == ("Bakkerij Jansen", "bakkerij-jansen")
    assert admin.email == "els@jansen.example" and "ld_admin" in admin.roles
    assert [e.action for e in entries] == ["user.create"]


async def test_once_an_organisation_exists_the_set_up_is_gone(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with AsyncTestClient(app=app) as client:
        start = await client.get("/?lang=en")
        assert "no organisation yet" not in start.text
        token = await _csrf(client)
        assert (await client.get("/setup", follow_redirects=False)).status_code == 303
        again = await client.post("/setup", data=_form(token), follow_redirects=False)
        assert again.status_code == 303 and again.headers["location"] == "/"
    async with ctx.sessionmaker() as session:
        names = (await session.exec(select(Organisation.name).order_by(col(Organisation.id)))).all()
    assert names == ["Acme", "Globex"]


async def test_two_visitors_at_once_make_one_organisation(app: Litestar, ctx: AppContext) -> None:
    async with AsyncTestClient(app=app) as first, AsyncTestClient(app=app) as second:
        tokens = [await _csrf(first), await _csrf(second)]
        answers = await asyncio.gather(
            first.post("/setup", data=_form(tokens[0]), follow_redirects=False),
            second.post(
                "/setup",
                data=_form(tokens[1], organisation="Other", email="o@other.example"),
                follow_redirects=False,
            ),
        )
    assert sorted(a.headers["location"] for a in answers) == ["/", "/console"]
    async with ctx.sessionmaker() as session:
        assert len((await session.exec(select(Organisation))).all()) == 1
        assert len((await session.exec(select(User))).all()) == 1
