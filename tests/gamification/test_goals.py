"""Weekly minutes goal and dated goals: progress and pace."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from gamification.events import EventKind
from gamification.goals import (
    DatedGoal,
    DatedGoalKind,
    Pace,
    dated_goal_progress,
    weekly_goal_progress,
)
from tests.gamification.fact_factory import TZ, at_local, make_fact

MONDAY = date(2024, 5, 6)


def test_weekly_goal_is_on_track_when_progress_keeps_up_with_the_week() -> None:
    # Thursday 00:00 local: 3 of 7 days elapsed, 30 of 60 minutes done
    progress = weekly_goal_progress({MONDAY: 30}, 60, at_local(date(2024, 5, 9), 0), TZ)
    assert progress.week_start == MONDAY
    assert progress.elapsed_fraction == pytest.approx(3 / 7)
    assert progress.pace is Pace.ON_TRACK


def test_weekly_goal_falls_behind_when_progress_lags_the_week() -> None:
    progress = weekly_goal_progress({MONDAY: 10}, 60, at_local(date(2024, 5, 11), 12), TZ)
    assert progress.pace is Pace.BEHIND
    assert progress.minutes == 10


def test_weekly_goal_is_done_when_target_minutes_are_reached() -> None:
    minutes = {MONDAY: 40, date(2024, 5, 7): 25, date(2024, 5, 13): 500}
    progress = weekly_goal_progress(minutes, 60, at_local(date(2024, 5, 7), 20), TZ)
    assert (progress.minutes, progress.fraction, progress.pace) == (65, 1.0, Pace.DONE)


def test_weekly_goal_week_follows_the_learner_timezone() -> None:
    # Sunday 23:30 UTC is already Monday in Amsterdam: a new, empty week
    now = datetime(2024, 5, 12, 23, 30, tzinfo=UTC)
    progress = weekly_goal_progress({MONDAY: 60}, 60, now, TZ)
    assert progress.week_start == date(2024, 5, 13)
    assert progress.minutes == 0


def test_weekly_elapsed_fraction_uses_real_hours_in_a_dst_week() -> None:
    # the week of 25 March 2024 has 167 hours; Sunday 31 March 12:00 CEST is 155 h in
    progress = weekly_goal_progress({}, 60, at_local(date(2024, 3, 31), 12), TZ)
    assert progress.elapsed_fraction == pytest.approx(155 / 167)


def course_goal() -> DatedGoal:
    return DatedGoal(
        "finish-sql",
        DatedGoalKind.COURSE_COMPLETION,
        set_on=MONDAY,
        due_on=date(2024, 5, 15),
        course_id=9,
    )


def test_course_goal_is_done_once_the_course_is_completed_before_the_deadline() -> None:
    facts = [make_fact(date(2024, 5, 8), EventKind.COMPLETION, course_id=9)]
    progress = dated_goal_progress(course_goal(), facts, date(2024, 5, 9))
    assert (progress.pace, progress.reached_on, progress.fraction) == (
        Pace.DONE,
        date(2024, 5, 8),
        1.0,
    )


def test_course_goal_progress_counts_minutes_learned_on_the_course() -> None:
    facts = [
        make_fact(MONDAY, EventKind.PROGRESS, course_id=9, minutes=60, course_duration_minutes=120)
    ]
    progress = dated_goal_progress(course_goal(), facts, date(2024, 5, 8))
    assert progress.fraction == pytest.approx(0.5)
    # half the course after a fifth of the time
    assert progress.pace is Pace.AHEAD


def test_course_goal_is_missed_after_the_deadline() -> None:
    late = [make_fact(date(2024, 5, 16), EventKind.COMPLETION, course_id=9)]
    progress = dated_goal_progress(course_goal(), late, date(2024, 5, 16))
    assert progress.pace is Pace.MISSED
    assert progress.reached_on is None


def test_competency_goal_counts_events_in_that_competency_and_reports_pace() -> None:
    goal = DatedGoal(
        "five-security",
        DatedGoalKind.COMPETENCY_EVENTS,
        set_on=MONDAY,
        due_on=date(2024, 5, 15),
        competency_id=3,
        target_count=5,
    )
    facts = [
        make_fact(MONDAY, competency_ids=frozenset({3})),
        make_fact(MONDAY, competency_ids=frozenset({4})),
    ]
    behind = dated_goal_progress(goal, facts, date(2024, 5, 12))
    assert (behind.done, behind.target, behind.pace) == (1, 5, Pace.BEHIND)
    more = facts + [make_fact(date(2024, 5, 7), competency_ids=frozenset({3})) for _ in range(4)]
    done = dated_goal_progress(goal, more, date(2024, 5, 12))
    assert (done.done, done.pace, done.reached_on) == (5, Pace.DONE, date(2024, 5, 7))


def test_dated_goal_round_trips_and_validates() -> None:
    goal = course_goal()
    assert DatedGoal.from_dict(json.loads(json.dumps(goal.to_dict()))) == goal
    with pytest.raises(ValueError):
        DatedGoal("x", DatedGoalKind.COURSE_COMPLETION, MONDAY, MONDAY)
