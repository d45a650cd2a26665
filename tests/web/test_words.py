"""The learner app's words read right in both catalogs: a streak is "a 3-week streak" in
English, "3 weken op rij" in Dutch; someone who has not started is encouraged, not told "0";
nudges say "your streak of 3 weeks"."""

import pytest

from gamification.nudge_texts import render
from pwa.i18n import gettext, ngettext, set_locale


@pytest.mark.parametrize(
    ("locale", "weekly", "daily", "one_week"),
    [
        ("en", "3-week streak", "3-day streak", "1-week streak"),
        ("nl", "3 weken op rij", "3 dagen op rij", "1 week op rij"),
    ],
)
def test_a_streak_is_named_as_the_language_says_it(
    locale: str, weekly: str, daily: str, one_week: str
) -> None:
    set_locale(locale)
    try:
        assert ngettext("%(num)d-week streak", "%(num)d-week streak", 3) % {"num": 3} == weekly
        assert ngettext("%(num)d-day streak", "%(num)d-day streak", 3) % {"num": 3} == daily
        assert ngettext("%(num)d-week streak", "%(num)d-week streak", 1) % {"num": 1} == one_week
    finally:
        set_locale("nl")


@pytest.mark.parametrize(
    ("locale", "first_week", "again"),
    [
        ("en", "Start your first week today", "Start a new streak today"),
        ("nl", "Begin vandaag je eerste week", "Begin vandaag een nieuwe reeks"),
    ],
)
def test_someone_without_a_streak_is_invited_to_start_one(
    locale: str, first_week: str, again: str
) -> None:
    set_locale(locale)
    try:
        assert gettext("Start your first week today") == first_week
        assert gettext("Start a new streak today") == again
    finally:
        set_locale("nl")


def test_the_streak_nudge_says_a_streak_of_three_weeks() -> None:
    params = {"streak": 3, "streak_mode": "weekly", "days_needed": 1, "freezes": 0}
    assert render("streak_at_risk", "a", "en", params).title == (
        "Your streak of 3 weeks is still going"
    )
    assert render("streak_at_risk", "a", "nl", params).title == "Je reeks van 3 weken loopt nog"
