"""Local days, DST, facts and their JSON form."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from gamification.events import EventKind, LearningFact, fingerprint_text, local_day
from gamification.periods import DateRange, iso_week_label, local_day_start, week_start
from tests.gamification.fact_factory import TZ, at_local, make_fact

# 2024: Amsterdam springs forward on Sunday 31 March, falls back on Sunday 27 October
SPRING_FORWARD = date(2024, 3, 31)
FALL_BACK = date(2024, 10, 27)


@pytest.mark.parametrize("day", [SPRING_FORWARD, FALL_BACK])
def test_event_at_2330_local_on_dst_sunday_counts_for_that_sunday(day: date) -> None:
    assert local_day(at_local(day, 23, 30), TZ) == day


def test_event_just_after_local_midnight_counts_for_next_day_in_summer_time() -> None:
    # 22:30 UTC on 31 March is 00:30 CEST on 1 April
    moment = datetime(2024, 3, 31, 22, 30, tzinfo=UTC)
    assert local_day(moment, TZ) == date(2024, 4, 1)


def test_local_day_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        local_day(datetime(2024, 1, 1, 12), TZ)


def test_dst_days_start_at_local_midnight_and_last_23_or_25_hours() -> None:
    spring = local_day_start(SPRING_FORWARD + timedelta(days=1), TZ) - local_day_start(
        SPRING_FORWARD, TZ
    )
    autumn = local_day_start(FALL_BACK + timedelta(days=1), TZ) - local_day_start(FALL_BACK, TZ)
    assert spring == timedelta(hours=23)
    assert autumn == timedelta(hours=25)


def test_weeks_start_on_monday_and_are_labelled_by_iso_week() -> None:
    assert week_start(date(2024, 3, 31)) == date(2024, 3, 25)
    assert iso_week_label(date(2024, 12, 30)) == "2025-W01"


def test_date_range_includes_both_ends_and_rejects_reversed_ranges() -> None:
    pause = DateRange(date(2024, 5, 1), date(2024, 5, 3))
    assert date(2024, 5, 1) in pause and date(2024, 5, 3) in pause
    assert date(2024, 5, 4) not in pause
    with pytest.raises(ValueError):
        DateRange(date(2024, 5, 3), date(2024, 5, 1))


def test_fact_round_trips_through_json() -> None:
    fact = make_fact(
        date(2024, 3, 31),
        EventKind.COMPLETION,
        course_id=7,
        course_duration_minutes=90,
        competency_ids=frozenset({3, 1}),
        hot_skill=True,
    )
    assert LearningFact.from_dict(json.loads(json.dumps(fact.to_dict()))) == fact


def test_fact_rejects_naive_time_and_negative_minutes() -> None:
    with pytest.raises(ValueError):
        LearningFact("k", EventKind.INFORMAL, datetime(2024, 1, 1), date(2024, 1, 1))
    with pytest.raises(ValueError):
        make_fact(date(2024, 1, 1), minutes=-1)


def test_testimonials_and_empty_progress_pings_are_not_learning_activity() -> None:
    day = date(2024, 1, 1)
    assert not make_fact(day, EventKind.TESTIMONIAL).counts_as_activity
    assert not make_fact(day, EventKind.PROGRESS, minutes=0).counts_as_activity
    assert make_fact(day, EventKind.PROGRESS, minutes=5).counts_as_activity
    assert make_fact(day, EventKind.INFORMAL, minutes=0).counts_as_activity


def test_fingerprint_ignores_case_and_spacing_but_not_words() -> None:
    assert fingerprint_text("Read  the Docs ") == fingerprint_text("read the docs")
    assert fingerprint_text("read the docs") != fingerprint_text("wrote the docs")
