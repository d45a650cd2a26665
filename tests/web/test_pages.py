"""The server-rendered pages: sign-in form and the learner's Today page."""

import re
import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient

from pwa.i18n import negotiate
from tests.factories import PASSWORD, World


def _form_token(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


async def test_login_page_speaks_dutch_by_default_and_english_on_request(
    client: AsyncTestClient[Litestar],
) -> None:
    dutch = await client.get("/")
    assert dutch.status_code == 200
    assert '<html lang="nl">' in dutch.text and "Inloggen" in dutch.text
    english = await client.get("/", headers={"accept-language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in english.text and "Sign in" in english.text
    switched = await client.get("/?lang=en")
    assert "Welcome back" in switched.text
    assert "Welcome back" in (await client.get("/")).text, "the language choice is remembered"


def test_accept_language_negotiation_respects_quality() -> None:
    assert negotiate("fr-FR, en;q=0.5, nl;q=0.8") == "nl"
    assert negotiate("de, fr") == "nl"
    assert negotiate("en-US") == "en"
    assert negotiate(None) == "nl"


async def test_form_login_lands_on_today_with_the_learners_numbers(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    page = await client.get("/")
    response = await client.post(
        "/login",
        data={
            "email": "sam@example.com",
            "password": PASSWORD,
            "_csrf_token": _form_token(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/"
    today = await client.get("/")
    assert "Sam" in today.text and "Uitloggen" in today.text
    assert "Begin vandaag je eerste week" in today.text and "0 van 60 minuten" in today.text
    assert "0 weken op rij" not in today.text
    token = client.cookies.get("learnloop_csrf") or ""
    moment = {
        "client_id": str(uuid.uuid4()),
        "what": "Feedback gevraagd aan mijn team",
        "minutes": 25,
    }
    assert (
        await client.post("/api/v1/me/moments", json=moment, headers={"x-csrf-token": token})
    ).status_code == 201
    today = await client.get("/")
    assert "25 van 60 minuten" in today.text
    assert "10 XP" in today.text
    assert "Feedback gevraagd aan mijn team" in today.text


async def test_wrong_password_shows_the_form_again_with_a_message(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    page = await client.get("/")
    response = await client.post(
        "/login",
        data={
            "email": "sam@example.com",
            "password": "wrong",
            "_csrf_token": _form_token(page.text),
        },
    )
    assert response.status_code == 401
    assert "horen niet bij elkaar" in response.text
    assert 'value="sam@example.com"' in response.text


async def test_form_login_without_csrf_token_is_refused(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    await client.get("/")
    response = await client.post("/login", data={"email": "sam@example.com", "password": PASSWORD})
    assert response.status_code == 403
    assert "Uitloggen" not in (await client.get("/")).text


async def test_today_shows_recent_learning_escaped(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    page = await client.get("/")
    await client.post(
        "/login",
        data={
            "email": "sam@example.com",
            "password": PASSWORD,
            "_csrf_token": _form_token(page.text),
        },
    )
    token = client.cookies.get("learnloop_csrf") or ""
    moment = {
        "client_id": str(uuid.uuid4()),
        "what": "<script>alert('x')</script> Excel-trucs",
        "minutes": 25,
    }
    logged = await client.post("/api/v1/me/moments", json=moment, headers={"x-csrf-token": token})
    assert logged.status_code == 201, logged.text
    today = await client.get("/")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Excel-trucs" in today.text
    assert "<script>alert" not in today.text
    assert "25 minuten" in today.text


async def test_logout_form_signs_out(client: AsyncTestClient[Litestar], world: World) -> None:
    page = await client.get("/")
    await client.post(
        "/login",
        data={
            "email": "sam@example.com",
            "password": PASSWORD,
            "_csrf_token": _form_token(page.text),
        },
    )
    today = await client.get("/")
    response = await client.post(
        "/logout", data={"_csrf_token": _form_token(today.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert "Welkom terug" in (await client.get("/")).text


async def test_unknown_page_is_a_friendly_404_in_the_browser(
    client: AsyncTestClient[Litestar],
) -> None:
    response = await client.get("/does-not-exist", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert "Pagina niet gevonden" in response.text
    api = await client.get("/api/v1/nope")
    assert api.status_code == 404 and api.json()["status_code"] == 404
