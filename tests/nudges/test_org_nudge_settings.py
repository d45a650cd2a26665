"""L&D sets the organisation's nudge caps; nonsense is refused with the field named."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from litestar import Litestar

from backend.nudges.policy_input import nudge_rules
from backend.organisations.game_rules import plan_change, settings_after
from backend.organisations.settings import (
    GameRules,
    OrganisationSettings,
    StreakSettings,
    settings_from_document,
)
from gamification.rules import StreakMode
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


def test_a_streak_change_scheduled_for_monday_steers_nudges_only_from_monday() -> None:
    """Nudges ("keep your streak") follow the streak policy in force, not a planned one."""
    now = datetime(2026, 12, 9, 10, 0, tzinfo=UTC)  # a Wednesday
    settings = OrganisationSettings()
    daily = GameRules(streak=StreakSettings(mode="daily"))
    change = plan_change(settings, "Europe/Amsterdam", daily, None, now)
    monday = change.effective_from.astimezone(ZoneInfo("Europe/Amsterdam"))
    assert (monday.weekday(), monday.hour) == (0, 0) and change.effective_from > now
    planned = settings_from_document(settings_after(settings, change))
    assert nudge_rules(planned, now).streak_mode is StreakMode.WEEKLY
    after = change.effective_from + timedelta(hours=1)
    assert nudge_rules(planned, after).streak_mode is StreakMode.DAILY
