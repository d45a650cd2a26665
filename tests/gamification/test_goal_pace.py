"""A fair pace: nobody is behind early in the week (or on the day they joined); a goal of a
set of courses; closing and changing dated goals."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gamification.engine import add_dated_goal, apply, edit_dated_goal, finish_dated_goal
from gamification.events import EventKind
from gamification.goals import (
    MAX_FINISHED_GOALS,
    PACE_GRACE,
    DatedGoal,
    DatedGoalKind,
    GoalTally,
    Pace,
    dated_goal_progress,
    expected_share,
    goal_pace,
    weekly_goal_progress,
)
from gamification.nudge_policy import Activity, LearnerPrefs, NudgeRules, plan
from gamification.nudges import NudgeType, dated_goals_behind
from gamification.periods import local_day_start
from gamification.rules import OrgRules
from gamification.state import LearnerState
from tests.gamification.fact_factory import TZ, at_local, make_fact

MONDAY = date(2026, 12, 7)
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)

# any instant of the week of MONDAY, in whole minutes
week_minute = st.integers(min_value=0, max_value=7 * 24 * 60 - 1)


def _in_week(minute: int) -> datetime:
    return local_day_start(MONDAY, TZ) + timedelta(minutes=minute)


def test_a_new_learner_is_not_behind_on_monday_morning() -> None:
    # the complaint: 6% of the week gone, nothing learned yet, and already "behind"
    progress = weekly_goal_progress({}, 60, at_local(MONDAY, 10), TZ)
    assert progress.elapsed_fraction == pytest.approx(10 / 168)
    assert progress.pace is Pace.ON_TRACK


def test_nothing_learned_by_saturday_is_behind() -> None:
    assert weekly_goal_progress({}, 60, at_local(MONDAY + timedelta(days=5), 9), TZ).pace is (
        Pace.BEHIND
    )


def test_a_learner_who_joined_on_thursday_is_measured_from_then() -> None:
    thursday = MONDAY + timedelta(days=3)
    evening = at_local(thursday, 20)
    joined = weekly_goal_progress({}, 60, evening, TZ, since=at_local(thursday, 9))
    everyone = weekly_goal_progress({}, 60, evening, TZ)
    assert everyone.pace is Pace.BEHIND
    assert joined.pace is Pace.ON_TRACK
    assert joined.elapsed_fraction == pytest.approx(11 / (24 * 4 - 9))


def test_a_good_start_is_ahead() -> None:
    progress = weekly_goal_progress({MONDAY: 30}, 60, at_local(MONDAY, 20), TZ)
    assert progress.pace is Pace.AHEAD


@PROPERTY_SETTINGS
@given(minute=week_minute, minutes=st.integers(min_value=0, max_value=200))
def test_nobody_is_behind_in_the_first_two_days(minute: int, minutes: int) -> None:
    now = _in_week(minute)
    progress = weekly_goal_progress({MONDAY: minutes}, 120, now, TZ)
    if progress.elapsed_fraction <= PACE_GRACE:
        assert progress.pace is not Pace.BEHIND


@PROPERTY_SETTINGS
@given(
    minute=week_minute,
    later=st.integers(min_value=0, max_value=7 * 24 * 60 - 1),
    minutes=st.integers(min_value=0, max_value=200),
    more=st.integers(min_value=0, max_value=200),
)
def test_more_learning_never_hurts_and_waiting_never_helps(
    minute: int, later: int, minutes: int, more: int
) -> None:
    order = [Pace.BEHIND, Pace.ON_TRACK, Pace.AHEAD, Pace.DONE]
    now, then = _in_week(minute), _in_week(max(minute, later))
    base = weekly_goal_progress({MONDAY: minutes}, 120, now, TZ).pace
    assert order.index(weekly_goal_progress({MONDAY: minutes + more}, 120, now, TZ).pace) >= (
        order.index(base)
    )
    # the same minutes later in the week: never a better pace
    if base is not Pace.AHEAD:  # ahead may fall back to on track, which is not "better"
        assert order.index(weekly_goal_progress({MONDAY: minutes}, 120, then, TZ).pace) <= (
            order.index(base)
        )


@PROPERTY_SETTINGS
@given(
    joined=week_minute,
    after=st.integers(min_value=0, max_value=7 * 24 * 60),
)
def test_a_learner_is_never_behind_in_their_first_part_of_the_week(joined: int, after: int) -> None:
    start = _in_week(joined)
    end = local_day_start(MONDAY + timedelta(days=7), TZ)
    now = min(start + timedelta(minutes=after), end - timedelta(minutes=1))
    progress = weekly_goal_progress({}, 60, now, TZ, since=start)
    grace_ends = start + (end - start) * PACE_GRACE
    if now <= grace_ends:
        assert progress.pace is Pace.ON_TRACK


@given(elapsed=st.floats(min_value=0, max_value=1), fraction=st.floats(min_value=0, max_value=1))
def test_expected_share_grows_to_everything_and_pace_follows_it(
    elapsed: float, fraction: float
) -> None:
    expected = expected_share(elapsed)
    assert 0 <= expected <= elapsed
    assert expected_share(1.0) == 1.0
    pace = goal_pace(fraction, elapsed)
    assert (pace is Pace.BEHIND) == (fraction < expected and fraction < 1)


# ---------------------------------------------------------------------------------------------
# a goal of a set of courses


def courses_goal(*course_ids: int, due: date | None = None) -> DatedGoal:
    return DatedGoal(
        "three-courses",
        DatedGoalKind.COURSES,
        set_on=MONDAY,
        due_on=due or MONDAY + timedelta(days=27),
        course_ids=course_ids,
        target_count=len(course_ids),
    )


def test_a_set_of_courses_is_reached_when_the_last_one_is_finished() -> None:
    goal = courses_goal(1, 2, 3)
    facts = [
        make_fact(MONDAY + timedelta(days=2), EventKind.COMPLETION, course_id=2),
        make_fact(MONDAY + timedelta(days=3), EventKind.COMPLETION, course_id=9),
        make_fact(MONDAY + timedelta(days=4), EventKind.COMPLETION, course_id=2),  # again
        make_fact(MONDAY + timedelta(days=5), EventKind.COMPLETION, course_id=1),
    ]
    halfway = dated_goal_progress(goal, facts, MONDAY + timedelta(days=6))
    assert (halfway.done, halfway.target, halfway.reached_on) == (2, 3, None)
    assert halfway.pace is Pace.AHEAD
    last = make_fact(MONDAY + timedelta(days=9), EventKind.COMPLETION, course_id=3)
    done = dated_goal_progress(goal, [last, *reversed(facts)], MONDAY + timedelta(days=10))
    assert (done.done, done.pace, done.reached_on) == (3, Pace.DONE, MONDAY + timedelta(days=9))


@PROPERTY_SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=5), st.integers(min_value=-3, max_value=30)),
        max_size=12,
    ),
    st.randoms(use_true_random=False),
)
def test_a_set_of_courses_does_not_depend_on_arrival_order(
    completions: list[tuple[int, int]], rng: object
) -> None:
    goal = courses_goal(1, 2, 4)
    facts = [
        make_fact(MONDAY + timedelta(days=d), EventKind.COMPLETION, course_id=c)
        for c, d in completions
    ]
    shuffled = list(facts)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    today = MONDAY + timedelta(days=40)
    first, second = (dated_goal_progress(goal, f, today) for f in (facts, shuffled))
    assert first == second
    window = {c for c, d in completions if 0 <= d <= 27 and c in (1, 2, 4)}
    assert first.done == len(window)


def test_a_set_of_courses_round_trips_and_old_goals_keep_their_key() -> None:
    goal = courses_goal(5, 7)
    assert DatedGoal.from_dict(json.loads(json.dumps(goal.to_dict()))) == goal
    old = {
        "goal_id": "g1",
        "kind": "course_completion",
        "set_on": "2026-12-01",
        "due_on": "2026-12-31",
        "course_id": 4,
        "competency_id": None,
        "target_count": 1,
        "event_kind": None,
    }
    assert DatedGoal.from_dict(old).to_dict() == old  # so its tally key stays what it was
    tally = GoalTally().plus(goal, make_fact(MONDAY, EventKind.COMPLETION, course_id=7))
    assert GoalTally.from_json(json.loads(json.dumps(tally.to_json()))) == tally
    assert GoalTally.from_json([1, [700000], 0, 0]) == GoalTally(1, (date.fromordinal(700000),))
    with pytest.raises(ValueError):
        courses_goal()
    with pytest.raises(ValueError):
        courses_goal(*range(1, 12))
    with pytest.raises(ValueError):
        courses_goal(3, 3)


# ---------------------------------------------------------------------------------------------
# changing and closing a goal


def _learner_with(goal: DatedGoal) -> LearnerState:
    return add_dated_goal(LearnerState(), goal)


def test_a_finished_goal_leaves_the_open_ones_with_what_was_done() -> None:
    goal = courses_goal(1, 2)
    rules = OrgRules()
    state = _learner_with(goal)
    fact = make_fact(MONDAY + timedelta(days=1), EventKind.COMPLETION, course_id=1)
    state = apply(state, fact, rules, [], at_local(MONDAY + timedelta(days=1), 13), TZ).state
    closed = finish_dated_goal(state, goal.goal_id, MONDAY + timedelta(days=3))
    assert closed.dated_goals == ()
    [finished] = closed.finished_goals
    assert (finished.goal, finished.done, finished.reached_on) == (goal, 1, None)
    assert finished.finished_on == MONDAY + timedelta(days=3)
    again = LearnerState.from_dict(json.loads(json.dumps(closed.to_dict())))
    assert again.finished_goals == closed.finished_goals
    assert "finished_goals" not in LearnerState().to_dict()  # old documents stay as they were


def test_only_the_newest_finished_goals_are_kept() -> None:
    state = LearnerState()
    for n in range(MAX_FINISHED_GOALS + 3):
        goal = DatedGoal(f"g{n}", DatedGoalKind.COURSE_COMPLETION, MONDAY, MONDAY, course_id=1)
        state = finish_dated_goal(add_dated_goal(state, goal), goal.goal_id, MONDAY)
    assert len(state.finished_goals) == MAX_FINISHED_GOALS
    assert state.finished_goals[-1].goal.goal_id == f"g{MAX_FINISHED_GOALS + 2}"


def test_a_changed_goal_is_counted_again_from_the_history() -> None:
    rules = OrgRules()
    goal = courses_goal(1, 2)
    state = _learner_with(goal)
    fact = make_fact(MONDAY + timedelta(days=1), EventKind.COMPLETION, course_id=3)
    state = apply(state, fact, rules, [], at_local(MONDAY + timedelta(days=1), 13), TZ).state
    wider = courses_goal(1, 2, 3)
    changed = edit_dated_goal(state, wider, [fact])
    assert changed.dated_goals == (wider,)
    progress = changed.dated_goal_progress(wider, MONDAY + timedelta(days=2))
    assert (progress.done, progress.target) == (1, 3)
    assert set(changed.goal_tallies) == {wider.tally_key}
    unknown = DatedGoal(
        "nope", DatedGoalKind.COURSES, MONDAY, MONDAY, target_count=1, course_ids=(1,)
    )
    with pytest.raises(ValueError):
        edit_dated_goal(changed, unknown, [fact])


# ---------------------------------------------------------------------------------------------
# the goal-pace nudge


def _behind_today(goal: DatedGoal, today: date, sent: list[tuple[str, datetime]]) -> list[str]:
    tallies = {goal.tally_key: GoalTally()}
    noon = at_local(today, 12)
    return [
        h.dedupe_key
        for h in dated_goals_behind([goal], tallies, today, noon, at_local(today, 23), sent)
    ]


def test_a_goal_behind_is_nudged_with_a_link_to_it_and_then_left_alone_for_days() -> None:
    goal = courses_goal(1, 2, 3, due=MONDAY + timedelta(days=13))
    early = MONDAY + timedelta(days=3)  # within the grace: not behind
    assert _behind_today(goal, early, []) == []
    day = MONDAY + timedelta(days=7)
    [happening] = dated_goals_behind(
        [goal], {goal.tally_key: GoalTally()}, day, at_local(day, 12), at_local(day, 23), []
    )
    assert happening.kind is NudgeType.DATED_GOAL_BEHIND
    assert happening.url == f"/goals#goal-{goal.goal_id}"
    assert dict(happening.params) == {"done": 0, "target": 3, "days_left": 7}
    sent = [(happening.dedupe_key, at_local(day, 12, 5))]
    for later in range(1, 4):
        assert _behind_today(goal, day + timedelta(days=later), sent) == []
    assert _behind_today(goal, day + timedelta(days=4), sent) == [
        f"dated_goal_behind:{goal.goal_id}:{day + timedelta(days=4)}"
    ]
    # a goal not counted yet, or past its date, gets none
    assert dated_goals_behind([goal], {}, day, at_local(day, 12), at_local(day, 23), []) == []
    assert _behind_today(goal, goal.due_on + timedelta(days=1), []) == []


def test_no_weekly_goal_nudge_for_a_colleague_who_started_this_wednesday() -> None:
    wednesday = date(2026, 11, 25)
    evening = at_local(wednesday, 19)
    activity = Activity(weekly_goal_minutes=90)
    old_hand = plan(LearnerPrefs(TZ), activity, (), (), NudgeRules(), evening, random.Random(1))
    assert [n.kind for n in old_hand.nudges] == [NudgeType.GOAL_BEHIND]
    newcomer = LearnerPrefs(TZ, start_date=wednesday)
    fresh = plan(newcomer, activity, (), (), NudgeRules(), evening, random.Random(1))
    assert [n.kind for n in fresh.nudges] == [NudgeType.REMINDER]
