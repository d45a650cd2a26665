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
    measure_criterion,
    tally_badge,
)
from gamification.engine import MissingHistory, apply, backfill, replay
from gamification.events import EventKind, LearningFact
from gamification.rules import OrgRules
from gamification.state import LearnerState
from tests.gamification.fact_factory import TZ, at_local, make_fact

RULES = OrgRules()
DAY = date(2024, 5, 6)
NOW = at_local(DAY, 23)
TIERS = (BadgeTier("bronze", 1), BadgeTier("silver", 3), BadgeTier("gold", 5))


def awards_for(*facts: LearningFact, definition: BadgeDefinition) -> list[BadgeAward]:
    """The awards of ``facts`` applied in time order to a fresh learner."""
    ordered = sorted(facts, key=lambda f: f.chronological_key)
    return replay(ordered, RULES, [definition], NOW, TZ).awards


def badge(
    kind: CriterionKind, tiers: tuple[BadgeTier, ...] = TIERS, **filters: Any
) -> BadgeDefinition:
    criterion = BadgeCriterion(kind, **filters)
    return BadgeDefinition(code=kind.value, name=kind.value, criterion=criterion, tiers=tiers)


def earned(*facts: LearningFact, definition: BadgeDefinition) -> list[tuple[str, str]]:
    return [(a.code, a.tier) for a in awards_for(*facts, definition=definition)]


def test_completion_count_badge_awards_each_tier_with_the_fact_that_reached_it() -> None:
    facts = [make_fact(DAY - timedelta(days=i), EventKind.COMPLETION) for i in range(3)]
    definition = badge(CriterionKind.EVENT_COUNT, event_kind=EventKind.COMPLETION)
    oldest_first = [f.key for f in reversed(facts)]
    assert awards_for(*facts, definition=definition) == [
        BadgeAward("event_count", "bronze", (oldest_first[0],)),
        BadgeAward("event_count", "silver", (oldest_first[2],)),
    ]


def test_badge_tier_already_awarded_is_not_awarded_again() -> None:
    facts = [make_fact(DAY, EventKind.COMPLETION) for _ in range(3)]
    definition = badge(CriterionKind.EVENT_COUNT, event_kind=EventKind.COMPLETION)
    state = replay(facts, RULES, [definition], NOW, TZ).state
    assert state.awarded_badges == {("event_count", "bronze"), ("event_count", "silver")}
    assert evaluate_badges(state, [definition]) == []
    unawarded = LearnerState(
        fact_count=state.fact_count,
        badge_tallies=state.badge_tallies,
        awarded_badges=frozenset({("event_count", "bronze")}),
    )
    assert [a.tier for a in evaluate_badges(unawarded, [definition])] == ["silver"]


def test_count_badge_within_a_competency_ignores_other_competencies() -> None:
    definition = badge(CriterionKind.EVENT_COUNT, competency_id=7)
    facts = (
        make_fact(DAY, competency_ids=frozenset({7})),
        make_fact(DAY, competency_ids=frozenset({8})),
        make_fact(DAY, competency_ids=frozenset({8})),
    )
    assert earned(*facts, definition=definition) == [("event_count", "bronze")]


def test_count_badge_within_a_course_set_and_time_window() -> None:
    definition = badge(
        CriterionKind.EVENT_COUNT,
        course_ids=frozenset({1, 2}),
        starts_on=DAY,
        ends_on=DAY + timedelta(days=6),
        tiers=(BadgeTier("bronze", 2),),
    )
    facts = (
        make_fact(DAY - timedelta(days=1), EventKind.COMPLETION, course_id=1),
        make_fact(DAY, EventKind.COMPLETION, course_id=3),
        make_fact(DAY, EventKind.COMPLETION, course_id=2),
    )
    assert earned(*facts, definition=definition) == []
    later = make_fact(DAY + timedelta(days=2), EventKind.PROGRESS, course_id=1)
    assert earned(*facts, later, definition=definition) == [("event_count", "bronze")]


def test_horizontal_explorer_counts_distinct_competencies() -> None:
    definition = badge(CriterionKind.DISTINCT_COMPETENCIES, tiers=(BadgeTier("bronze", 3),))
    a = make_fact(DAY, hour=9, competency_ids=frozenset({1, 2}))
    b = make_fact(DAY, hour=10, competency_ids=frozenset({2}))
    c = make_fact(DAY, hour=11, competency_ids=frozenset({3}))
    assert awards_for(a, b, definition=definition) == []
    assert awards_for(a, b, c, definition=definition) == [
        BadgeAward("distinct_competencies", "bronze", (c.key,))
    ]


def test_total_minutes_badge_is_earned_by_the_fact_that_reaches_the_threshold() -> None:
    definition = badge(CriterionKind.TOTAL_MINUTES, tiers=(BadgeTier("bronze", 60),))
    facts = [make_fact(DAY, hour=h, minutes=25) for h in (9, 10, 11, 12)]
    assert awards_for(*facts, definition=definition) == [
        BadgeAward("total_minutes", "bronze", (facts[2].key,))
    ]


def test_streak_badge_is_earned_by_the_fact_that_completes_the_length() -> None:
    definition = badge(CriterionKind.STREAK_LENGTH, tiers=(BadgeTier("bronze", 7),))
    facts = [make_fact(DAY - timedelta(days=i)) for i in range(7)]
    assert awards_for(*facts[1:], definition=definition) == []
    late = apply(
        replay(facts[1:], RULES, [definition], NOW, TZ).state,
        facts[0],
        RULES,
        [definition],
        NOW,
        TZ,
    )
    assert late.awards == [BadgeAward("streak_length", "bronze", (facts[0].key,))]


def test_hot_skill_completions_count_only_hot_completions() -> None:
    definition = badge(CriterionKind.HOT_SKILL_COMPLETIONS)
    cold = (
        make_fact(DAY, EventKind.COMPLETION),
        make_fact(DAY, EventKind.PROGRESS, hot_skill=True),
    )
    assert earned(*cold, definition=definition) == []
    hot = make_fact(DAY, EventKind.COMPLETION, hot_skill=True)
    assert earned(hot, definition=definition) == [("hot_skill_completions", "bronze")]


def test_testimonials_written_badge() -> None:
    definition = badge(CriterionKind.TESTIMONIALS_WRITTEN)
    assert earned(make_fact(DAY, EventKind.INFORMAL), definition=definition) == []
    testimonial = make_fact(DAY, EventKind.TESTIMONIAL)
    assert earned(testimonial, definition=definition) == [("testimonials_written", "bronze")]


def test_first_informal_log_badge() -> None:
    definition = badge(CriterionKind.FIRST_INFORMAL_LOG, tiers=(BadgeTier("earned", 1),))
    assert earned(make_fact(DAY, EventKind.COMPLETION), definition=definition) == []
    assert earned(make_fact(DAY, EventKind.INFORMAL), definition=definition) == [
        ("first_informal_log", "earned")
    ]


def test_challenges_completed_badge_cites_the_challenges() -> None:
    definition = badge(CriterionKind.CHALLENGES_COMPLETED, tiers=(BadgeTier("bronze", 2),))
    state = LearnerState(completed_challenges=frozenset({"spring", "autumn"}))
    assert evaluate_badges(state, [definition]) == [
        BadgeAward("challenges_completed", "bronze", ("challenge:autumn", "challenge:spring"))
    ]


def test_a_badge_created_after_the_learning_is_measured_over_the_history_first() -> None:
    definition = badge(CriterionKind.EVENT_COUNT, event_kind=EventKind.COMPLETION)
    history = [make_fact(DAY - timedelta(days=i), EventKind.COMPLETION) for i in range(2)]
    state = replay(history, RULES, [], NOW, TZ).state
    third = make_fact(DAY, EventKind.COMPLETION, hour=20)
    with pytest.raises(MissingHistory):
        apply(state, third, RULES, [definition], NOW, TZ)
    with pytest.raises(KeyError):
        measure_criterion(definition.criterion, state)
    filled = backfill(state, history, [definition])
    assert measure_criterion(definition.criterion, filled).value == 2
    outcome = apply(filled, third, RULES, [definition], NOW, TZ)
    assert [(a.tier, a.evidence) for a in outcome.awards] == [
        ("bronze", (third.key,)),
        ("silver", (third.key,)),
    ]


def test_a_tally_over_a_history_equals_the_facts_added_one_by_one() -> None:
    criterion = BadgeCriterion(CriterionKind.DISTINCT_COMPETENCIES)
    facts = [
        make_fact(DAY, competency_ids=frozenset({1, 2})),
        make_fact(DAY, competency_ids=frozenset({2, 5})),
        make_fact(DAY, EventKind.TESTIMONIAL, competency_ids=frozenset({9})),
    ]
    state = replay(facts, RULES, [badge(CriterionKind.DISTINCT_COMPETENCIES)], NOW, TZ).state
    assert tally_badge(criterion, facts).competencies == frozenset({1, 2, 5})
    assert measure_criterion(criterion, state).value == 3


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
