"""Organisation rules: defaults, JSON form, validation, level curve."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gamification.rules import (
    LevelCurve,
    OrgRules,
    StreakMode,
    StreakPolicy,
    XpRules,
    XpSeason,
)


def test_empty_rules_document_gives_documented_defaults() -> None:
    rules = OrgRules.from_dict({})
    assert rules.streak.mode is StreakMode.DAILY
    assert rules.streak.max_banked_freezes == 2
    assert rules.streak.repair_window_days == 2
    assert rules.xp.informal_daily_cap == 30
    assert rules.xp.hot_skill_multiplier == 1.5
    assert rules.levels.xp_for_level(2) == 100


def test_rules_round_trip_through_json() -> None:
    rules = OrgRules(
        streak=StreakPolicy(mode=StreakMode.WEEKLY, days_per_week=4),
        xp=XpRules(informal_xp=12, seasons=(XpSeason(date(2024, 3, 1), date(2024, 3, 7), 2.0),)),
        levels=LevelCurve(step_xp=40),
    )
    assert OrgRules.from_dict(json.loads(json.dumps(rules.to_dict()))) == rules


def test_partial_rules_document_keeps_other_defaults() -> None:
    rules = OrgRules.from_dict({"xp": {"informal_xp": 5}, "streak": {"mode": "weekly"}})
    assert rules.xp.informal_xp == 5
    assert rules.xp.completion_base == 50
    assert rules.streak.mode is StreakMode.WEEKLY
    assert rules.streak.days_per_week == 3


@pytest.mark.parametrize("days", [0, 8])
def test_weekly_target_must_be_one_to_seven_days(days: int) -> None:
    with pytest.raises(ValueError):
        StreakPolicy(mode=StreakMode.WEEKLY, days_per_week=days)


def test_wrongly_typed_rule_value_is_rejected() -> None:
    with pytest.raises(ValueError):
        OrgRules.from_dict({"xp": {"informal_xp": "ten"}})
    with pytest.raises(ValueError):
        OrgRules.from_dict({"xp": {"informal_xp": True}})


def test_overlapping_seasons_use_the_highest_multiplier_not_the_product() -> None:
    xp = XpRules(
        seasons=(
            XpSeason(date(2024, 3, 1), date(2024, 3, 10), 2.0),
            XpSeason(date(2024, 3, 5), date(2024, 3, 6), 3.0),
        )
    )
    assert xp.season_multiplier(date(2024, 3, 5)) == 3.0
    assert xp.season_multiplier(date(2024, 3, 8)) == 2.0
    assert xp.season_multiplier(date(2024, 3, 11)) == 1.0


def test_level_curve_thresholds() -> None:
    curve = LevelCurve()
    assert [curve.xp_for_level(n) for n in range(1, 6)] == [0, 100, 300, 600, 1000]
    assert curve.level_for_xp(0) == 1
    assert curve.level_for_xp(99) == 1
    assert curve.level_for_xp(100) == 2
    assert curve.level_for_xp(4499) == 9
    assert curve.level_for_xp(4500) == 10


def test_level_progress_reports_xp_into_and_to_next_level() -> None:
    progress = LevelCurve().progress(350)
    assert (progress.level, progress.xp_into_level, progress.xp_to_next_level) == (3, 50, 250)
    assert progress.fraction == pytest.approx(50 / 300)


@settings(max_examples=200, deadline=None)
@given(xp=st.integers(min_value=0, max_value=10_000_000), step=st.integers(1, 500))
def test_level_for_xp_is_the_highest_level_whose_threshold_is_reached(xp: int, step: int) -> None:
    curve = LevelCurve(step_xp=step)
    level = curve.level_for_xp(xp)
    assert curve.xp_for_level(level) <= xp < curve.xp_for_level(level + 1)


def test_xp_schedule_pays_by_the_rules_in_force_when_learning_happened() -> None:
    from datetime import UTC, datetime

    from gamification.rules import XpRulesPeriod

    change = datetime(2026, 12, 8, 23, tzinfo=UTC)
    rules = OrgRules(
        xp=XpRules(experience_xp=40),
        xp_schedule=(
            XpRulesPeriod(XpRules(experience_xp=20), until=change),
            XpRulesPeriod(XpRules(experience_xp=40)),
        ),
    )
    assert rules.xp_at(datetime(2026, 12, 8, 22, 59, tzinfo=UTC)).experience_xp == 20
    assert rules.xp_at(change).experience_xp == 40
    assert OrgRules.from_dict(json.loads(json.dumps(rules.to_dict()))) == rules
    assert OrgRules().xp_at(change) == XpRules(), "without a schedule: always ``xp``"


def test_xp_schedule_must_end_open_and_be_in_time_order() -> None:
    from datetime import UTC, datetime

    from gamification.rules import XpRulesPeriod

    first, second = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        OrgRules(xp_schedule=(XpRulesPeriod(XpRules(), until=first),))
    with pytest.raises(ValueError):
        OrgRules(
            xp_schedule=(
                XpRulesPeriod(XpRules(), until=second),
                XpRulesPeriod(XpRules(), until=first),
                XpRulesPeriod(XpRules()),
            )
        )
