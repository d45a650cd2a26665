"""The "your next step" nudge: when it is due, and that it takes the day's reminder slot."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

from gamification.nudge_policy import (
    NEXT_STEP_IDLE_DAYS,
    Activity,
    LearnerPrefs,
    NudgeRules,
    QuietHours,
    SentNudge,
    next_step_key,
    plan,
)
from gamification.nudges import Happening, NudgeType

TODAY = date(2026, 12, 1)  # a Tuesday, ISO week 2026-W49
NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)  # 19:00 in Amsterdam


def test_due_after_a_few_idle_days_once_a_week() -> None:
    idle = Activity(last_active_date=TODAY - timedelta(days=NEXT_STEP_IDLE_DAYS))
    assert next_step_key(idle, TODAY, ()) == "next_step:2026-W49"
    assert next_step_key(idle, TODAY, ["next_step:2026-W49"]) is None
    recent = Activity(last_active_date=TODAY - timedelta(days=NEXT_STEP_IDLE_DAYS - 1))
    assert next_step_key(recent, TODAY, ()) is None
    assert next_step_key(Activity(), TODAY, ()) is None  # never learned: the reminder invites


def test_the_next_step_goes_at_the_reminder_slot_instead_of_the_plain_reminder() -> None:
    prefs = LearnerPrefs(
        timezone="Europe/Amsterdam",
        locale="en",
        reminder_time=time(19),
        quiet=QuietHours(time(22), time(7)),
    )
    activity = Activity(last_active_date=TODAY - timedelta(days=5))
    step = Happening(
        NudgeType.NEXT_STEP,
        "next_step:2026-W49",
        NOW,
        {"course": "Excel", "reason": "A skill much in demand right now"},
        stale_at=NOW + timedelta(hours=5),
        url="/catalogue/7",
    )
    result = plan(prefs, activity, [step], [], NudgeRules(), NOW, random.Random(3))
    [nudge] = result.nudges
    assert (nudge.kind, nudge.url) == (NudgeType.NEXT_STEP, "/catalogue/7")
    assert "Excel" in nudge.title + nudge.body
    assert "A skill much in demand right now" in nudge.body
    # the plain reminder does not follow: one reminder-type push a day
    sent = [SentNudge("next_step", "next_step:2026-W49", NOW)]
    later = plan(
        prefs, activity, [step], sent, NudgeRules(), NOW + timedelta(hours=1), random.Random(3)
    )
    assert later.nudges == ()
