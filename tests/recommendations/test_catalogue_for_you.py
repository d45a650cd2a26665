"""The catalogue's "For you" order: recommendations first, each with its reason."""

import re

from litestar import Litestar
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import RecommendationShown
from tests.factories import World, signed_in_client
from tests.recommendations.test_recommendations_api import build_catalogue


def _cards(html: str) -> list[tuple[str, str]]:
    """(title, reason or '') of each course card, in order."""
    found = re.findall(
        r'<h3 class="course-title"><a href="/catalogue/\d+">([^<]+)</a></h3>\s*'
        r'(?:<p class="course-reason">([^<]+)</p>)?',
        html,
    )
    return [(title, reason) for title, reason in found]


async def test_for_you_puts_the_recommendations_first_with_their_reasons(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await build_catalogue(app, ctx, world)
    async with signed_in_client(app, world.email("a", "employee")) as client:
        default = await client.get("/catalogue")
        assert '<option value="for_you"' in default.text and "Voor jou" in default.text
        assert all(reason == "" for _, reason in _cards(default.text))
        page = await client.get("/catalogue", params={"sort": "for_you", "lang": "en"})
        assert page.status_code == 200
        assert _cards(page.text) == [
            ("Feedback geven (Acme)", "Communicatie belongs to your role and is new for you"),
            ("AVG in de praktijk", "1 colleague in your team recommends it"),
            ("Excel", "A skill much in demand right now"),
            ("Python", "A look beyond your own work: made for IT"),
            # then the catalogue's own order: hot ones first (Sam finished this one)
            ("Al gedaan", ""),
            ("Niets bijzonders", ""),
        ]
    async with ctx.sessionmaker() as session:
        shown = (await session.exec(select(RecommendationShown))).all()
    assert len(shown) == 4
