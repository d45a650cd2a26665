"""XP amounts, bonuses, caps and cooldowns."""

from __future__ import annotations

from datetime import date

from gamification.events import EventKind
from gamification.rules import XpRules, XpSeason
from gamification.xp import XpAward, XpContext, XpReason, informal_cooldown_slot, xp_for_fact
from tests.gamification.fact_factory import make_fact

RULES = XpRules()
DAY = date(2024, 5, 6)
FRESH = XpContext()


def total(awards: list[XpAward]) -> int:
    return sum(a.amount for a in awards)


def test_completion_pays_base_plus_per_minute_of_course_duration() -> None:
    fact = make_fact(DAY, EventKind.COMPLETION, course_id=1, course_duration_minutes=60)
    awards = xp_for_fact(fact, RULES, FRESH)
    assert [(a.reason, a.amount) for a in awards] == [(XpReason.COMPLETION, 80)]
    assert awards[0].event_key == fact.key and awards[0].local_date == DAY


def test_completion_minutes_are_capped() -> None:
    fact = make_fact(DAY, EventKind.COMPLETION, course_id=1, course_duration_minutes=10_000)
    assert total(xp_for_fact(fact, RULES, FRESH)) == 50 + 120


def test_completion_without_course_duration_uses_the_fact_minutes() -> None:
    fact = make_fact(DAY, EventKind.COMPLETION, course_id=1, minutes=20)
    assert total(xp_for_fact(fact, RULES, FRESH)) == 60


def test_completing_a_course_again_pays_nothing() -> None:
    fact = make_fact(DAY, EventKind.COMPLETION, course_id=1, course_duration_minutes=60)
    assert xp_for_fact(fact, RULES, XpContext(completed_course_ids=frozenset({1}))) == []


def test_hot_skill_completion_earns_a_separate_bonus_entry() -> None:
    fact = make_fact(
        DAY, EventKind.COMPLETION, course_id=1, course_duration_minutes=60, hot_skill=True
    )
    awards = xp_for_fact(fact, RULES, FRESH)
    assert [(a.reason, a.amount) for a in awards] == [
        (XpReason.COMPLETION, 80),
        (XpReason.HOT_SKILL_BONUS, 40),
    ]


def test_double_xp_season_doubles_event_xp_on_its_local_days_only() -> None:
    rules = XpRules(seasons=(XpSeason(DAY, DAY, 2.0),))
    inside = make_fact(DAY, EventKind.EXPERIENCE)
    outside = make_fact(date(2024, 5, 7), EventKind.EXPERIENCE)
    assert [(a.reason, a.amount) for a in xp_for_fact(inside, rules, FRESH)] == [
        (XpReason.EXPERIENCE, 20),
        (XpReason.SEASON_BONUS, 20),
    ]
    assert total(xp_for_fact(outside, rules, FRESH)) == 20


def test_season_multiplies_the_hot_skill_bonus_too() -> None:
    rules = XpRules(seasons=(XpSeason(DAY, DAY, 2.0),))
    fact = make_fact(DAY, EventKind.EXPERIENCE, hot_skill=True)
    assert total(xp_for_fact(fact, rules, FRESH)) == (20 + 10) * 2


def test_progress_pays_per_minute_up_to_the_cap_and_nothing_for_zero_minutes() -> None:
    assert total(xp_for_fact(make_fact(DAY, EventKind.PROGRESS, minutes=30), RULES, FRESH)) == 6
    assert total(xp_for_fact(make_fact(DAY, EventKind.PROGRESS, minutes=500), RULES, FRESH)) == 12
    assert xp_for_fact(make_fact(DAY, EventKind.PROGRESS, minutes=0), RULES, FRESH) == []


def test_testimonial_pays_flat_xp() -> None:
    assert total(xp_for_fact(make_fact(DAY, EventKind.TESTIMONIAL), RULES, FRESH)) == 15


def test_informal_xp_is_clipped_to_what_is_left_of_the_daily_cap() -> None:
    fact = make_fact(DAY, EventKind.INFORMAL)
    assert total(xp_for_fact(fact, RULES, XpContext(informal_xp_today=25))) == 5
    assert xp_for_fact(fact, RULES, XpContext(informal_xp_today=30)) == []


def test_informal_hot_skill_flag_does_not_multiply_informal_xp() -> None:
    fact = make_fact(DAY, EventKind.INFORMAL, hot_skill=True)
    assert total(xp_for_fact(fact, RULES, FRESH)) == 10


def test_identical_informal_log_in_the_same_cooldown_slot_pays_nothing() -> None:
    first = make_fact(DAY, EventKind.INFORMAL, hour=9, minute=1, text_fingerprint="abc")
    again = make_fact(DAY, EventKind.INFORMAL, hour=9, minute=8, text_fingerprint="abc")
    slot = informal_cooldown_slot(first, RULES)
    assert slot is not None and slot == informal_cooldown_slot(again, RULES)
    paid = XpContext(paid_informal_slots=frozenset({slot}))
    assert xp_for_fact(again, RULES, paid) == []


def test_identical_informal_log_after_the_cooldown_pays_again() -> None:
    first = make_fact(DAY, EventKind.INFORMAL, hour=9, minute=1, text_fingerprint="abc")
    later = make_fact(DAY, EventKind.INFORMAL, hour=9, minute=15, text_fingerprint="abc")
    slot = informal_cooldown_slot(first, RULES)
    assert slot is not None
    paid = XpContext(paid_informal_slots=frozenset({slot}))
    assert total(xp_for_fact(later, RULES, paid)) == 10


def test_different_informal_text_is_not_held_back_by_the_cooldown() -> None:
    first = make_fact(DAY, EventKind.INFORMAL, hour=9, minute=1, text_fingerprint="abc")
    other = make_fact(DAY, EventKind.INFORMAL, hour=9, minute=2, text_fingerprint="xyz")
    slot = informal_cooldown_slot(first, RULES)
    assert slot is not None
    assert total(xp_for_fact(other, RULES, XpContext(paid_informal_slots=frozenset({slot})))) == 10


def test_xp_rounds_half_up() -> None:
    # 0.5 XP/min x 5 min = 2.5: half up gives 3 where round() would give 2
    rules = XpRules(progress_xp_per_minute=0.5)
    assert total(xp_for_fact(make_fact(DAY, EventKind.PROGRESS, minutes=5), rules, FRESH)) == 3
