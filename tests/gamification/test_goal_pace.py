"""A fair pace: nobody is behind early in the week, or on the day they joined."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gamification.goals import (
    PACE_GRACE,
    Pace,
    expected_share,
    goal_pace,
    weekly_goal_progress,
)
from gamification.periods import local_day_start
from tests.gamification.fact_factory import TZ, at_local

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
