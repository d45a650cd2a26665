"""Badge criteria, tiers and evidence."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from gamification.badges import (
    BadgeAward,
    BadgeCriterion,
    BadgeDefinition,
    BadgeTier,
    CriterionKind,
    evaluate_badges,
)
from gamification.events import EventKind, LearningFact
from gamification.rules import StreakPolicy
from gamification.state import LearnerState
from tests.gamification.fact_factory import make_fact

POLICY = StreakPolicy()
DAY = date(2024, 5, 6)
TIERS = (BadgeTier("bronze", 1), BadgeTier("silver", 3), BadgeTier("gold", 5))


def state_with(
    *facts: LearningFact, awarded: frozenset[tuple[str, str]] = frozenset()
) -> LearnerState:
    ordered = tuple(sorted(facts, key=lambda f: f.chronological_key))
    return LearnerState(facts=ordered, awarded_badges=awarded)


def badge(
    kind: CriterionKind, tiers: tuple[BadgeTier, ...] = TIERS, **filters: Any
) -> BadgeDefinition:
    criterion = BadgeCriterion(kind, **filters)
    return BadgeDefinition(code=kind.value, name=kind.value, criterion=criterion, tiers=tiers)


def earned(state: LearnerState, *definitions: BadgeDefinition) -> list[tuple[str, str]]:
    return [(a.code, a.tier) for a in evaluate_badges(state, definitions, policy=POLICY, today=DAY)]


def test_completion_count_badge_awards_each_reached_tier_with_first_facts_as_evidence() -> None:
    facts = [make_fact(DAY - timedelta(days=i), EventKind.COMPLETION) for i in range(3)]
    definition = badge(CriterionKind.EVENT_COUNT, event_kind=EventKind.COMPLETION)
    awards = evaluate_badges(state_with(*facts), [definition], policy=POLICY, today=DAY)
    oldest_first = [f.key for f in reversed(facts)]
    assert awards == [
        BadgeAward("event_count", "bronze", (oldest_first[0],)),
        BadgeAward("event_count", "silver", tuple(oldest_first)),
    ]


def test_badge_tier_already_awarded_is_not_awarded_again() -> None:
    facts = [make_fact(DAY, EventKind.COMPLETION) for _ in range(3)]
    definition = badge(CriterionKind.EVENT_COUNT, event_kind=EventKind.COMPLETION)
    state = state_with(*facts, awarded=frozenset({("event_count", "bronze")}))
    assert earned(state, definition) == [("event_count", "silver")]


def test_count_badge_within_a_competency_ignores_other_competencies() -> None:
    definition = badge(CriterionKind.EVENT_COUNT, competency_id=7)
    state = state_with(
        make_fact(DAY, competency_ids=frozenset({7})),
        make_fact(DAY, competency_ids=frozenset({8})),
        make_fact(DAY, competency_ids=frozenset({8})),
    )
    assert earned(state, definition) == [("event_count", "bronze")]


def test_count_badge_within_a_course_set_and_time_window() -> None:
    definition = badge(
        CriterionKind.EVENT_COUNT,
        course_ids=frozenset({1, 2}),
        starts_on=DAY,
        ends_on=DAY + timedelta(days=6),
        tiers=(BadgeTier("bronze", 2),),
    )
    state = state_with(
        make_fact(DAY - timedelta(days=1), EventKind.COMPLETION, course_id=1),
        make_fact(DAY, EventKind.COMPLETION, course_id=3),
        make_fact(DAY, EventKind.COMPLETION, course_id=2),
    )
    assert earned(state, definition) == []
    later = state_with(
        *state.facts, make_fact(DAY + timedelta(days=2), EventKind.PROGRESS, course_id=1)
    )
    assert earned(later, definition) == [("event_count", "bronze")]


def test_horizontal_explorer_counts_distinct_competencies() -> None:
    definition = badge(CriterionKind.DISTINCT_COMPETENCIES, tiers=(BadgeTier("bronze", 3),))
    a = make_fact(DAY, hour=9, competency_ids=frozenset({1, 2}))
    b = make_fact(DAY, hour=10, competency_ids=frozenset({2}))
    c = make_fact(DAY, hour=11, competency_ids=frozenset({3}))
    awards = evaluate_badges(state_with(a, b), [definition], policy=POLICY, today=DAY)
    assert awards == []
    awards = evaluate_badges(state_with(a, b, c), [definition], policy=POLICY, today=DAY)
    assert awards == [BadgeAward("distinct_competencies", "bronze", (a.key, c.key))]


def test_total_minutes_badge_uses_facts_until_the_threshold() -> None:
    definition = badge(CriterionKind.TOTAL_MINUTES, tiers=(BadgeTier("bronze", 60),))
    facts = [make_fact(DAY, hour=h, minutes=25) for h in (9, 10, 11, 12)]
    awards = evaluate_badges(state_with(*facts), [definition], policy=POLICY, today=DAY)
    assert awards == [BadgeAward("total_minutes", "bronze", tuple(f.key for f in facts[:3]))]


def test_streak_badge_is_earned_by_the_longest_streak_with_the_reaching_day_as_evidence() -> None:
    definition = badge(CriterionKind.STREAK_LENGTH, tiers=(BadgeTier("bronze", 7),))
    facts = [make_fact(DAY - timedelta(days=i)) for i in range(7)]
    awards = evaluate_badges(state_with(*facts[1:]), [definition], policy=POLICY, today=DAY)
    assert awards == []
    awards = evaluate_badges(state_with(*facts), [definition], policy=POLICY, today=DAY)
    assert awards == [BadgeAward("streak_length", "bronze", (facts[0].key,))]


def test_hot_skill_completions_count_only_hot_completions() -> None:
    definition = badge(CriterionKind.HOT_SKILL_COMPLETIONS)
    cold = state_with(
        make_fact(DAY, EventKind.COMPLETION), make_fact(DAY, EventKind.PROGRESS, hot_skill=True)
    )
    assert earned(cold, definition) == []
    hot = state_with(make_fact(DAY, EventKind.COMPLETION, hot_skill=True))
    assert earned(hot, definition) == [("hot_skill_completions", "bronze")]


def test_testimonials_written_badge() -> None:
    definition = badge(CriterionKind.TESTIMONIALS_WRITTEN)
    assert earned(state_with(make_fact(DAY, EventKind.INFORMAL)), definition) == []
    state = state_with(make_fact(DAY, EventKind.TESTIMONIAL))
    assert earned(state, definition) == [("testimonials_written", "bronze")]


def test_first_informal_log_badge() -> None:
    definition = badge(CriterionKind.FIRST_INFORMAL_LOG, tiers=(BadgeTier("earned", 1),))
    assert earned(state_with(make_fact(DAY, EventKind.COMPLETION)), definition) == []
    assert earned(state_with(make_fact(DAY, EventKind.INFORMAL)), definition) == [
        ("first_informal_log", "earned")
    ]


def test_challenges_completed_badge_cites_the_challenges() -> None:
    definition = badge(CriterionKind.CHALLENGES_COMPLETED, tiers=(BadgeTier("bronze", 2),))
    state = LearnerState(completed_challenges=frozenset({"spring", "autumn"}))
    assert evaluate_badges(state, [definition], policy=POLICY, today=DAY) == [
        BadgeAward("challenges_completed", "bronze", ("challenge:autumn", "challenge:spring"))
    ]


def test_badge_definition_round_trips_through_json() -> None:
    definition = badge(
        CriterionKind.EVENT_COUNT,
        event_kind=EventKind.COMPLETION,
        competency_id=4,
        course_ids=frozenset({1, 2}),
        starts_on=DAY,
        ends_on=DAY,
    )
    assert BadgeDefinition.from_dict(json.loads(json.dumps(definition.to_dict()))) == definition


def test_badge_tiers_must_rise() -> None:
    falling = (BadgeTier("a", 3), BadgeTier("b", 2))
    with pytest.raises(ValueError, match="rising"):
        BadgeDefinition("x", "x", BadgeCriterion(CriterionKind.EVENT_COUNT), falling)
