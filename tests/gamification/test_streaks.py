"""Streak rules: consecutive days/weeks, freezes, pauses, repair, risk and milestones."""

from __future__ import annotations

import json
from datetime import date, timedelta

from gamification.periods import DateRange
from gamification.rules import StreakMode, StreakPolicy
from gamification.streaks import RepairOffer, StreakStatus, compute_streak

DAILY = StreakPolicy()
WEEKLY = StreakPolicy(mode=StreakMode.WEEKLY, days_per_week=3)


def jan(day: int) -> date:
    """A day of January 2024 (1 January 2024 is a Monday)."""
    return date(2024, 1, 1) + timedelta(days=day - 1)


def active(*days: int, twice: tuple[int, ...] = ()) -> dict[date, int]:
    """Sessions per day: one on each day in ``days``, two on each day in ``twice``."""
    sessions = {jan(d): 1 for d in days}
    sessions.update({jan(d): 2 for d in twice})
    return sessions


def test_consecutive_active_days_make_the_streak() -> None:
    status = compute_streak(active(1, 2, 3, 4, 5), DAILY, today=jan(5))
    assert (status.current, status.longest, status.at_risk) == (5, 5, False)


def test_streak_is_at_risk_until_today_is_active() -> None:
    status = compute_streak(active(1, 2, 3, 4), DAILY, today=jan(5))
    assert status.current == 4
    assert status.at_risk
    assert status.deadline == jan(5)


def test_late_event_still_extends_streak() -> None:
    before = compute_streak(active(1, 2, 4), DAILY, today=jan(4))
    after = compute_streak(active(1, 2, 3, 4), DAILY, today=jan(4))
    assert before.current == 1
    assert after.current == 4


def test_missed_day_breaks_a_short_streak_without_freezes() -> None:
    status = compute_streak(active(1, 2, 3, 6), DAILY, today=jan(6))
    assert (status.current, status.longest) == (1, 3)
    assert status.freezes_used == ()
    assert status.repair_offer is None


def test_freeze_earned_after_seven_days_is_applied_to_a_missed_day() -> None:
    status = compute_streak(active(*range(1, 8), 9), DAILY, today=jan(9))
    assert status.current == 8
    assert status.freezes_used == (jan(8),)
    assert status.freezes_banked == 0


def test_no_freeze_before_seven_streak_days() -> None:
    status = compute_streak(active(*range(1, 7), 8, 9, 10), DAILY, today=jan(10))
    assert (status.current, status.longest) == (3, 6)
    assert status.freezes_used == ()


def test_at_most_two_freezes_are_banked() -> None:
    status = compute_streak(active(*range(1, 22)), DAILY, today=jan(21))
    assert status.freezes_banked == 2


def test_banked_freezes_cover_two_misses_and_the_third_breaks() -> None:
    status = compute_streak(active(*range(1, 22), 25), DAILY, today=jan(30))
    assert status.freezes_used == (jan(22), jan(23))
    assert status.longest == 21
    assert status.current == 0


def test_freezes_are_applied_in_chronological_order() -> None:
    status = compute_streak(active(*range(1, 15), 16, 18), DAILY, today=jan(18))
    assert status.freezes_used == (jan(15), jan(17))
    assert status.current == 16


def test_planned_pause_neither_breaks_nor_extends_the_streak() -> None:
    pause = DateRange(jan(4), jan(6))
    status = compute_streak(active(1, 2, 3, 7), DAILY, (pause,), today=jan(7))
    assert status.current == 4
    assert status.freezes_used == ()


def test_streak_is_not_at_risk_on_a_paused_today() -> None:
    pause = DateRange(jan(4), jan(4))
    status = compute_streak(active(1, 2, 3), DAILY, (pause,), today=jan(4))
    assert status.current == 3
    assert not status.at_risk


def test_activity_during_a_pause_still_counts() -> None:
    pause = DateRange(jan(2), jan(3))
    status = compute_streak(active(1, 2, 3), DAILY, (pause,), today=jan(3))
    assert status.current == 3


def test_two_sessions_the_day_after_a_miss_repair_the_streak() -> None:
    status = compute_streak(active(1, 2, 3, 4, 5, twice=(7,)), DAILY, today=jan(7))
    assert status.current == 7
    assert status.repaired == (jan(6),)


def test_two_sessions_on_the_second_day_after_a_miss_repair_the_streak() -> None:
    status = compute_streak(active(1, 2, 3, 4, 5, 7, twice=(8,)), DAILY, today=jan(8))
    assert status.current == 8
    assert status.repaired == (jan(6),)


def test_repair_is_preferred_over_spending_a_freeze() -> None:
    status = compute_streak(active(*range(1, 8), twice=(9,)), DAILY, today=jan(9))
    assert status.repaired == (jan(8),)
    assert status.freezes_used == ()
    assert (status.current, status.freezes_banked) == (9, 1)


def test_repair_after_the_48_hour_window_does_not_restore_the_streak() -> None:
    status = compute_streak(active(1, 2, 3, 4, 5, 7, 8, twice=(9,)), DAILY, today=jan(9))
    assert (status.current, status.longest) == (3, 5)
    assert status.repaired == ()


def test_repair_needs_the_window_days_active_without_a_gap() -> None:
    status = compute_streak(active(1, 2, 3, 4, 5, twice=(8,)), DAILY, today=jan(8))
    assert status.repaired == ()
    assert status.current == 1


def test_open_repair_window_offers_to_restore_the_streak() -> None:
    status = compute_streak(active(1, 2, 3, 4, 5), DAILY, today=jan(7))
    assert status.current == 0
    assert status.repair_offer == RepairOffer(
        missed=jan(6), repair_by=jan(8), extra_sessions_needed=1, streak_at_stake=5
    )


def test_repair_offer_disappears_once_the_window_has_closed() -> None:
    status = compute_streak(active(1, 2, 3, 4, 5, 7, 8), DAILY, today=jan(9))
    assert status.repair_offer is None


def test_milestones_reached_follow_the_longest_streak() -> None:
    status = compute_streak(active(*range(1, 31)), DAILY, today=jan(30))
    assert status.milestones == (7, 30)


def test_days_after_today_do_not_count_yet() -> None:
    status = compute_streak(active(1, 2, 3, 10), DAILY, today=jan(3))
    assert status.current == 3


def test_weekly_mode_counts_a_week_with_enough_distinct_active_days() -> None:
    # weeks start Mondays 1, 8 and 15 January
    status = compute_streak(active(1, 2, 3, 8, 10, 12, 15, 17, 19), WEEKLY, today=jan(21))
    assert (status.current, status.longest) == (3, 3)


def test_weekly_mode_does_not_count_many_sessions_on_too_few_days() -> None:
    sessions = active(1, 2, 3, 15, 17, 19) | {jan(8): 5, jan(9): 1}
    status = compute_streak(sessions, WEEKLY, today=jan(21))
    assert (status.current, status.longest) == (1, 1)


def test_weekly_streak_is_at_risk_until_the_week_target_is_met() -> None:
    status = compute_streak(active(1, 2, 3, 8), WEEKLY, today=jan(10))
    assert status.current == 1
    assert status.at_risk
    assert status.deadline == jan(14)


def test_weekly_freeze_earned_after_four_weeks_covers_a_missed_week() -> None:
    weeks = [w * 7 + d for w in range(4) for d in (1, 2, 3)] + [36, 37, 38]
    status = compute_streak(active(*weeks), WEEKLY, today=jan(42))
    assert status.freezes_used == (jan(29),)
    assert status.current == 5


def test_weekly_repair_makes_up_the_missing_days_as_extra_sessions_on_monday() -> None:
    status = compute_streak(active(1, 2, 3, 8, 9, 17, 18, twice=(15,)), WEEKLY, today=jan(21))
    assert status.repaired == (jan(8),)
    assert status.current == 3


def test_fully_paused_week_is_neutral_in_weekly_mode() -> None:
    pause = DateRange(jan(8), jan(14))
    status = compute_streak(active(1, 2, 3, 15, 16, 17), WEEKLY, (pause,), today=jan(21))
    assert status.current == 2
    assert status.freezes_used == ()


def test_partly_paused_week_needs_proportionally_fewer_days() -> None:
    # 4 of 7 days paused: the target of 3 becomes ceil(3 * 3 / 7) = 2 days
    pause = DateRange(jan(11), jan(14))
    status = compute_streak(active(1, 2, 3, 8, 9, 15, 16, 17), WEEKLY, (pause,), today=jan(21))
    assert status.current == 3


def test_streak_status_round_trips_through_json() -> None:
    status = compute_streak(active(*range(1, 15), 16, twice=(17,)), DAILY, today=jan(17))
    assert StreakStatus.from_dict(json.loads(json.dumps(status.to_dict()))) == status
    offer_status = compute_streak(active(1, 2, 3, 4, 5), DAILY, today=jan(7))
    assert StreakStatus.from_dict(json.loads(json.dumps(offer_status.to_dict()))) == offer_status


def test_no_activity_means_no_streak() -> None:
    assert compute_streak({}, DAILY, today=jan(1)) == StreakStatus()
