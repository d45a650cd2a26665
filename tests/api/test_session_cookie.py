"""The session cookie's sliding expiry: set again on every answer, re-encrypted only when due."""

import pytest
from litestar import Litestar

from backend.auth import sessions
from tests.factories import signed_in_client


def _session_cookie(set_cookies: list[str]) -> str:
    found = [c for c in set_cookies if c.startswith("learnloop_session=")]
    assert len(found) == 1, set_cookies
    return found[0]


async def test_an_unchanged_session_gets_its_own_cookie_back_for_a_minute(
    app: Litestar, world: object
) -> None:
    async with signed_in_client(app, "sam@example.com") as client:
        issued = client.cookies.get("learnloop_session")
        first = await client.get("/api/v1/me")
        second = await client.get("/api/v1/me")
        assert first.status_code == second.status_code == 200
        again = _session_cookie(first.headers.get_list("set-cookie"))
        # the same cookie, with the same attributes: the browser keeps it max_age longer
        assert again == _session_cookie(second.headers.get_list("set-cookie"))
        assert client.cookies.get("learnloop_session") == issued
        assert "HttpOnly" in again and "Max-Age=" in again and "samesite=lax" in again.lower()


async def test_an_older_cookie_is_encrypted_afresh_and_still_signs_in(
    app: Litestar, world: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every cookie is due (its issue time is rounded to the second, so even one just issued)
    monkeypatch.setattr(sessions, "REISSUE_AFTER", -2)
    async with signed_in_client(app, "sam@example.com") as client:
        issued = client.cookies.get("learnloop_session")
        response = await client.get("/api/v1/me")
        assert response.status_code == 200
        assert client.cookies.get("learnloop_session") != issued  # a new nonce, a new expiry
        assert (await client.get("/api/v1/me")).status_code == 200


async def test_signing_out_still_clears_a_recently_issued_cookie(
    app: Litestar, world: object
) -> None:
    async with signed_in_client(app, "sam@example.com") as client:
        assert (await client.get("/api/v1/me")).status_code == 200
        response = await client.post("/api/v1/auth/logout")
        assert response.status_code == 204
        assert "learnloop_session=null" in " ".join(response.headers.get_list("set-cookie"))
        assert (await client.get("/api/v1/me")).status_code == 401
