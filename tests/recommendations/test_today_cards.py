"""Today's "Your next steps": three cards with reasons, nl and en, and "not for me"."""

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.context import AppContext
from tests.factories import World, signed_in_client
from tests.recommendations.test_recommendations_api import build_catalogue


def _cards(html: str) -> list[tuple[str, str]]:
    """(title, reason) of each recommendation card, in order."""
    return re.findall(
        r'class="item-title reco-title" href="/catalogue/\d+">([^<]+)</a>\s*'
        r'<span class="muted reco-reason">([^<]+)</span>',
        html,
    )


def _token(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


async def test_today_shows_three_next_steps_with_reasons_in_dutch_and_english(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await build_catalogue(app, ctx, world)
    async with signed_in_client(app, world.email("a", "employee")) as client:
        page = await client.get("/")
        assert "Je volgende stappen" in page.text
        assert _cards(page.text) == [
            ("Feedback geven (Acme)", "Communicatie hoort bij je functie en is nieuw voor je"),
            ("AVG in de praktijk", "1 collega uit je team raadt het aan"),
            ("Excel", "Een vaardigheid waar nu veel vraag naar is"),
        ]
        english = await client.get("/?lang=en")
        assert "Your next steps" in english.text
        assert _cards(english.text) == [
            ("Feedback geven (Acme)", "Communicatie belongs to your role and is new for you"),
            ("AVG in de praktijk", "1 colleague in your team recommends it"),
            ("Excel", "A skill much in demand right now"),
        ]
        today = (await client.get("/api/v1/me/today")).json()
        assert [r["reason"] for r in today["recommendations"]] == [
            "expected_competency",
            "team_praised",
            "hot_skill",
        ]


async def test_not_for_me_takes_the_card_away_and_the_fourth_moves_in(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    courses = await build_catalogue(app, ctx, world)
    async with signed_in_client(app, world.email("a", "employee")) as client:
        page = await client.get("/")
        response = await client.post(
            f"/recommendations/{courses.excel}/dismiss",
            data={"_csrf_token": _token(page.text)},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/#next-steps"
        after = await client.get("/")
        assert [title for title, _ in _cards(after.text)] == [
            "Feedback geven (Acme)",
            "AVG in de praktijk",
            "Python",
        ]
        assert "Even buiten je eigen vak: gemaakt voor IT" in after.text
    async with AsyncTestClient(app=app) as stranger:
        await stranger.get("/")
        refused = await stranger.post(
            f"/recommendations/{courses.python}/dismiss",
            data={"_csrf_token": "forged"},
            follow_redirects=False,
        )
        assert refused.status_code == 403


async def test_nothing_to_recommend_says_so_calmly(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as client:
        page = await client.get("/")
        assert _cards(page.text) == []
        assert "Even geen suggesties" in page.text
