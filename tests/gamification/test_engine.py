"""The engine: apply a fact, idempotently, and get state, ledger and awards."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from gamification.badges import BadgeCriterion, BadgeDefinition, BadgeTier, CriterionKind
from gamification.challenges import ChallengeDefinition
from gamification.engine import add_dated_goal, apply, plan_pause, refresh, replay, set_weekly_goal
from gamification.events import EventKind
from gamification.goals import DatedGoal, DatedGoalKind
from gamification.periods import DateRange
from gamification.rules import OrgRules
from gamification.state import LearnerState
from gamification.xp import XpReason
from tests.gamification.fact_factory import TZ, at_local, make_fact

RULES = OrgRules()
DAY = date(2024, 5, 6)
NOW = at_local(DAY, 22)
FIRST_COMPLETION = BadgeDefinition(
    "first-course",
    "First course",
    BadgeCriterion(CriterionKind.EVENT_COUNT, event_kind=EventKind.COMPLETION),
    (BadgeTier("bronze", 1), BadgeTier("silver", 2)),
)


def test_fresh_learner_from_an_empty_document() -> None:
    state = LearnerState.from_dict({})
    assert state == LearnerState()
    assert (state.xp_total, state.level, state.streak.current) == (0, 1, 0)


def test_applying_a_fact_pays_xp_and_starts_a_streak() -> None:
    fact = make_fact(DAY, EventKind.EXPERIENCE)
    outcome = apply(LearnerState(), fact, RULES, [], NOW, TZ)
    assert not outcome.duplicate
    assert [(a.reason, a.amount) for a in outcome.ledger] == [(XpReason.EXPERIENCE, 20)]
    assert outcome.state.xp_total == 20
    assert outcome.state.streak.current == 1


def test_same_fact_twice_is_a_duplicate_and_changes_nothing() -> None:
    fact = make_fact(DAY, EventKind.COMPLETION, course_id=1)
    first = apply(LearnerState(), fact, RULES, [FIRST_COMPLETION], NOW, TZ)
    again = apply(first.state, fact, RULES, [FIRST_COMPLETION], NOW, TZ)
    assert again.duplicate
    assert again.state is first.state
    assert (again.ledger, again.awards) == ([], [])


def test_duplicate_is_recognised_after_a_json_round_trip() -> None:
    fact = make_fact(DAY, EventKind.INFORMAL)
    stored = json.loads(json.dumps(apply(LearnerState(), fact, RULES, [], NOW, TZ).state.to_dict()))
    assert apply(LearnerState.from_dict(stored), fact, RULES, [], NOW, TZ).duplicate


def test_a_version_2_document_with_plain_keys_still_knows_its_duplicates() -> None:
    fact = make_fact(DAY, EventKind.EXPERIENCE)
    document = json.loads(
        json.dumps(apply(LearnerState(), fact, RULES, [], NOW, TZ).state.to_dict())
    )
    # as the engine before digests wrote it: the keys themselves, with their day ordinals
    document |= {"schema": 2, "recent_keys": {fact.key: DAY.toordinal()}}
    state = LearnerState.from_dict(document)
    assert state.remembers(fact.key) and not state.remembers(fact.key + "-other")
    assert apply(state, fact, RULES, [], NOW, TZ).duplicate
    rewritten = state.to_dict()
    assert rewritten["schema"] == 3 and fact.key not in json.dumps(rewritten)
    assert LearnerState.from_dict(rewritten).remembers(fact.key)


def test_a_week_of_long_keys_costs_a_few_bytes_each_in_the_document() -> None:
    facts = [
        make_fact(
            DAY - timedelta(days=i % 7), EventKind.EXPERIENCE, key=f"xapi:{i:08d}-" + "f" * 27
        )
        for i in range(100)
    ]
    state = replay(facts, RULES, [], NOW, TZ).state
    assert all(state.remembers(f.key) for f in facts)
    keys = json.dumps(state.to_dict()["recent_keys"])
    assert len(keys) < 100 * 14  # the keys alone would take 100 * 41 characters
    assert LearnerState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@pytest.mark.parametrize(
    "keys",
    [
        {"739000": "AAAA"},  # a partial digest
        {"739000": "not base64!"},
        {"739000": "AAAAAAAAAAB"},  # 66 bits, not 64
        {"day": "AAAAAAAAAAA"},
        {"739000": 7},
    ],
)
def test_a_damaged_key_list_is_refused_with_a_reason(keys: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="recent_keys"):
        LearnerState.from_dict({"schema": 3, "recent_keys": keys})


def test_state_round_trips_through_json_with_everything_in_it() -> None:
    state = set_weekly_goal(LearnerState(), 30)
    state = add_dated_goal(
        state, DatedGoal("g", DatedGoalKind.COMPETENCY_EVENTS, DAY, DAY, competency_id=1)
    )
    state = plan_pause(
        state, DateRange(DAY + timedelta(days=3), DAY + timedelta(days=4)), RULES, NOW, TZ
    )
    facts = [
        make_fact(DAY, EventKind.COMPLETION, course_id=1, competency_ids=frozenset({1})),
        make_fact(DAY, EventKind.INFORMAL, text_fingerprint="abc"),
        make_fact(DAY - timedelta(days=1), EventKind.PROGRESS, minutes=30),
    ]
    state = replay(facts, RULES, [FIRST_COMPLETION], NOW, TZ, state=state).state
    document = json.loads(json.dumps(state.to_dict()))
    assert LearnerState.from_dict(document) == state


def test_badge_award_is_recorded_on_the_state() -> None:
    fact = make_fact(DAY, EventKind.COMPLETION, course_id=1)
    outcome = apply(LearnerState(), fact, RULES, [FIRST_COMPLETION], NOW, TZ)
    assert [(a.code, a.tier, a.evidence) for a in outcome.awards] == [
        ("first-course", "bronze", (fact.key,))
    ]
    assert outcome.state.has_badge("first-course", "bronze")


def test_weekly_goal_reached_pays_goal_xp_once_per_week() -> None:
    state = set_weekly_goal(LearnerState(), 30)
    first = apply(state, make_fact(DAY, EventKind.EXPERIENCE, minutes=20), RULES, [], NOW, TZ)
    assert XpReason.GOAL_REACHED not in [a.reason for a in first.ledger]
    second = apply(
        first.state, make_fact(DAY, EventKind.EXPERIENCE, minutes=20), RULES, [], NOW, TZ
    )
    goal_awards = [a for a in second.ledger if a.reason is XpReason.GOAL_REACHED]
    assert [(a.amount, a.ref) for a in goal_awards] == [(25, "weekly:2024-W19")]
    third = apply(
        second.state, make_fact(DAY, EventKind.EXPERIENCE, minutes=20), RULES, [], NOW, TZ
    )
    assert XpReason.GOAL_REACHED not in [a.reason for a in third.ledger]


def test_dated_goal_reached_pays_goal_xp() -> None:
    goal = DatedGoal(
        "sql", DatedGoalKind.COURSE_COMPLETION, DAY, DAY + timedelta(days=9), course_id=4
    )
    state = add_dated_goal(LearnerState(), goal)
    outcome = apply(state, make_fact(DAY, EventKind.COMPLETION, course_id=4), RULES, [], NOW, TZ)
    assert [a.ref for a in outcome.ledger if a.reason is XpReason.GOAL_REACHED] == ["dated:sql"]


def test_completed_challenge_pays_its_reward_and_its_badge_once() -> None:
    challenge = ChallengeDefinition(
        "sprint",
        "2 completions this week",
        DAY,
        DAY + timedelta(days=6),
        EventKind.COMPLETION,
        target_count=2,
        xp_reward=70,
        badge_code="sprinter",
    )
    facts = [make_fact(DAY, EventKind.COMPLETION, course_id=c) for c in (1, 2, 3)]
    outcome = replay(facts, RULES, [], NOW, TZ, challenges=[challenge])
    rewards = [a for a in outcome.ledger if a.reason is XpReason.CHALLENGE_COMPLETED]
    assert [(a.amount, a.event_key) for a in rewards] == [(70, facts[1].key)]
    assert [(a.code, a.tier) for a in outcome.awards] == [("sprinter", "completed")]
    assert outcome.state.completed_challenges == frozenset({"sprint"})


def test_enough_xp_reaches_the_next_level() -> None:
    fact = make_fact(DAY, EventKind.COMPLETION, course_id=1, course_duration_minutes=120)
    outcome = apply(LearnerState(), fact, RULES, [], NOW, TZ)
    assert (outcome.state.xp_total, outcome.state.level) == (110, 2)


def test_a_week_of_daily_learning_reaches_the_first_streak_milestone() -> None:
    facts = [make_fact(DAY - timedelta(days=i)) for i in range(8)]
    streak = replay(facts, RULES, [], NOW, TZ).state.streak
    assert (streak.current, streak.longest, streak.milestones) == (8, 8, (7,))


def test_xp_total_equals_the_ledger_sum() -> None:
    facts = [make_fact(DAY, kind) for kind in EventKind] * 2
    outcome = replay(facts, RULES, [FIRST_COMPLETION], NOW, TZ)
    assert outcome.state.xp_total == sum(a.amount for a in outcome.ledger)


def test_informal_cap_holds_across_applies_on_the_same_day() -> None:
    facts = [make_fact(DAY, EventKind.INFORMAL, hour=8 + i, minutes=5) for i in range(5)]
    outcome = replay(facts, RULES, [], NOW, TZ)
    assert outcome.state.xp_total == 30
    assert outcome.state.informal_xp_by_day == {DAY: 30}


def test_refresh_updates_a_stale_streak_as_days_pass() -> None:
    state = replay([make_fact(DAY - timedelta(days=i)) for i in range(3)], RULES, [], NOW, TZ).state
    assert state.streak.current == 3
    later = refresh(state, RULES, at_local(DAY + timedelta(days=5), 12), TZ)
    assert later.streak.current == 0
    assert later.streak.longest == 3


def test_planned_pause_keeps_the_streak_alive() -> None:
    state = replay([make_fact(DAY - timedelta(days=i)) for i in range(3)], RULES, [], NOW, TZ).state
    pause = DateRange(DAY + timedelta(days=1), DAY + timedelta(days=5))
    paused = plan_pause(state, pause, RULES, at_local(DAY + timedelta(days=5), 12), TZ)
    assert paused.streak.current == 3


def test_apply_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError):
        apply(LearnerState(), make_fact(DAY), RULES, [], NOW.replace(tzinfo=None), TZ)


def test_a_converted_document_with_a_completed_challenge_goes_on_learning() -> None:
    # a learner who completed a challenge under the earlier engine (every fact kept, no
    # tallies) gets the challenge's tally from those facts: their next fact is applied
    challenge = ChallengeDefinition(
        "sprint", "2 completions", DAY, DAY + timedelta(days=6), EventKind.COMPLETION, 2
    )
    facts = [make_fact(DAY, EventKind.COMPLETION, course_id=c) for c in (1, 2)]
    document = {
        "schema": 1,
        "facts": [f.to_dict() for f in facts],
        "xp_total": 300,
        "completed_challenges": ["sprint"],
    }
    state = LearnerState.from_dict(document)
    outcome = apply(
        state,
        make_fact(DAY, EventKind.COMPLETION, course_id=3),
        RULES,
        [],
        NOW,
        TZ,
        challenges=[challenge],
    )
    assert outcome.state.completed_challenges == frozenset({"sprint"})
    assert [a.reason for a in outcome.ledger] == [XpReason.COMPLETION]


def test_a_fact_is_paid_by_the_xp_rules_in_force_when_it_happened() -> None:
    from datetime import UTC, datetime

    from gamification import EventKind, LearnerState, LearningFact, OrgRules, XpRules
    from gamification.engine import apply
    from gamification.rules import XpRulesPeriod

    change = datetime(2026, 12, 8, 12, tzinfo=UTC)
    rules = OrgRules(
        xp=XpRules(experience_xp=50),
        xp_schedule=(
            XpRulesPeriod(XpRules(experience_xp=20), until=change),
            XpRulesPeriod(XpRules(experience_xp=50)),
        ),
    )

    def paid(occurred_at: datetime) -> int:
        fact = LearningFact(
            f"k{occurred_at.hour}", EventKind.EXPERIENCE, occurred_at, occurred_at.date()
        )
        outcome = apply(LearnerState(), fact, rules, [], datetime(2026, 12, 9, tzinfo=UTC), "UTC")
        return sum(a.amount for a in outcome.ledger)

    assert paid(datetime(2026, 12, 8, 11, tzinfo=UTC)) == 20
    assert paid(datetime(2026, 12, 8, 13, tzinfo=UTC)) == 50
