"""Signing out, and "sign out everywhere", end every copy of a session cookie: a cookie
copied before (another device, a stolen copy) stops working at once, on any app process."""

from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.auth.middleware import (
    SESSION_ORG,
    SESSION_PASSWORD_VERSION,
    SESSION_USER,
    password_version,
)
from backend.auth.sessions import SessionCookieConfig
from backend.context import AppContext
from tests.factories import World, sign_in, signed_in_client


async def _copy(app: Litestar, of: AsyncTestClient[Litestar]) -> AsyncTestClient[Litestar]:
    """Another browser holding the same cookies (a copy of the session cookie)."""
    other = AsyncTestClient(app=app)
    await other.__aenter__()
    for name, value in of.cookies.items():
        other.cookies.set(name, value)
    other.headers["x-csrf-token"] = of.headers["x-csrf-token"]
    return other


async def test_signing_out_ends_every_copy_of_the_cookie(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with signed_in_client(app, "sam@example.com") as phone:
        laptop = await _copy(app, phone)
        # the copy works on another app process of the same installation too
        other_process = create_app(context=ctx)
        async with AsyncTestClient(app=other_process) as elsewhere:
            for name, value in phone.cookies.items():
                elsewhere.cookies.set(name, value)
            assert (await elsewhere.get("/api/v1/me")).status_code == 200
            assert (await laptop.get("/api/v1/me")).status_code == 200
            assert (await phone.post("/api/v1/auth/logout")).status_code == 204
            assert (await laptop.get("/api/v1/me")).status_code == 401
            assert (await elsewhere.get("/api/v1/me")).status_code == 401
        await laptop.__aexit__(None, None, None)
    # signing in again starts a new session that works
    async with signed_in_client(app, "sam@example.com") as again:
        assert (await again.get("/api/v1/me")).status_code == 200


async def test_the_form_sign_out_ends_the_copies_too(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "sam@example.com") as phone:
        laptop = await _copy(app, phone)
        token = phone.cookies.get("learnloop_csrf") or ""
        answer = await phone.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
        assert answer.status_code == 303
        assert (await laptop.get("/api/v1/me")).status_code == 401
        await laptop.__aexit__(None, None, None)


async def test_an_admin_signs_a_person_out_everywhere(app: Litestar, world: World) -> None:
    sam_id = world.a.users["employee"].id
    async with (
        signed_in_client(app, "sam@example.com") as phone,
        signed_in_client(app, "sam@example.com") as laptop,
        signed_in_client(app, "manager@acme.example") as colleague,
        signed_in_client(app, "ld@acme.example") as admin,
    ):
        ended = await admin.post(f"/api/v1/users/{sam_id}/sign-out-everywhere")
        assert ended.status_code == 200 and ended.json() == {"ended": 2}
        assert (await phone.get("/api/v1/me")).status_code == 401
        assert (await laptop.get("/api/v1/me")).status_code == 401
        assert (await colleague.get("/api/v1/me")).status_code == 200  # only Sam
        log = (await admin.get("/api/v1/audit", params={"q": "everywhere"})).json()
        assert any(e["action"] == "user.sign_out_everywhere" for e in log["items"])
        # another organisation's admin cannot reach Sam
    async with signed_in_client(app, world.email("b", "ld_admin")) as globex:
        refused = await globex.post(f"/api/v1/users/{sam_id}/sign-out-everywhere")
        assert refused.status_code == 404


async def test_a_person_signs_themselves_out_everywhere(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "sam@example.com") as phone:
        laptop = await _copy(app, phone)
        answer = await phone.post("/api/v1/me/sign-out-everywhere")
        assert answer.status_code == 200 and answer.json()["ended"] == 1
        assert (await phone.get("/api/v1/me")).status_code == 401
        assert (await laptop.get("/api/v1/me")).status_code == 401
        await laptop.__aexit__(None, None, None)


async def test_a_cookie_from_before_sessions_were_kept_signs_no_one_in(
    client: AsyncTestClient[Litestar], ctx: AppContext, world: World
) -> None:
    await sign_in(client, "sam@example.com")
    assert (await client.get("/api/v1/me")).status_code == 200
    # the same person, organisation and password version, sealed with the installation's
    # key as cookies were before sessions were kept: no session id in it
    settings = ctx.settings
    config = SessionCookieConfig(
        secret=settings.derived_key("session", 32),
        key="learnloop_session",
        max_age=settings.session_max_age_seconds,
    )
    sam = world.a.users["employee"]
    legacy = {SESSION_USER: sam.id, SESSION_ORG: sam.organisation_id}
    legacy[SESSION_PASSWORD_VERSION] = password_version(sam)
    backend = config._backend_class(config)
    [sealed] = backend.dump_data(legacy)
    assert backend.load_data([sealed]) == legacy  # a cookie the app can open
    client.cookies.set("learnloop_session", sealed.decode())
    assert (await client.get("/api/v1/me")).status_code == 401
