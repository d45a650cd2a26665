"""Logging a learning moment on /log: online, offline (queued in IndexedDB) and without JS."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from playwright.async_api import BrowserContext, Page, expect
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import LearningEvent
from tests.browser.test_pwa_shell import (
    screenshot,
    service_worker_ready,
    sign_in,
    wait_until_cached,
)
from tests.factories import PASSWORD, World, signed_in_client


async def moments(ctx: AppContext, what: str) -> list[LearningEvent]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(LearningEvent).where(LearningEvent.title == what, LearningEvent.source == "pwa")
        )
        return list(rows.all())


def watch_console(page: Page) -> list[str]:
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.mark.browser
async def test_logging_a_moment_online_shows_xp_and_today_has_the_minutes(
    page: Page, live_server: str, world: World, ctx: AppContext
) -> None:
    errors = watch_console(page)
    await sign_in(page, live_server)
    await page.get_by_role("link", name="Leermoment vastleggen").first.click()
    await expect(page).to_have_title("Leermoment vastleggen · learnloop")
    await expect(page.get_by_role("link", name="Vastleggen")).to_have_attribute(
        "aria-current", "page"
    )
    await page.get_by_label("Wat heb je geleerd?").fill("Een retro begeleiden")
    await page.locator("label[for=minutes-30]").click()
    await page.get_by_label("Competentie").select_option(label="Communicatie")
    await page.get_by_role("button", name="Moment vastleggen").click()

    done = page.locator("#log-done")
    await expect(done).to_be_visible()
    await expect(done).to_contain_text(re.compile(r"Mooi! \+\d+ XP"))
    await expect(done).to_contain_text("30 van 60 minuten deze week")
    assert await page.get_by_label("Wat heb je geleerd?").input_value() == "", "ready for the next"
    [event] = await moments(ctx, "Een retro begeleiden")
    assert event.minutes == 30 and event.competency_id == world.a.competency_id

    await page.get_by_role("link", name="Naar Vandaag").click()
    await expect(page.locator("h1.greeting")).to_contain_text("Sam")
    await expect(page.get_by_text("30 van 60 minuten")).to_be_visible()
    assert errors == [], "no CSP violations or script errors"


@pytest.mark.browser
async def test_a_moment_logged_offline_is_sent_once_when_back_online(
    browser: BrowserContext, page: Page, live_server: str, world: World, ctx: AppContext
) -> None:
    errors = watch_console(page)
    await sign_in(page, live_server)
    await service_worker_ready(page)
    for path in ("/", "/log"):  # through the service worker, which keeps a copy
        await page.goto(f"{live_server}{path}")
        await wait_until_cached(page, path)
    connection = page.locator("#connection")
    await expect(connection).to_be_hidden()

    await browser.set_offline(True)
    await page.reload()  # the cached page, with log.js from the precached shell
    offline = re.compile(r"^Je bent offline\. Laatst bijgewerkt: \d\d:\d\d\.$")
    await expect(connection.locator("[data-connection-offline]")).to_have_text(offline)
    await page.get_by_label("Wat heb je geleerd?").fill("Podcast over toegankelijkheid")
    await page.get_by_label("Of een ander aantal minuten").fill("20")
    await page.get_by_role("button", name="Moment vastleggen").click()
    await expect(page.locator("#log-status")).to_have_text(
        "Bewaard — we versturen het zodra je weer online bent."
    )
    waiting = connection.locator("[data-connection-waiting]")
    await expect(waiting).to_have_text("1 leermoment wacht op verzending.")
    assert len(await page.evaluate("window.learnloopOutbox.queued()")) == 1
    assert await moments(ctx, "Podcast over toegankelijkheid") == []
    # Today's copy says it is one, from when, and what is still waiting
    await page.goto(f"{live_server}/")
    await expect(connection.locator("[data-connection-offline]")).to_have_text(offline)
    await expect(waiting).to_have_text("1 leermoment wacht op verzending.")
    await page.goto(f"{live_server}/log")

    await browser.set_offline(False)  # the "online" event sends the outbox
    await expect(page.locator("#outbox-status")).to_have_text(
        "Je bewaarde leermomenten zijn verstuurd."
    )
    await expect(connection).to_be_hidden()
    assert await page.evaluate("window.learnloopOutbox.queued()") == []
    [event] = await moments(ctx, "Podcast over toegankelijkheid")
    assert event.minutes == 20

    # a later page load finds nothing left to send; even a resend of the same id counts once
    await page.reload()
    await page.evaluate("window.learnloopOutbox.flush()")
    status = await page.evaluate(
        """async (moment) => {
            const token = document.cookie.match(/learnloop_csrf=([^;]*)/)[1];
            const response = await fetch('/api/v1/me/moments', {
              method: 'POST',
              headers: {'content-type': 'application/json', 'x-csrf-token': token},
              body: JSON.stringify(moment),
            });
            return response.status;
        }""",
        event.payload,
    )
    assert status == 200, "the same client id and content is a duplicate, not a new moment"
    assert len(await moments(ctx, "Podcast over toegankelijkheid")) == 1
    await page.goto(f"{live_server}/")
    await expect(page.get_by_text("20 van 60 minuten")).to_be_visible()
    await expect(connection).to_be_hidden()
    assert errors == []


@pytest.mark.browser
async def test_log_page_fits_a_phone_in_both_languages(
    page: Page, live_server: str, world: World, tmp_path: Path
) -> None:
    await sign_in(page, live_server)
    for lang, title in (("nl", "Leermoment vastleggen"), ("en", "Log a learning moment")):
        await page.goto(f"{live_server}/log?lang={lang}")
        await expect(page.get_by_role("heading", level=1)).to_have_text(title)
        overflow = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, f"/log fits a phone screen ({lang})"
        await screenshot(page, f"log-{lang}", tmp_path)
    await page.get_by_role("button", name="Log moment").click()
    await expect(page.locator("#what-error")).to_have_text(
        "Write down in a few words what you learned."
    )
    await screenshot(page, "log-en-error", tmp_path)


# ---------------------------------------------------------------------------------------------
# without JavaScript: the form posts to /log


def _field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"the form has a {name} field"
    return match.group(1)


async def _signed_in(client: AsyncTestClient[Litestar]) -> None:
    page = await client.get("/")
    response = await client.post(
        "/login",
        data={
            "email": "sam@example.com",
            "password": PASSWORD,
            "_csrf_token": _field(page.text, "_csrf_token"),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303


async def test_the_form_works_without_javascript_and_a_double_submit_counts_once(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    anonymous = await client.get("/log", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/"
    await _signed_in(client)
    page = await client.get("/log")
    assert page.status_code == 200 and "Wat heb je geleerd?" in page.text
    assert "Communicatie" in page.text and "Mia Acme" in page.text, "competency and colleague"
    assert "Globex" not in page.text
    form = {
        "_csrf_token": _field(page.text, "_csrf_token"),
        "client_id": _field(page.text, "client_id"),
        "what": "Pair programming met Mia",
        "minutes": "15",
        "minutes_other": "",
        "competency_id": str(world.a.competency_id),
        "colleague_id": str(world.a.users["manager"].id),
    }
    first = await client.post("/log", data=form, follow_redirects=False)
    assert first.status_code == 303
    assert re.fullmatch(r"/\?logged=\d+", first.headers["location"])
    xp = first.headers["location"].split("=")[1]
    again = await client.post("/log", data=form, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/?logged=0"
    [event] = await moments(ctx, "Pair programming met Mia")
    assert event.minutes == 15 and event.payload["colleague_id"] == world.a.users["manager"].id

    today = await client.get(f"/?logged={xp}")
    assert f"Mooi! +{xp} XP" in today.text and "15 van 60 minuten" in today.text


async def test_the_form_without_javascript_shows_errors_next_to_the_fields(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    await _signed_in(client)
    page = await client.get("/log?lang=en")
    form = {
        "_csrf_token": _field(page.text, "_csrf_token"),
        "client_id": _field(page.text, "client_id"),
        "what": "x",
        "minutes_other": "999",
        "competency_id": "999999",
    }
    response = await client.post("/log?lang=en", data=form)
    assert response.status_code == 400
    assert 'id="what-error" class="field-error">Write down in a few words' in response.text
    assert "between 1 and 480" in response.text and "Choose a competency" in response.text
    assert 'value="999"' in response.text, "what was typed is kept"
    missing_token = await client.post("/log", data={**form, "_csrf_token": "nope"})
    assert missing_token.status_code == 403
    async with ctx.sessionmaker() as session:
        count = (
            await session.exec(select(LearningEvent).where(col(LearningEvent.source) == "pwa"))
        ).all()
    assert count == []


async def test_the_form_refuses_the_moments_the_api_refuses_and_says_why(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    await _signed_in(client)
    page = await client.get("/log?lang=en")
    form = {
        "_csrf_token": _field(page.text, "_csrf_token"),
        "client_id": _field(page.text, "client_id"),
        "what": "Een podcast over AI",
        "minutes": "15",
    }
    now = datetime.now(UTC)
    future = (now + timedelta(hours=1)).isoformat()
    old = (now - timedelta(days=31)).isoformat()
    refused = {
        when: await client.post("/log?lang=en", data={**form, "occurred_at": when})
        for when in (future, old, "yesterday")
    }
    assert [r.status_code for r in refused.values()] == [400, 400, 400]
    assert "A learning moment cannot be in the future." in refused[future].text
    assert "Moments older than 30 days cannot be logged." in refused[old].text
    assert "Give the time of the moment as a date, time and timezone." in refused["yesterday"].text
    assert 'id="occurred-at-error"' in refused[future].text
    dutch = await client.post("/log", data={**form, "occurred_at": future})
    assert "Een leermoment kan niet in de toekomst liggen." in dutch.text
    async with signed_in_client(app, "sam@example.com") as sam:
        api = await sam.post(
            "/api/v1/me/moments",
            json={"client_id": form["client_id"], "what": form["what"], "minutes": 15,
                  "occurred_at": future},
        )  # fmt: skip
    assert api.status_code == 400
    assert api.json()["detail"] == "occurred_at: A learning moment cannot be in the future."
    assert await moments(ctx, "Een podcast over AI") == []
