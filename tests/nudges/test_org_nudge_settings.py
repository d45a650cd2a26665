"""L&D sets the organisation's nudge caps; nonsense is refused with the field named."""

from litestar import Litestar

from tests.factories import World, signed_in_client


async def test_ld_sets_nudge_caps_and_bad_values_are_refused(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        before = (await ld.get("/api/v1/organisation")).json()["settings"]
        assert (before["nudge_reminders_per_day"], before["nudges_per_week"]) == (1, 5)
        ok = await ld.patch(
            "/api/v1/organisation",
            json={"settings": {"nudge_reminders_per_day": 2, "nudges_per_week": 8}},
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["settings"]["nudges_per_week"] == 8
        for bad in ({"nudges_per_week": 1000}, {"nudge_reminders_per_day": -1}):
            response = await ld.patch("/api/v1/organisation", json={"settings": bad})
            assert response.status_code == 400
            assert next(iter(bad)) in response.text
        after = (await ld.get("/api/v1/organisation")).json()["settings"]
        assert (after["nudge_reminders_per_day"], after["nudges_per_week"]) == (2, 8)
