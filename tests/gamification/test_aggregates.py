"""Bounded aggregates answer every engine measure exactly as the full fact list does."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from gamification.aggregates import (
    LearnerAggregates,
    challenge_from_aggregates,
    dated_goal_from_aggregates,
    measure_from_aggregates,
    weekly_minutes_from_aggregates,
)
from gamification.badges import BadgeCriterion, CriterionKind, measure_criterion
from gamification.challenges import ChallengeDefinition, challenge_progress
from gamification.events import EventKind, LearningFact
from gamification.goals import DatedGoal, DatedGoalKind, dated_goal_progress, weekly_minutes
from gamification.state import LearnerState
from tests.gamification.fact_factory import make_fact

# Around the 2026 DST change in Amsterdam (29 March), late evening and just after midnight.
START = date(2026, 3, 20)
facts_st = st.lists(
    st.builds(
        lambda i, day, kind, hour, minutes, course, comps, hot, dur: make_fact(
            START + timedelta(days=day),
            kind,
            key=f"k{i}",
            hour=hour,
            minutes=minutes,
            course_id=course,
            course_duration_minutes=dur,
            competency_ids=frozenset(comps),
            hot_skill=hot,
        ),
        st.integers(0, 60),
        st.integers(0, 20),
        st.sampled_from(list(EventKind)),
        st.sampled_from([0, 1, 12, 23]),
        st.sampled_from([0, 5, 30]),
        st.sampled_from([None, 1, 2, 3]),
        st.sets(st.integers(1, 4), max_size=2),
        st.booleans(),
        st.sampled_from([None, 60]),
    ),
    max_size=40,
)
criteria_st = st.builds(
    BadgeCriterion,
    kind=st.sampled_from([k for k in CriterionKind if k not in {CriterionKind.STREAK_LENGTH}]),
    event_kind=st.none() | st.sampled_from(list(EventKind)),
    competency_id=st.none() | st.integers(1, 4),
    course_ids=st.frozensets(st.integers(1, 3), max_size=2),
    starts_on=st.none() | st.just(START + timedelta(days=5)),
    ends_on=st.none() | st.just(START + timedelta(days=12)),
)


def _state(facts: list[LearningFact]) -> LearnerState:
    unique = {f.key: f for f in facts}
    return LearnerState(facts=tuple(sorted(unique.values(), key=lambda f: f.chronological_key)))


@settings(max_examples=150, deadline=None)
@given(facts=facts_st, criterion=criteria_st)
def test_badge_measures_from_aggregates_equal_measures_from_facts(
    facts: list[LearningFact], criterion: BadgeCriterion
) -> None:
    state = _state(facts + facts[:3])
    agg = LearnerAggregates.from_facts(facts + facts[:3])
    assert measure_from_aggregates(criterion, agg) == measure_criterion(criterion, state)
    assert agg.sessions_by_day() == state.sessions_by_day()
    assert agg.minutes_by_day() == state.minutes_by_day()
    for offset in range(0, 21, 3):
        day = START + timedelta(days=offset)
        assert weekly_minutes_from_aggregates(agg, day) == weekly_minutes(
            state.minutes_by_day(), day
        )


@settings(max_examples=150, deadline=None)
@given(
    facts=facts_st,
    kind=st.sampled_from(list(EventKind)),
    target=st.integers(1, 4),
    comp=st.none() | st.integers(1, 4),
    hot=st.booleans(),
    today=st.integers(0, 25),
)
def test_goal_and_challenge_progress_from_aggregates_equal_progress_from_facts(
    facts: list[LearningFact], kind: EventKind, target: int, comp: int | None, hot: bool, today: int
) -> None:
    state = _state(facts)
    agg = LearnerAggregates.from_facts(facts)
    challenge = ChallengeDefinition(
        "c", "C", START + timedelta(days=3), START + timedelta(days=15), kind, target, comp, hot
    )
    full = challenge_progress(challenge, state.facts)
    mine = challenge_from_aggregates(challenge, agg)
    assert (mine.count, mine.completed, mine.completed_on, mine.fraction) == (
        full.count,
        full.completed,
        full.completed_on,
        full.fraction,
    )
    day = START + timedelta(days=today)
    goals = [
        DatedGoal(
            "g1", DatedGoalKind.COURSE_COMPLETION, START, START + timedelta(days=14), course_id=2
        ),
        DatedGoal(
            "g2",
            DatedGoalKind.COMPETENCY_EVENTS,
            START + timedelta(days=2),
            START + timedelta(days=16),
            competency_id=comp or 1,
            target_count=target,
        ),
    ]
    for goal in goals:
        assert dated_goal_from_aggregates(goal, agg, day) == dated_goal_progress(
            goal, state.facts, day
        )


@settings(max_examples=80, deadline=None)
@given(facts=facts_st, seed=st.integers(0, 1000))
def test_aggregates_built_in_any_order_are_equal_and_round_trip(
    facts: list[LearningFact], seed: int
) -> None:
    unique = list({f.key: f for f in facts}.values())
    shuffled = unique[:]
    random.Random(seed).shuffle(shuffled)
    a = LearnerAggregates()
    for fact in unique:
        a = a.add(fact)
    b = LearnerAggregates()
    for fact in shuffled:
        b = b.add(fact)
    assert a == b
    assert LearnerAggregates.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    # a duplicate of the newest fact (always inside the key window) changes nothing
    if unique:
        newest = max(unique, key=lambda f: f.local_date)
        assert newest.key in a.recent_keys
        assert a.add(newest) == a


def test_ten_thousand_facts_on_thirty_days_keep_the_document_small() -> None:
    def facts(n: int) -> list[LearningFact]:
        return [
            make_fact(
                START + timedelta(days=i % 30),
                EventKind.INFORMAL,
                key=f"b{n}-{i}",
                competency_ids=frozenset({(i // 30) % 3}),
            )
            for i in range(n)
        ]

    small = len(json.dumps(LearnerAggregates.from_facts(facts(300)).to_dict()))
    big_agg = LearnerAggregates.from_facts(facts(10_000))
    big = len(json.dumps(big_agg.to_dict()))
    assert sum(t.count for t in big_agg.buckets.values()) == 10_000
    # same buckets; only counts and the recent-key window (7 days of keys) differ
    assert len(big_agg.buckets) == 90
    assert len(big_agg.recent_keys) < 10_000 * 9 // 30
    assert big < 30 * small
