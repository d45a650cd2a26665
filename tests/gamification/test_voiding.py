"""Voiding takes a fact back: applying facts and voiding some of them, in any arrival order
(a voiding before or after its fact, twice or not), ends where applying only the others
does (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gamification.engine import add_dated_goal, apply, refresh, replay
from gamification.events import EventKind, LearningFact
from gamification.goals import DatedGoal, DatedGoalKind
from gamification.rules import OrgRules
from gamification.state import LearnerState
from gamification.voiding import MAX_SEPARATE_COUNTERS, without_facts
from tests.gamification.fact_factory import TZ, make_fact
from tests.gamification.test_properties import (
    BADGES,
    CHALLENGES,
    DAILY_RULES,
    NOW,
    START,
    WEEKLY_RULES,
    facts,
)

GOAL = DatedGoal(
    "three-completions",
    DatedGoalKind.COMPETENCY_EVENTS,
    set_on=START,
    due_on=START + timedelta(days=40),
    competency_id=1,
    target_count=3,
)
FRESH = add_dated_goal(LearnerState(weekly_goal_minutes=45), GOAL)


def _comparable(state: LearnerState) -> dict[str, Any]:
    """The state a learner sees, without awarded badges (they stay: see the module) and the
    streak checkpoint (where the next walk may start: a cache, not a result). A dated goal
    by its progress: the engine stops its tally once the goal is paid, so which days the tally
    holds depends on the arrival order even without voiding."""
    document = state.to_dict()
    del document["awarded_badges"], document["streak_checkpoint"], document["goal_tallies"]
    progress = state.dated_goal_progress(GOAL, NOW.date())
    document["goal"] = (min(progress.done, GOAL.target_count), progress.reached_on is not None)
    return document


def _arrive(arrivals: list[tuple[str, LearningFact]], rules: OrgRules) -> tuple[LearnerState, int]:
    """Facts and voidings in arrival order, as the backend runs them: a voided fact that
    arrives later earns nothing; a voiding of an applied fact takes it back. The state and
    the sum of its XP ledger."""
    state, ledger = FRESH, 0
    applied: list[LearningFact] = []
    voided: set[str] = set()
    for what, fact in arrivals:
        if what == "fact":
            if fact.key in voided:
                continue
            outcome = apply(state, fact, rules, BADGES, NOW, TZ, challenges=CHALLENGES)
            state = outcome.state
            ledger += sum(a.amount for a in outcome.ledger)
            applied.append(fact)
        elif fact.key not in voided:  # voiding twice changes nothing
            voided.add(fact.key)
            result = without_facts(
                state, applied, [fact.key], rules, BADGES, NOW, TZ, challenges=CHALLENGES
            )
            state = result.state
            ledger += result.xp_change
            applied = [f for f in applied if f.key != fact.key]
    return state, ledger


@settings(max_examples=80, deadline=None)
@given(
    history=facts(max_size=14),
    data=st.data(),
    rules=st.sampled_from([DAILY_RULES, WEEKLY_RULES]),
)
def test_a_fact_and_its_voiding_in_any_order_equal_never_having_it(
    history: list[LearningFact], data: st.DataObject, rules: OrgRules
) -> None:
    voided = data.draw(st.sets(st.sampled_from(history), max_size=6)) if history else set()
    twice = (
        data.draw(st.lists(st.sampled_from(sorted(voided, key=lambda f: f.key)), max_size=2))
        if voided
        else []
    )
    arrivals = data.draw(
        st.permutations([("fact", f) for f in history] + [("void", f) for f in [*voided, *twice]])
    )
    state, ledger = _arrive(arrivals, rules)
    kept = sorted((f for f in history if f not in voided), key=lambda f: f.chronological_key)
    expected = replay(kept, rules, BADGES, NOW, TZ, challenges=CHALLENGES, state=FRESH).state
    # both walked as of now (a learner without facts has never been walked)
    assert _comparable(refresh(state, rules, NOW, TZ)) == _comparable(
        refresh(expected, rules, NOW, TZ)
    )
    assert state.xp_total == ledger
    assert state.level == expected.level


def test_voiding_the_completion_that_reached_a_goal_takes_back_its_xp_and_the_goal() -> None:
    day = date(2024, 3, 20)
    first, second, third = (
        make_fact(day + timedelta(days=i), EventKind.COMPLETION, course_id=i + 1,
                  course_duration_minutes=30, competency_ids=frozenset({1}))
        for i in range(3)
    )  # fmt: skip
    state = replay([first, second, third], DAILY_RULES, [], NOW, TZ, state=FRESH).state
    assert "dated:three-completions" in state.rewarded_goals
    result = without_facts(state, [first, second, third], [third.key], DAILY_RULES, [], NOW, TZ)
    alone = replay([first, second], DAILY_RULES, [], NOW, TZ, state=FRESH).state
    assert result.state.xp_total == alone.xp_total < state.xp_total
    assert result.counters == ((third.key, alone.xp_total - state.xp_total),)
    assert "dated:three-completions" not in result.state.rewarded_goals
    assert result.state.dated_goal_progress(GOAL, day).done == 2


def test_voiding_keeps_xp_paid_for_a_goal_since_closed_and_the_learners_settings() -> None:
    day = date(2024, 3, 20)
    done = [
        make_fact(day, EventKind.COMPLETION, course_id=i, course_duration_minutes=30,
                  competency_ids=frozenset({1}))
        for i in range(1, 5)
    ]  # fmt: skip
    state = replay(done, DAILY_RULES, [], NOW, TZ, state=FRESH).state
    # the learner closes the goal and changes their weekly goal: the replay cannot see either
    closed = LearnerState.from_dict({**state.to_dict(), "dated_goals": [], "goal_tallies": {}})
    closed = LearnerState.from_dict({**closed.to_dict(), "weekly_goal_minutes": 500})
    result = without_facts(closed, done, [done[-1].key], DAILY_RULES, [], NOW, TZ)
    assert "dated:three-completions" in result.state.rewarded_goals  # still paid
    assert result.state.weekly_goal_minutes == 500
    assert result.state.xp_total == closed.xp_total + result.xp_change
    assert -result.xp_change == 50 + 15  # the course's own XP only: base 50 + 0.5 x 30 min


def test_voiding_nothing_applied_changes_nothing() -> None:
    fact = make_fact(date(2024, 3, 20), EventKind.EXPERIENCE)
    state = replay([fact], DAILY_RULES, BADGES, NOW, TZ, state=FRESH).state
    assert (
        without_facts(state, [fact], ["never-applied"], DAILY_RULES, BADGES, NOW, TZ).state is state
    )


def test_voiding_many_facts_at_once_counters_them_together_on_the_newest() -> None:
    done = [
        make_fact(date(2024, 3, 18) + timedelta(days=i), EventKind.EXPERIENCE)
        for i in range(MAX_SEPARATE_COUNTERS + 1)
    ]
    state = replay(done, DAILY_RULES, [], NOW, TZ, state=FRESH).state
    result = without_facts(state, done, [f.key for f in done], DAILY_RULES, [], NOW, TZ)
    assert result.counters == ((done[-1].key, -state.xp_total),)
    assert result.state.xp_total == 0 and result.state.fact_count == 0
