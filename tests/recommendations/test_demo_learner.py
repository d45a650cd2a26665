"""The demo learner's next steps make sense: her team's praise, and more than one reason."""

from datetime import date

from litestar import Litestar

from backend.context import AppContext
from backend.demo.seed import seed_demo
from tests.factories import signed_in_client

WEDNESDAY = date(2025, 3, 12)


async def test_the_demo_learner_sees_what_her_team_recommends_among_other_reasons(
    app: Litestar, ctx: AppContext
) -> None:
    await seed_demo(ctx, today=WEDNESDAY)
    async with signed_in_client(app, "sanne.devries@polderhaven.nl", "leren-is-leuk") as client:
        top = (await client.get("/api/v1/me/recommendations")).json()
    assert len(top) == 3
    assert top[0]["reason"] != top[1]["reason"]
    assert any(
        item["reason"] == "team_praised" and "uit je team raden het aan" in item["reason_text"]
        for item in top
    ), top
