"""The settings page: one form with one Save for the preferences, pauses, my data, deleting."""

import re
import uuid

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import LearningEvent, User
from tests.factories import GLOBEX_SAM_PASSWORD, World, signed_in_client


def _token(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


# what each section's error says (in Dutch, Sam's language)
FIELD_ERRORS = {
    "goal": "Kies een weekdoel tussen 0 en 1200 minuten.",
    "language": "Kies een taal.",
    "timezone": "Kies een tijdzone.",
    "delete": "Typ VERWIJDER om te bevestigen.",
}


async def _post(client: AsyncTestClient[Litestar], **fields: str) -> httpx.Response:
    page = await client.get("/settings")
    return await client.post(
        "/settings", data={"_csrf_token": _token(page.text), **fields}, follow_redirects=False
    )


async def test_anonymous_visitors_go_to_sign_in(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/settings", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    await client.get("/")
    token = client.cookies.get("learnloop_csrf") or ""
    posted = await client.post(
        "/settings",
        data={"_csrf_token": token, "section": "goal", "weekly_goal": "90"},
        follow_redirects=False,
    )
    assert posted.status_code == 303 and posted.headers["location"] == "/"


async def test_today_links_to_settings_and_the_page_shows_every_section(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        assert 'href="/settings"' in (await sam.get("/")).text
        page = await sam.get("/settings")
        assert page.status_code == 200
        for text in (
            "Instellingen",
            "Taal",
            "Tijdzone",
            "Weekdoel",
            "Alleen jij ziet je eigen plek tenzij je meedoet",
            'href="/api/v1/me/export"',
            "VERWIJDER",
        ):
            assert text in page.text, text
        assert 'value="Europe/Amsterdam" selected' in page.text
        assert 'name="weekly_goal"' in page.text and 'value="60"' in page.text


# everything the preferences form posts when Sam changes nothing (the page's own values)
UNCHANGED = {
    "section": "preferences",
    "reminder_time": "",
    "quiet_hours_start": "21:00",
    "quiet_hours_end": "08:00",
    "weekly_goal": "60",
    "locale": "nl",
    "timezone": "Europe/Amsterdam",
}


async def test_one_save_stores_every_preference_and_says_saved(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        page = (await sam.get("/settings")).text
        # one Save for all preferences; pauses and deleting are actions of their own
        assert page.count('<button type="submit" class="button button-primary">') == 1
        assert page.count('name="section" value="preferences"') == 1
        assert 'id="saved"' in page and "Opgeslagen." not in page
        saved = await sam.post(
            "/settings",
            data={
                "_csrf_token": _token(page),
                **UNCHANGED,
                "reminder_time": "07:45",
                "quiet_hours_start": "21:30",
                "weekly_goal": "150",
                "locale": "en",
                "timezone": "Europe/London",
                "leaderboard_opt_in": "on",
                "kinds": ["reminder", "badge"],
            },
            follow_redirects=False,
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == "/settings?saved=preferences#saved"
        me = (await sam.get("/api/v1/me")).json()
        assert me["reminder_time"] == "07:45" and me["quiet_hours_start"] == "21:30"
        assert me["locale"] == "en" and me["timezone"] == "Europe/London"
        assert me["leaderboard_opt_in"] is True
        assert "badge" not in me["nudge_kinds_off"] and "kudos" in me["nudge_kinds_off"]
        # the confirmation takes the focus, so a screen reader reads it, in the new language
        after = (await sam.get("/settings?saved=preferences")).text
        assert '<html lang="en">' in after
        assert re.search(
            r'<p id="saved" class="saved-note" role="status" tabindex="-1" autofocus>'
            r"<svg[^>]*>.*?</svg>Saved\.</p>",
            after,
        )
        assert 'value="150"' in after and "0 of 150 minutes" in (await sam.get("/")).text


async def test_an_error_says_what_is_wrong_next_to_each_field_and_keeps_my_choices(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        before = (await sam.get("/api/v1/me")).json()
        chosen = {
            **UNCHANGED,
            "weekly_goal": "5000",
            "timezone": "Mars/Olympus",
            "locale": "en",
            "leaderboard_opt_in": "on",
        }
        response = await _post(sam, **chosen)
        assert response.status_code == 400
        for section in ("goal", "timezone"):
            error = f'<p id="{section}-error" class="field-error">{FIELD_ERRORS[section]}</p>'
            assert error in response.text, section
        assert response.text.count('aria-invalid="true"') == 2
        # the first field that needs a change takes the focus; the save bar says why
        assert re.search(
            r'<input id="weekly-goal"[^>]*aria-invalid="true" autofocus>', response.text
        )
        assert response.text.count(" autofocus") == 1
        assert "Niet opgeslagen: kijk de gemarkeerde velden na." in response.text
        # what Sam chose is still there to correct, and nothing was saved
        assert 'value="5000"' in response.text
        assert '<option value="en" lang="en" selected>' in response.text
        assert 'name="leaderboard_opt_in" type="checkbox" checked' in response.text
        assert "Opgeslagen." not in response.text
        assert (await sam.get("/api/v1/me")).json() == before


async def test_language_change_re_renders_in_english(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        # a page from before the single form (a service worker's copy) posts one group
        saved = await _post(sam, section="language", locale="en")
        assert saved.status_code == 303
        assert saved.headers["location"] == "/settings?saved=language#saved"
        page = await sam.get("/settings?saved=language")
        assert '<html lang="en">' in page.text and "Settings" in page.text
        assert "Saved." in page.text and "DELETE" in page.text
        assert (await sam.get("/api/v1/me")).json()["locale"] == "en"


async def test_weekly_goal_shows_on_today(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        saved = await _post(sam, section="goal", weekly_goal="150")
        assert saved.status_code == 303
        assert "0 van 150 minuten" in (await sam.get("/")).text
        assert 'value="150"' in (await sam.get("/settings")).text


async def test_timezone_and_leaderboard_are_saved(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        assert (await sam.get("/api/v1/me")).json()["leaderboard_opt_in"] is False
        await _post(sam, section="leaderboard", leaderboard_opt_in="on")
        me = (await sam.get("/api/v1/me")).json()
        assert me["leaderboard_opt_in"] is True
        await _post(sam, section="leaderboard")  # an unticked box is not sent at all
        assert (await sam.get("/api/v1/me")).json()["leaderboard_opt_in"] is False
        await _post(sam, section="timezone", timezone="Europe/London")
        assert (await sam.get("/api/v1/me")).json()["timezone"] == "Europe/London"
        assert 'value="Europe/London" selected' in (await sam.get("/settings")).text


async def test_bad_input_shows_an_error_and_saves_nothing(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        before = (await sam.get("/api/v1/me")).json()
        # a field's error shows under that field, which is marked invalid
        for fields in (
            {"section": "goal", "weekly_goal": "abc"},
            {"section": "goal", "weekly_goal": "5000"},
            {"section": "language", "locale": "fr"},
            {"section": "timezone", "timezone": "Mars/Olympus"},
            {"section": "delete", "confirm": "DELETE"},
        ):
            section = fields["section"]
            response = await _post(sam, **fields)
            assert response.status_code == 400, fields
            error = f'<p id="{section}-error" class="field-error">{FIELD_ERRORS[section]}</p>'
            assert error in response.text, fields
            assert response.text.count('aria-invalid="true"') == 1, fields
            assert 'role="alert"' not in response.text, fields
        # a form the page does not have: an error for the whole page
        response = await _post(sam, section="nonsense")
        assert response.status_code == 400
        assert '<p class="alert" role="alert">Er ging iets mis.</p>' in response.text
        assert 'aria-invalid="true"' not in response.text
        assert (await sam.get("/api/v1/me")).json() == before
        assert 'value="60"' in (await sam.get("/settings")).text


async def test_a_form_without_csrf_token_is_refused(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        del sam.headers["x-csrf-token"]
        response = await sam.post(
            "/settings", data={"section": "goal", "weekly_goal": "90"}, follow_redirects=False
        )
        assert response.status_code == 403
        assert 'value="60"' in (await sam.get("/settings")).text


async def test_deleting_my_account_signs_me_out_and_removes_my_data(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sam_id = world.a.users["employee"].id
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        moment = {"client_id": str(uuid.uuid4()), "what": "Tips from a colleague", "minutes": 5}
        assert (await sam.post("/api/v1/me/moments", json=moment)).status_code == 201
        gone = await _post(sam, section="delete", confirm="VERWIJDER")
        assert gone.status_code == 303
        assert gone.headers["location"] == "/?goodbye=1&lang=nl"
        goodbye = await sam.get("/?goodbye=1&lang=nl")
        assert "Je account en al je gegevens zijn verwijderd" in goodbye.text
        assert 'type="password"' in goodbye.text, "signed out: the sign-in form"
        assert (await sam.get("/settings", follow_redirects=False)).status_code == 303
    async with ctx.sessionmaker() as session:
        assert (await session.exec(select(User).where(User.id == sam_id))).first() is None
        events = await session.exec(select(LearningEvent).where(LearningEvent.user_id == sam_id))
        assert events.all() == []
    async with AsyncTestClient(app=app) as again:
        page = await again.get("/")
        # Acme's Sam is gone: the address now only opens Globex's account (with its password)
        login = await again.post(
            "/login",
            data={
                "email": world.email("a", "employee"),
                "password": GLOBEX_SAM_PASSWORD,
                "_csrf_token": _token(page.text),
            },
            follow_redirects=False,
        )
        assert login.status_code == 303
        assert "Globex" in (await again.get("/")).text


async def test_last_ld_admin_cannot_delete_their_account_here_either(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        response = await _post(lou, section="delete", confirm="VERWIJDER")
        assert response.status_code == 409
        assert "laatste L&amp;D-admin" in response.text
        assert (await lou.get("/api/v1/me")).status_code == 200
