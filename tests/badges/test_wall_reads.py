"""The badge wall keeps the organisation's badge definitions per process: what L&D changes
shows at the learner's next read."""

from litestar import Litestar

from tests.badges.test_badge_api import feedback_badge
from tests.factories import World, signed_in_client


async def test_the_wall_shows_a_badge_ld_adds_renames_or_switches_off_at_the_next_read(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as employee:
        before = (await employee.get("/api/v1/me/badges")).json()  # definitions kept
        assert "feedback-pro" not in {b["code"] for b in before}
        async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
            created = await admin.post("/api/v1/badges", json=feedback_badge(world))
            assert created.status_code == 201, created.text
            badge_id = created.json()["id"]
            wall = {b["code"]: b for b in (await employee.get("/api/v1/me/badges")).json()}
            assert wall["feedback-pro"]["name"] == "Feedbackkampioen"
            assert wall["feedback-pro"]["competency"]["name"] == "Communicatie"
            renamed = await admin.patch(f"/api/v1/badges/{badge_id}", json={"name": "Luisteraar"})
            assert renamed.status_code == 200, renamed.text
            wall = {b["code"]: b for b in (await employee.get("/api/v1/me/badges")).json()}
            assert wall["feedback-pro"]["name"] == "Luisteraar"
            off = await admin.patch(f"/api/v1/badges/{badge_id}", json={"is_active": False})
            assert off.status_code == 200, off.text
        after = (await employee.get("/api/v1/me/badges")).json()
    assert "feedback-pro" not in {b["code"] for b in after}
    assert [b["code"] for b in after] == [b["code"] for b in before]
