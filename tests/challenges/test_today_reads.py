"""Today keeps the organisation's challenges per process: what changes shows at the next read."""

import uuid
from datetime import date, timedelta

import pytest

from backend.context import AppContext
from tests.console.team_world import fill_team
from tests.factories import World, signed_in_client


@pytest.fixture(autouse=True)
async def team_at_floor(ctx: AppContext, world: World) -> None:
    await fill_team(ctx, world.a.id, world.a.team_id)


async def test_today_shows_a_new_challenge_and_the_teams_progress_at_the_next_read(
    app: object, world: World, today: date
) -> None:
    async with signed_in_client(app, "sam@example.com") as sam:
        before = (await sam.get("/api/v1/me/today")).json()  # the organisation's parts kept
        assert before["challenges"] == []
        async with signed_in_client(app, "manager@acme.example") as manager:
            created = await manager.post(
                f"/api/v1/teams/{world.a.team_id}/challenges",
                json={
                    "title": "Samen een uur leren",
                    "pledge": "Taart",
                    "starts_on": today.isoformat(),
                    "ends_on": (today + timedelta(days=13)).isoformat(),
                    "target": {"kind": "team_minutes", "minutes": 60},
                },
            )
            assert created.status_code == 201, created.text
        [shown] = (await sam.get("/api/v1/me/today")).json()["challenges"]
        assert shown["title"] == "Samen een uur leren" and shown["progress"] == 0
        logged = await sam.post(
            "/api/v1/me/moments",
            json={"client_id": str(uuid.uuid4()), "what": "Artikel", "minutes": 30},
        )
        assert logged.status_code == 201, logged.text
        [halfway] = logged.json()["today"]["challenges"]
        assert halfway["progress"] == 0.5
        [again] = (await sam.get("/api/v1/me/today")).json()["challenges"]
        assert again["progress"] == 0.5 and again["sponsor"] == "Mia Acme"
