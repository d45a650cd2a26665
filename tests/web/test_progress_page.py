"""The learner's Progress page: level, XP per week, goals, active days and the badge wall."""

import re
import uuid
from datetime import UTC, date, datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.badges.defaults import ensure_default_badges
from backend.context import AppContext
from backend.db.models import BadgeDefinition, User
from backend.web.progress_page import intensity
from gamification import local_day
from tests.factories import World, signed_in_client


def _today() -> date:
    return local_day(datetime.now(UTC), "Europe/Amsterdam")


async def _prepare(
    ctx: AppContext, world: World, *, locale: str = "nl", badge_name: str | None = None
) -> None:
    """Give org A its default badges (optionally renaming the first-moment one) and set Sam's
    language."""
    async with ctx.sessionmaker() as session:
        await ensure_default_badges(session, world.a.id)
        if badge_name is not None:
            row = (
                await session.exec(
                    select(BadgeDefinition).where(
                        BadgeDefinition.organisation_id == world.a.id,
                        BadgeDefinition.code == "first-moment",
                    )
                )
            ).one()
            row.name = row.name_en = badge_name
            session.add(row)
        sam = (
            await session.exec(
                select(User).where(
                    User.organisation_id == world.a.id, User.email == "sam@example.com"
                )
            )
        ).one()
        sam.locale = locale
        session.add(sam)
        await session.commit()


async def _log(client: AsyncTestClient[Litestar], what: str, minutes: int) -> None:
    response = await client.post(
        "/api/v1/me/moments",
        json={"client_id": str(uuid.uuid4()), "what": what, "minutes": minutes},
    )
    assert response.status_code == 201, response.text


def _today_cell(html: str) -> str:
    match = re.search(r'<rect class="([^"]*heat-today[^"]*)" data-date="([^"]+)"', html)
    assert match, "the heatmap has a cell for today"
    assert match.group(2) == _today().isoformat()
    return match.group(1)


async def test_anonymous_visitors_are_sent_to_the_sign_in_page(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    response = await client.get("/progress", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_a_new_learner_sees_calm_empty_states(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _prepare(ctx, world)
    async with signed_in_client(app, "sam@example.com") as client:
        page = await client.get("/progress")
    assert page.status_code == 200
    html = page.text
    assert '<html lang="nl">' in html and "Voortgang" in html
    assert "Niveau 1" in html and "0 XP" in html
    assert "0 van 60 minuten" in html
    assert "Nog geen badges" in html
    assert "Nog te verdienen" in html and "<progress" in html
    assert "0 actieve dagen in de laatste 13 weken" in html
    assert "heat-0" in _today_cell(html)
    assert "Nog geen doelen met een einddatum." in html
    assert html.count('class="xp-week') == 12
    assert 'role="img"' in html and 'href="/progress" aria-current="page"' in html


async def test_logged_moments_show_up_as_xp_badge_goal_minutes_and_an_active_day(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _prepare(ctx, world)
    async with signed_in_client(app, "sam@example.com") as client:
        await _log(client, "Feedback gevraagd aan mijn team", 25)
        await _log(client, "Podcast over Excel-formules", 20)
        page = await client.get("/progress")
    html = page.text
    assert page.status_code == 200
    assert "20 XP" in html
    earned = html.split('<ul class="badge-grid">', 1)[1].split("</ul>", 1)[0]
    assert "Eerste leermoment" in earned and "Brons" in earned
    assert "45 van 60 minuten" in html
    # "Tijd voor groei" counts hours, as its sentence says, not minutes
    assert "Leer in totaal 5 uur" in html and "0,8 van 5 uur" in html
    assert "45 van 300" not in html
    assert "1 actieve dag in de laatste 13 weken" in html
    assert "heat-3" in _today_cell(html)  # 45 minutes: the third of four steps


def _paces(html: str) -> list[tuple[str, str]]:
    """Each goal's pace on the page (the weekly goal first), as its class and its words."""
    return re.findall(r'<span class="pace pace-(\w+)">([^<]+)</span>', html)


async def test_the_pace_of_my_goals_is_put_in_words(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _prepare(ctx, world)
    async with signed_in_client(app, "sam@example.com") as client:
        # nothing learned yet, but Sam only just joined: not behind on the first day
        assert (await client.put("/api/v1/me/goals/weekly", json={"minutes": 1200})).is_success
        assert _paces((await client.get("/progress")).text) == [("on_track", "Op schema")]

        moment = {
            "client_id": str(uuid.uuid4()),
            "what": "Feedback gevraagd aan mijn team",
            "minutes": 30,
            "competency_id": world.a.competency_id,
        }
        assert (await client.post("/api/v1/me/moments", json=moment)).status_code == 201
        assert (await client.put("/api/v1/me/goals/weekly", json={"minutes": 30})).is_success
        # set today, one of three already done: ahead of the time that has passed
        dated = {
            "kind": "competency_events",
            "competency_id": world.a.competency_id,
            "count": 3,
            "due_on": (_today() + timedelta(days=30)).isoformat(),
        }
        assert (await client.post("/api/v1/me/goals", json=dated)).status_code == 201
        page = await client.get("/progress")
    assert _paces(page.text) == [("done", "Gehaald"), ("ahead", "Voor op schema")]


async def test_an_english_learner_reads_english(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _prepare(ctx, world, locale="en")
    async with signed_in_client(app, "sam@example.com") as client:
        await _log(client, "Asked my team for feedback", 10)
        page = await client.get("/progress")
    html = page.text
    assert '<html lang="en">' in html
    assert "Your progress" in html and "XP per week" in html and "Active days" in html
    assert "10 of 60 minutes" in html
    assert "Learn for 5 hours in total" in html and "0.2 of 5 hours" in html
    assert "1 active day in the last 13 weeks" in html
    assert "First learning moment" in html and "Bronze" in html
    assert "Voortgang" not in html


async def test_badge_names_are_escaped(app: Litestar, ctx: AppContext, world: World) -> None:
    await _prepare(ctx, world, badge_name="<script>alert('x')</script> Eerste")
    async with signed_in_client(app, "sam@example.com") as client:
        await _log(client, "<script>alert('y')</script> iets geleerd", 5)
        page = await client.get("/progress")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Eerste" in page.text
    assert "<script>alert" not in page.text


def test_intensity_has_four_steps() -> None:
    assert [intensity(m) for m in (0, 1, 14, 15, 29, 30, 59, 60, 480)] == [
        0,
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
    ]


async def test_the_page_shows_only_my_own_organisation(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _prepare(ctx, world, badge_name="Acme-only pioneer")
    async with signed_in_client(app, world.email("a", "manager")) as mia_a:
        await _log(mia_a, "Acme-only onboarding notes", 45)
        assert "Acme-only pioneer" in (await mia_a.get("/progress")).text
    async with signed_in_client(app, world.email("b", "manager")) as mia_b:
        page = await mia_b.get("/progress")
    assert page.status_code == 200
    assert "Acme-only" not in page.text and "Acme" not in page.text
    assert "Je organisatie heeft nog geen badges." in page.text  # org B has none of A's
    assert "0 XP" in page.text and "0 actieve dagen" in page.text
