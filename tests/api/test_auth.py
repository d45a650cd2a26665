"""Signing in and out, sessions, CSRF and login throttling."""

import base64

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import PASSWORD, World, sign_in, signed_in_client


async def test_employee_signs_in_and_sees_own_profile(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    me = await sign_in(client, "manager@acme.example")
    assert me["display_name"] == "Mia Acme"
    response = await client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["organisation"]["name"] == "Acme"
    assert response.json()["teams"] == [
        {"id": world.a.team_id, "name": "Acme Support", "is_manager": True}
    ]


async def test_same_email_in_two_organisations_signs_into_the_one_whose_password_matches(
    app: Litestar, world: World, ctx
) -> None:
    from sqlmodel import select

    from backend.auth.passwords import TEST_HASH_COST, hash_password
    from backend.db.models import User

    async with ctx.sessionmaker() as session:
        globex_sam = (
            await session.exec(
                select(User).where(
                    User.organisation_id == world.b.id, User.email == "sam@example.com"
                )
            )
        ).one()
        globex_sam.password_hash = hash_password("another long password", TEST_HASH_COST)
        session.add(globex_sam)
        await session.commit()
    async with signed_in_client(app, "sam@example.com", "another long password") as client:
        assert (await client.get("/api/v1/me")).json()["organisation"]["name"] == "Globex"
    async with signed_in_client(app, "sam@example.com", PASSWORD) as client:
        assert (await client.get("/api/v1/me")).json()["organisation"]["name"] == "Acme"


async def test_wrong_password_is_refused_with_a_clear_message(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    await client.get("/")
    token = client.cookies.get("learnloop_csrf")
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": "ld@acme.example", "password": "nope"},
        headers={"x-csrf-token": token},
    )
    assert response.status_code == 401
    assert "not correct" in response.json()["detail"]
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_repeated_failed_logins_are_throttled(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    await client.get("/")
    headers = {"x-csrf-token": client.cookies.get("learnloop_csrf") or ""}
    statuses = []
    for _ in range(6):
        response = await client.post(
            "/api/v1/auth/login",
            json={"email": "ld@acme.example", "password": "guess"},
            headers=headers,
        )
        statuses.append(response.status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    assert int(response.headers["retry-after"]) > 0
    # even the right password waits out the delay (1 s after the fifth failure)
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": "ld@acme.example", "password": PASSWORD},
        headers=headers,
    )
    assert response.status_code == 429


async def test_cookie_write_without_csrf_token_is_refused(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as client:
        del client.headers["x-csrf-token"]
        response = await client.post("/api/v1/competencies", json={"name": "Excel"})
        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]
        listed = (await client.get("/api/v1/competencies")).json()
        assert [c["name"] for c in listed] == ["Communicatie"]  # as before: no Excel


async def test_login_without_csrf_token_is_refused(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": "ld@acme.example", "password": PASSWORD}
    )
    assert response.status_code == 403


async def test_logout_ends_the_session(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "sam@example.com") as client:
        assert (await client.get("/api/v1/me")).status_code == 200
        assert (await client.post("/api/v1/auth/logout")).status_code == 204
        assert (await client.get("/api/v1/me")).status_code == 401


async def test_session_cookie_is_encrypted_and_http_only(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    await client.get("/")
    token = client.cookies.get("learnloop_csrf") or ""
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": "ld@acme.example", "password": PASSWORD},
        headers={"x-csrf-token": token},
    )
    set_cookie = response.headers["set-cookie"]
    assert "learnloop_session=" in set_cookie
    assert "HttpOnly" in set_cookie and "samesite=lax" in set_cookie.lower()
    assert "ld@acme" not in set_cookie and '"uid"' not in set_cookie


async def test_tampered_session_cookie_is_ignored(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    await sign_in(client, "ld@acme.example")
    value = client.cookies.get("learnloop_session") or ""
    client.cookies.set(
        "learnloop_session", value[:-6] + ("A" * 6 if not value.endswith("AAAAAA") else "B" * 6)
    )
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_garbled_session_cookies_mean_signed_out_not_an_error(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    await sign_in(client, "ld@acme.example")
    value = client.cookies.get("learnloop_session") or ""
    raw = base64.b64decode(value.strip('"'))
    aad = raw.find(b"additional_authenticated_data=")
    forged = [
        base64.b64encode(raw[:aad] + b"additional_authenticated_data=" + tail).decode()
        for tail in (b'{"expires_at":}', b'{"other":1}', b"[]")
    ]
    for garbled in (value[:-10], value[:20], "not base64 at all!", *forged):
        client.cookies.set("learnloop_session", garbled)
        response = await client.get("/api/v1/me")
        assert response.status_code == 401, garbled


async def test_deactivated_user_is_signed_out(app: Litestar, world: World) -> None:
    async with (
        signed_in_client(app, "sam@example.com") as employee,
        signed_in_client(app, "ld@acme.example") as admin,
    ):
        user_id = world.a.users["employee"].id
        response = await admin.patch(f"/api/v1/users/{user_id}", json={"is_active": False})
        assert response.status_code == 200
        assert (await employee.get("/api/v1/me")).status_code == 401


async def test_api_key_authenticates_an_integration(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    response = await client.get(
        "/api/v1/integration/whoami", headers={"Authorization": f"Bearer {world.a.api_key}"}
    )
    assert response.status_code == 200
    assert response.json()["organisation_name"] == "Acme"

    basic = base64.b64encode(f"lms:{world.b.api_key}".encode()).decode()
    response = await client.get(
        "/api/v1/integration/whoami", headers={"Authorization": f"Basic {basic}"}
    )
    assert response.json()["organisation_name"] == "Globex"


async def test_revoked_or_wrong_api_key_is_refused(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    bad = world.a.api_key[:-4] + "abcd"
    assert (
        await client.get("/api/v1/integration/whoami", headers={"Authorization": f"Bearer {bad}"})
    ).status_code == 401
    async with signed_in_client(app, "ld@acme.example") as admin:
        assert (await admin.delete(f"/api/v1/api-keys/{world.a.api_key_id}")).status_code == 204
    response = await client.get(
        "/api/v1/integration/whoami", headers={"Authorization": f"Bearer {world.a.api_key}"}
    )
    assert response.status_code == 401


async def test_api_key_is_shown_once_and_stored_hashed(app: Litestar, world: World, ctx) -> None:
    from sqlmodel import select

    from backend.db.models import ApiKey

    async with signed_in_client(app, "ld@acme.example") as admin:
        created = (await admin.post("/api/v1/api-keys", json={"name": "Moodle"})).json()
        assert created["key"].startswith("ll_")
        listed = (await admin.get("/api/v1/api-keys")).json()
        assert all("key" not in k for k in listed)
        assert [k["name"] for k in listed] == ["Moodle", "Acme LMS"]  # newest first
    async with ctx.sessionmaker() as session:
        stored = (await session.exec(select(ApiKey).where(ApiKey.id == created["id"]))).one()
    assert created["key"] not in stored.key_hash
    async with AsyncTestClient(app=app) as integration:
        response = await integration.get(
            "/api/v1/integration/whoami", headers={"Authorization": f"Bearer {created['key']}"}
        )
        assert response.json()["api_key_name"] == "Moodle"


async def test_the_key_list_shows_when_an_integration_last_used_its_key(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        before = {
            k["name"]: k["last_used_at"] for k in (await admin.get("/api/v1/api-keys")).json()
        }
        assert before["Acme LMS"] is None
        async with AsyncTestClient(app=app) as integration:
            response = await integration.get(
                "/api/v1/integration/whoami",
                headers={"Authorization": f"Bearer {world.a.api_key}"},
            )
            assert response.status_code == 200
        after = {k["name"]: k["last_used_at"] for k in (await admin.get("/api/v1/api-keys")).json()}
    assert after["Acme LMS"] is not None


# --- the same address in two organisations, with the same password ------------------------


async def same_password_for_both_sams(ctx) -> None:  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from backend.auth.passwords import hash_password
    from backend.db.models import User

    async with ctx.sessionmaker() as session:
        for sam in (await session.exec(select(User).where(User.email == "sam@example.com"))).all():
            sam.password_hash = hash_password(PASSWORD, ctx.settings.password_cost)
            session.add(sam)
        await session.commit()


async def csrf(client: AsyncTestClient[Litestar]) -> dict[str, str]:
    await client.get("/")
    return {"x-csrf-token": client.cookies.get("learnloop_csrf") or ""}


async def test_the_api_asks_which_organisation_when_the_password_fits_both(
    client: AsyncTestClient[Litestar], world: World, ctx
) -> None:
    await same_password_for_both_sams(ctx)
    headers = await csrf(client)
    login = {"email": "sam@example.com", "password": PASSWORD}
    ambiguous = await client.post("/api/v1/auth/login", json=login, headers=headers)
    assert ambiguous.status_code == 409
    assert ambiguous.json()["extra"]["organisations"] == [
        {"slug": "acme", "name": "Acme"},
        {"slug": "globex", "name": "Globex"},
    ]
    assert (await client.get("/api/v1/me")).status_code == 401  # not signed in yet
    for slug, name in (("globex", "Globex"), ("acme", "Acme")):
        response = await client.post(
            "/api/v1/auth/login", json=login | {"organisation": slug}, headers=headers
        )
        assert response.status_code == 200, response.text
        assert (await client.get("/api/v1/me")).json()["organisation"]["name"] == name
    unknown = await client.post(
        "/api/v1/auth/login", json=login | {"organisation": "initech"}, headers=headers
    )
    assert unknown.status_code == 401


async def test_the_sign_in_page_asks_which_organisation_and_keeps_next(
    client: AsyncTestClient[Litestar], world: World, ctx
) -> None:
    await same_password_for_both_sams(ctx)
    headers = await csrf(client)
    form = {"email": "sam@example.com", "password": PASSWORD, "next": "/progress"}
    choice = await client.post("/login", data=form, headers=headers)
    assert choice.status_code == 200
    assert 'value="acme"' in choice.text and 'value="globex"' in choice.text
    # a reload shows the same choice
    assert 'value="globex"' in (await client.get("/login/organisation")).text
    chosen = await client.post(
        "/login/organisation",
        data={"organisation": "globex"},
        headers=headers,
        follow_redirects=False,
    )
    assert (chosen.status_code, chosen.headers["location"]) == (303, "/progress")
    assert (await client.get("/api/v1/me")).json()["organisation"]["name"] == "Globex"


async def test_the_choice_offers_only_the_accounts_whose_password_was_right(
    client: AsyncTestClient[Litestar], world: World, ctx
) -> None:
    await same_password_for_both_sams(ctx)
    headers = await csrf(client)
    await client.post(
        "/login", data={"email": "sam@example.com", "password": PASSWORD}, headers=headers
    )
    # Lou's organisation is not Sam's to choose; a slug of nobody's either
    for slug in ("initech", ""):
        response = await client.post(
            "/login/organisation",
            data={"organisation": slug},
            headers=headers,
            follow_redirects=False,
        )
        assert response.headers["location"] == "/login"
        assert (await client.get("/api/v1/me")).status_code == 401
    # without a sign-in in progress there is nothing to choose
    gone = await client.get("/login/organisation", follow_redirects=False)
    assert gone.headers["location"] == "/login"


async def test_a_deactivated_account_drops_out_of_the_choice(
    client: AsyncTestClient[Litestar], world: World, ctx, app: Litestar
) -> None:
    await same_password_for_both_sams(ctx)
    async with signed_in_client(app, "ld@globex.example") as admin_b:
        await admin_b.patch(
            f"/api/v1/users/{world.b.users['employee'].id}", json={"is_active": False}
        )
    headers = await csrf(client)
    response = await client.post(
        "/login",
        data={"email": "sam@example.com", "password": PASSWORD},
        headers=headers,
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, "/")
    assert (await client.get("/api/v1/me")).json()["organisation"]["name"] == "Acme"


async def test_ld_admins_land_on_the_console_and_next_still_wins(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    headers = await csrf(client)
    form = {"email": "ld@acme.example", "password": PASSWORD}
    landed = await client.post("/login", data=form, headers=headers, follow_redirects=False)
    assert landed.headers["location"] == "/console"
    await client.post("/logout", headers=headers)
    headers = await csrf(client)
    again = await client.post(
        "/login", data=form | {"next": "//evil.example/"}, headers=headers, follow_redirects=False
    )
    assert again.headers["location"] == "/console"  # another host is never a target
    await client.post("/logout", headers=headers)
    headers = await csrf(client)
    to_page = await client.post(
        "/login", data=form | {"next": "/console/people"}, headers=headers, follow_redirects=False
    )
    assert to_page.headers["location"] == "/console/people"


async def test_the_forgot_password_page_answers_the_same_for_any_address(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    page = await client.get("/login")
    assert 'href="/forgot-password"' in page.text
    headers = await csrf(client)
    known = await client.post(
        "/forgot-password", data={"email": "ld@acme.example"}, headers=headers
    )
    unknown = await client.post(
        "/forgot-password", data={"email": "ld@nowhere.example"}, headers=headers
    )
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("ld@acme.example", "X") == unknown.text.replace(
        "ld@nowhere.example", "X"
    )
    bad = await client.post("/forgot-password", data={"email": "not an address"}, headers=headers)
    assert bad.status_code == 400
