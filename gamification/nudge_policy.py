"""The nudge policy: which push message a learner gets, and when (pure; ``now`` is an argument).

:func:`plan` takes one learner's preferences, recent activity, what happened to them
(badges, kudos, challenges, ...) and the nudges they already got, and returns the nudges
due *now* plus ``next_at``: the earliest future instant (UTC) at which something could be
due, which the scheduler stores in ``learner_state.next_nudge_at``.

Rules:

- **Reminder-type** kinds (reminder, streak at risk, weekly goal behind pace) share one slot
  a day: the learner's ``reminder_time`` or, without one, the hour they usually learn (the
  most common local hour of their recent learning), else :attr:`NudgeRules.default_hour`.
  The slot is moved into the allowed window of that day. In daily streak mode the slot is
  never later than ``streak_risk_hours`` before local midnight while the streak is at risk.
  At the slot the most useful kind is sent: streak at risk, else goal behind pace
  (Wednesday/Thursday), else the plain reminder. None is sent once the learner learned
  that day, and at most ``reminder_cap_per_day`` a local day.
- **Event-driven** kinds (badge, level, streak milestone, kudos, goal reached, challenges,
  team milestones, new hot-skill course, testimonial request, budget, welcome) are due from
  their moment until they go stale; inside quiet hours or on a no-nudge weekend they wait
  for the window.
- **Quiet hours**: the organisation's and the learner's (local wall time, both respected);
  **weekends** (the learner's local Saturday and Sunday) only when the organisation allows.
- **Caps**: ``weekly_cap`` nudges of any kind per rolling 7 days, at least ``min_gap``
  between two nudges (one nudge per plan; the rest wait), per-category opt-outs
  (:class:`gamification.nudges.NudgeCategory`; the welcome has none).
- **Dedupe keys** are stable (``reminder:2026-11-27``, ``streak:2026-W48``,
  ``badge:<code>:<tier>``): a key already in the learner's history is never planned again.
- Before ``start_date`` a new hire only gets the pre-boarding welcome.

Times are local wall-clock times converted with ``zoneinfo`` on the day itself, so a
19:00 reminder is 18:00 UTC in Amsterdam's winter and 17:00 UTC in its summer.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TypeVar
from zoneinfo import ZoneInfo

from gamification.goals import Pace, weekly_goal_progress, weekly_minutes
from gamification.nudge_texts import DEFAULT_LOCALE, TextCatalogue, render, variants
from gamification.nudges import CATEGORY, Happening, NudgeType
from gamification.periods import iso_week_label, local_day_start, require_aware, week_start
from gamification.rules import StreakMode

MINUTES_PER_DAY = 24 * 60
# how far ahead plan() looks for the next moment; beyond it the learner is revisited anyway
HORIZON_DAYS = 8


REMINDER_TYPES = frozenset(
    {NudgeType.REMINDER, NudgeType.STREAK_AT_RISK, NudgeType.GOAL_BEHIND, NudgeType.NEXT_STEP}
)

# when several are due at once, the first goes now and the rest wait for min_gap
PRIORITY: tuple[NudgeType, ...] = (
    NudgeType.WELCOME,
    NudgeType.BUDGET_DECISION,
    NudgeType.STREAK_AT_RISK,
    NudgeType.DATED_GOAL_BEHIND,
    NudgeType.KUDOS_RECEIVED,
    NudgeType.BADGE_EARNED,
    NudgeType.STREAK_MILESTONE,
    NudgeType.LEVEL_UP,
    NudgeType.GOAL_REACHED,
    NudgeType.TEAM_MILESTONE,
    NudgeType.CHALLENGE_ENDING,
    NudgeType.GOAL_BEHIND,
    NudgeType.NEXT_STEP,
    NudgeType.REMINDER,
    NudgeType.CHALLENGE_LAUNCHED,
    NudgeType.TESTIMONIAL_REQUEST,
    NudgeType.NEW_COURSE,
    NudgeType.BUDGET_REMINDER,
)

_RANK = {kind: rank for rank, kind in enumerate(PRIORITY)}

URL: Mapping[NudgeType, str] = {
    NudgeType.WELCOME: "/catalogue",
    NudgeType.REMINDER: "/log",
    NudgeType.STREAK_AT_RISK: "/log",
    NudgeType.GOAL_BEHIND: "/log",
    NudgeType.GOAL_REACHED: "/progress",
    NudgeType.DATED_GOAL_BEHIND: "/goals",
    NudgeType.CHALLENGE_LAUNCHED: "/",
    NudgeType.CHALLENGE_ENDING: "/",
    NudgeType.TEAM_MILESTONE: "/team",
    NudgeType.BADGE_EARNED: "/progress",
    NudgeType.LEVEL_UP: "/progress",
    NudgeType.STREAK_MILESTONE: "/progress",
    NudgeType.KUDOS_RECEIVED: "/",
    NudgeType.BUDGET_REMINDER: "/catalogue",
    NudgeType.BUDGET_DECISION: "/catalogue/budget",
    NudgeType.NEW_COURSE: "/catalogue",
    NudgeType.TESTIMONIAL_REQUEST: "/catalogue",
    NudgeType.NEXT_STEP: "/catalogue",
}

# "your next step" (the top recommendation) goes to a learner who has learned before but not
# in this many days, at most once an ISO week, in place of that day's plain reminder
NEXT_STEP_IDLE_DAYS = 3


@dataclass(frozen=True)
class QuietHours:
    """No pushes from ``start`` to ``end`` local wall time (wrapping midnight when start > end).

    ``start == end`` means no quiet hours.
    """

    start: time
    end: time

    def intervals(self) -> tuple[tuple[int, int], ...]:
        """The quiet minutes of a day as half-open ``[from, to)`` minute ranges."""
        return _quiet_intervals(self.start, self.end)


def _quiet_intervals(start: time, end: time) -> tuple[tuple[int, int], ...]:
    s = start.hour * 60 + start.minute
    e = end.hour * 60 + end.minute
    if s == e:
        return ()
    if s < e:
        return ((s, e),)
    return ((0, e), (s, MINUTES_PER_DAY))


@dataclass(frozen=True)
class NudgeRules:
    """The organisation's nudge rules (from its settings) and the policy's constants."""

    quiet: QuietHours = field(default_factory=lambda: QuietHours(time(21), time(8)))
    nudges_on_weekends: bool = False
    streak_mode: StreakMode = StreakMode.WEEKLY
    streak_days_per_week: int = 3
    reminder_cap_per_day: int = 1
    weekly_cap: int = 5
    # kinds the organisation switched off for everyone (the learner's own opt-outs add to it)
    kinds_off: frozenset[NudgeType] = frozenset()
    min_gap: timedelta = timedelta(hours=1)
    default_hour: int = 18
    streak_risk_hours: int = 4
    # a missed reminder slot is still worth sending this long after (within the same day)
    reminder_grace: timedelta = timedelta(hours=3)
    # event-driven nudges not sent within this long are dropped
    stale_after: timedelta = timedelta(days=3)
    adaptive_min_samples: int = 3

    def __post_init__(self) -> None:
        if self.reminder_cap_per_day < 0 or self.weekly_cap < 0:
            raise ValueError("nudge caps must be >= 0")
        if not 0 <= self.default_hour <= 23:
            raise ValueError("default_hour must be 0-23")


@dataclass(frozen=True)
class LearnerPrefs:
    """A learner's own nudge settings."""

    timezone: str
    locale: str = "nl"
    reminder_time: time | None = None
    quiet: QuietHours = field(default_factory=lambda: QuietHours(time(21), time(8)))
    kinds_off: frozenset[str] = frozenset()
    start_date: date | None = None
    organisation_name: str = ""


@dataclass(frozen=True)
class Activity:
    """What the learner did lately.

    - ``learned_at``: instants of recent learning (a few weeks; for the adaptive hour and
      "learned today").
    - ``minutes_by_day``: minutes per local day (at least the current ISO week).
    - ``active_days``: local days with learning (at least this week and the last; "learned
      today" is read from it).
    - ``streak``, ``freezes_banked``, ``last_active_date``: the kept streak state.
    - ``weekly_goal_minutes``: the weekly goal (0: none).
    """

    learned_at: tuple[datetime, ...] = ()
    minutes_by_day: Mapping[date, int] = field(default_factory=dict)
    active_days: frozenset[date] = frozenset()
    streak: int = 0
    freezes_banked: int = 0
    last_active_date: date | None = None
    weekly_goal_minutes: int = 0


@dataclass(frozen=True)
class SentNudge:
    """A nudge the learner already has (any status): for dedupe and caps."""

    kind: str
    dedupe_key: str
    due_at: datetime


@dataclass(frozen=True)
class VariantStats:
    """How a text variant did: nudges sent and how many were followed by learning."""

    sent: int = 0
    successes: int = 0


@dataclass(frozen=True)
class PlannedNudge:
    """A nudge to insert into the outbox now."""

    kind: NudgeType
    variant: str
    dedupe_key: str
    locale: str
    title: str
    body: str
    url: str
    due_at: datetime


@dataclass(frozen=True)
class NudgePlan:
    """The nudges due now and the next instant (UTC, in the future) to plan again."""

    nudges: tuple[PlannedNudge, ...]
    next_at: datetime


# ---------------------------------------------------------------------------------------------
# time windows

# answers a window remembers per kind of question; a long-running scheduler asks about new
# instants every tick, so the memo is emptied when full
_MEMO_LIMIT = 8192
_K = TypeVar("_K")
_V = TypeVar("_V")


def _utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The instant of local wall time ``minute`` (of the day) on ``day``."""
    if minute >= MINUTES_PER_DAY:
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    return local.astimezone(UTC)


def _allowed_ranges(quiet: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    """The complement of the quiet minute ranges within a day."""
    ranges: list[tuple[int, int]] = []
    cursor = 0
    for start, end in sorted(quiet):
        if start > cursor:
            ranges.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < MINUTES_PER_DAY:
        ranges.append((cursor, MINUTES_PER_DAY))
    return tuple(ranges)


class _Window:
    """Where a learner may receive pushes: outside both quiet hours, weekends per org.

    One instance per (timezone, quiet hours, weekend rule), shared by every learner with
    them (see :func:`_window_for`). It memoises its answers about UTC instants and local
    days: a tick asks the same few questions (about ``now``, today's slots, ...) of thousands
    of learners. Other instants are answered without the memo: two aware datetimes of one
    non-UTC zone compare by wall time, so a repeated DST hour would share an entry.
    """

    __slots__ = ("_allowed", "_clamps", "_dates", "_next", "_ranges", "quiet", "weekends", "zone")

    def __init__(self, zone: ZoneInfo, quiet: tuple[tuple[int, int], ...], weekends: bool) -> None:
        self.zone = zone
        self.quiet = quiet
        self.weekends = weekends
        self._ranges = _allowed_ranges(quiet)
        self._dates: dict[datetime, date] = {}
        self._allowed: dict[datetime, bool] = {}
        self._next: dict[datetime, datetime | None] = {}
        self._clamps: dict[tuple[date, int], datetime | None] = {}

    def allowed_minutes(self, day: date) -> tuple[tuple[int, int], ...]:
        """Allowed ``[from, to)`` minute ranges of a local day (empty on a blocked weekend)."""
        if not self.weekends and day.weekday() >= 5:
            return ()
        return self._ranges

    def local_date(self, instant: datetime) -> date:
        """The local calendar day of ``instant``."""
        if instant.tzinfo is not UTC:
            return instant.astimezone(self.zone).date()
        found = self._dates.get(instant)
        if found is None:
            found = instant.astimezone(self.zone).date()
            _remember(self._dates, instant, found)
        return found

    def allows(self, instant: datetime) -> bool:
        """Whether a push may arrive at ``instant``."""
        if instant.tzinfo is not UTC:
            return self._allows(instant)
        found = self._allowed.get(instant)
        if found is None:
            found = self._allows(instant)
            _remember(self._allowed, instant, found)
        return found

    def next_allowed(self, instant: datetime) -> datetime | None:
        """The earliest allowed instant at or after ``instant`` (within the horizon)."""
        if instant.tzinfo is not UTC:
            return self._next_allowed(instant)
        memo = self._next
        if instant in memo:
            return memo[instant]
        found = self._next_allowed(instant)
        _remember(memo, instant, found)
        return found

    def clamp(self, day: date, minute: int) -> datetime | None:
        """``minute`` of ``day`` moved into that day's allowed window (None: no window).

        Inside the window it stays; before an allowed range it moves to the range's start;
        after the last range it moves back to an hour before that range ends.
        """
        key = (day, minute)
        memo = self._clamps
        if key in memo:
            return memo[key]
        found = self._clamp(day, minute)
        _remember(memo, key, found)
        return found

    def day_end(self, day: date) -> datetime:
        """The instant the local day ``day`` ends (the next local midnight)."""
        return _utc(day, MINUTES_PER_DAY, self.zone)

    def _allows(self, instant: datetime) -> bool:
        local = instant.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in self.allowed_minutes(local.date()))

    def _next_allowed(self, instant: datetime) -> datetime | None:
        if self.allows(instant):
            return instant
        day = instant.astimezone(self.zone).date()
        for offset in range(HORIZON_DAYS + 1):
            current = day + timedelta(days=offset)
            for start, _end in self.allowed_minutes(current):
                candidate = _utc(current, start, self.zone)
                if candidate > instant and self.allows(candidate):
                    return candidate
        return None

    def _clamp(self, day: date, minute: int) -> datetime | None:
        ranges = self.allowed_minutes(day)
        if not ranges:
            return None
        for start, end in ranges:
            if start <= minute < end:
                return _utc(day, minute, self.zone)
            if minute < start:
                return _utc(day, start, self.zone)
        start, end = ranges[-1]
        return _utc(day, max(start, end - 60), self.zone)


def _remember(memo: dict[_K, _V], key: _K, value: _V) -> None:
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value


def _window(prefs: LearnerPrefs, rules: NudgeRules) -> _Window:
    return _window_for(prefs.timezone, rules.quiet, prefs.quiet, rules.nudges_on_weekends)


def first_allowed_moment(now: datetime, prefs: LearnerPrefs, rules: NudgeRules) -> datetime:
    """The earliest instant at or after ``now`` a push may reach this learner (outside both
    quiet hours, on an allowed day): when a message sent on the spot (a decision) is due."""
    require_aware(now, "now")
    return _window(prefs, rules).next_allowed(now.astimezone(UTC)) or now


@lru_cache(maxsize=4096)
def _window_for(tz_name: str, org: QuietHours, own: QuietHours, weekends: bool) -> _Window:
    # many learners share a timezone and quiet hours: build each window once
    return _Window(ZoneInfo(tz_name), org.intervals() + own.intervals(), weekends)


# ---------------------------------------------------------------------------------------------
# choosing the hour and the text


def adaptive_minute(learned_at: Iterable[datetime], tz_name: str, minimum: int = 3) -> int | None:
    """The local hour (as minute of day) the learner most often learns at, if known.

    Needs ``minimum`` samples; ties go to the later hour (closer to the end of a working day).
    """
    return _usual_minute(learned_at, ZoneInfo(tz_name), minimum)


def _usual_minute(learned_at: Iterable[datetime], zone: ZoneInfo, minimum: int) -> int | None:
    counts = [0] * 24
    samples = 0
    for moment in learned_at:
        counts[moment.astimezone(zone).hour] += 1
        samples += 1
    if samples < minimum:
        return None
    # the latest of the most frequent hours
    return (23 - counts[::-1].index(max(counts))) * 60


def reminder_minute(prefs: LearnerPrefs, activity: Activity, rules: NudgeRules) -> int:
    """The local minute of day of the learner's reminder (chosen, adaptive or default)."""
    return _reminder_minute(prefs, activity, rules, ZoneInfo(prefs.timezone))


def _reminder_minute(
    prefs: LearnerPrefs, activity: Activity, rules: NudgeRules, zone: ZoneInfo
) -> int:
    chosen = prefs.reminder_time
    if chosen is not None:
        return chosen.hour * 60 + chosen.minute
    learned_at = activity.learned_at
    if len(learned_at) >= rules.adaptive_min_samples:
        adaptive = _usual_minute(learned_at, zone, rules.adaptive_min_samples)
        if adaptive is not None:
            return adaptive
    return rules.default_hour * 60


def choose_variant(
    kind: str,
    stats: Mapping[tuple[str, str], VariantStats],
    rng: random.Random,
    locale: str = DEFAULT_LOCALE,
    texts: TextCatalogue | None = None,
) -> str:
    """Thompson sampling between the text variants of ``kind`` in ``locale`` (the
    organisation's ``texts``, else the built-in ones).

    Each variant's success rate (learning within 24 h after the nudge) gets a Beta(1 + s,
    1 + n - s) posterior; the variant with the highest sample wins, so a better variant is
    chosen more often while the others keep being tried. ``rng`` makes it reproducible.
    """
    best, best_draw = "", -1.0
    for variant in variants(kind, locale, texts):
        seen = stats.get((kind, variant), _UNSEEN)
        successes = max(0, min(seen.successes, seen.sent))
        draw = rng.betavariate(1 + successes, 1 + seen.sent - successes)
        if draw > best_draw:
            best, best_draw = variant, draw
    return best


_UNSEEN = VariantStats()


# ---------------------------------------------------------------------------------------------
# candidates


# (priority rank, due from, order found, kind, dedupe key, stale at, params, url): a plain
# tuple, built for every happening of every learner; sorted as it is, by priority, then due
# time, then the order found (a stable tie-break)
_Candidate = tuple[int, datetime, int, NudgeType, str, datetime, Mapping[str, str | int], str]


def _kinds_off(categories: frozenset[str]) -> frozenset[NudgeType]:
    """The nudge kinds a learner opted out of (by category; the welcome has none)."""
    return frozenset(
        kind for kind, category in CATEGORY.items() if category and category.value in categories
    )


def _streak_risk(
    activity: Activity, rules: NudgeRules, day: date
) -> tuple[bool, dict[str, str | int]]:
    """Whether the streak would break unless the learner learns (soon), and text params."""
    if activity.streak <= 0 or activity.last_active_date is None or day in activity.active_days:
        return _NO_RISK
    if rules.streak_mode is StreakMode.DAILY:
        missed = (day - activity.last_active_date).days - 1
        # days missed since the last active day were covered by freezes (while they last)
        if missed < 0 or missed > activity.freezes_banked:
            return _NO_RISK
        return True, {
            "streak": activity.streak,
            "streak_mode": "daily",
            "freezes": activity.freezes_banked - missed,
            "days_needed": 1,
        }
    monday = week_start(day)
    if activity.last_active_date < monday - _WEEK:
        return _NO_RISK  # no active day this week or last: the streak is already over
    active = sum(1 for d in activity.active_days if monday <= d < day)
    needed = rules.streak_days_per_week - active
    remaining = 7 - day.weekday()
    if needed <= 0 or needed > remaining:
        return _NO_RISK
    slack = remaining - needed
    last_weekday = not rules.nudges_on_weekends and day.weekday() == 4
    if slack > 1 and not last_weekday:
        return _NO_RISK
    return True, {
        "streak": activity.streak,
        "streak_mode": "weekly",
        "freezes": activity.freezes_banked,
        "days_needed": needed,
    }


_NO_RISK: tuple[bool, dict[str, str | int]] = (False, {})
_WEEK = timedelta(days=7)
_DAY = timedelta(days=1)
_NO_KEYS: frozenset[str] = frozenset()


def _reminder_slot(
    day: date, minute: int, rules: NudgeRules, window: _Window, at_risk: bool
) -> datetime | None:
    if at_risk and rules.streak_mode is StreakMode.DAILY:
        minute = min(minute, MINUTES_PER_DAY - rules.streak_risk_hours * 60)
    return window.clamp(day, minute)


def _reminder_candidate(
    now: datetime,
    today: date,
    slot: datetime,
    risk: tuple[bool, dict[str, str | int]],
    prefs: LearnerPrefs,
    activity: Activity,
    rules: NudgeRules,
    window: _Window,
    sent_keys: frozenset[str],
    off: frozenset[NudgeType],
    order: int,
) -> _Candidate | None:
    """Today's reminder-type nudge (its slot has come, nothing learned today, none sent)."""
    at_risk, risk_params = risk
    stale_at = min(slot + rules.reminder_grace, window.day_end(today))
    options: list[tuple[NudgeType, str, dict[str, str | int]]] = []
    week = iso_week_label(today)
    if at_risk:
        key = f"streak:{today}" if rules.streak_mode is StreakMode.DAILY else f"streak:{week}"
        options.append((NudgeType.STREAK_AT_RISK, key, risk_params))
    if activity.weekly_goal_minutes > 0 and today.weekday() in (2, 3):
        # a new colleague's week counts from their first working day
        start = prefs.start_date
        since = local_day_start(start, prefs.timezone) if start is not None else None
        progress = weekly_goal_progress(
            activity.minutes_by_day, activity.weekly_goal_minutes, now, prefs.timezone, since
        )
        if progress.pace is Pace.BEHIND:
            left = progress.target_minutes - progress.minutes
            options.append((NudgeType.GOAL_BEHIND, f"goal_behind:{week}", {"minutes_left": left}))
    options.append((NudgeType.REMINDER, f"reminder:{today}", {}))
    for kind, key, params in options:
        if key in sent_keys or kind in off:
            continue
        return (_RANK[kind], slot, order, kind, key, stale_at, params, URL[kind])
    return None


def _next_reminder_slot(
    now: datetime,
    today: date,
    slot_today: datetime | None,
    minute: int,
    activity: Activity,
    rules: NudgeRules,
    window: _Window,
) -> datetime | None:
    """The first reminder-type slot after ``now`` (assuming no more learning meanwhile)."""
    if slot_today is not None and slot_today > now and today not in activity.active_days:
        return slot_today
    daily = rules.streak_mode is StreakMode.DAILY
    for offset in range(1, HORIZON_DAYS):
        day = today + timedelta(days=offset)
        # only the daily policy moves the slot for a streak at risk
        at_risk = daily and _streak_risk(activity, rules, day)[0]
        slot = _reminder_slot(day, minute, rules, window, at_risk)
        if slot is not None and slot > now:
            return slot
    return None


def _goal_reached(
    now: datetime, today: date, prefs: LearnerPrefs, activity: Activity, window: _Window
) -> Happening | None:
    goal = activity.weekly_goal_minutes
    minutes_by_day = activity.minutes_by_day
    if goal <= 0 or not minutes_by_day:
        return None
    if _week_minutes(minutes_by_day, today) < goal:
        return None  # the cheap check first: most learners are not done this week
    progress = weekly_goal_progress(minutes_by_day, goal, now, prefs.timezone)
    if progress.pace is not Pace.DONE:
        return None
    week_end = window.day_end(progress.week_start + timedelta(days=6))
    recent = [m for m in activity.learned_at if m <= now]
    return Happening(
        NudgeType.GOAL_REACHED,
        f"goal_reached:{progress.week_label}",
        max(recent) if recent else now,
        {"goal_minutes": goal},
        stale_at=week_end,
    )


def _week_minutes(minutes_by_day: Mapping[date, int], day: date) -> int:
    """:func:`gamification.goals.weekly_minutes`, cheaper for the few days a learner has."""
    if len(minutes_by_day) > 7:
        return weekly_minutes(minutes_by_day, day)
    monday, sunday = _week_of(day)
    return sum([m for d, m in minutes_by_day.items() if monday <= d <= sunday])


@lru_cache(maxsize=1024)
def _week_of(day: date) -> tuple[date, date]:
    monday = week_start(day)
    return monday, monday + timedelta(days=6)


def next_step_key(activity: Activity, today: date, sent_keys: Iterable[str]) -> str | None:
    """The dedupe key of a "your next step" nudge due for this learner on local ``today``,
    or None (learned lately, never learned, or one already this week). The backend looks up
    the learner's top recommendation only when this says so."""
    last = activity.last_active_date
    if last is None or (today - last).days < NEXT_STEP_IDLE_DAYS:
        return None
    key = f"next_step:{iso_week_label(today)}"
    return None if key in sent_keys else key


# ---------------------------------------------------------------------------------------------
# the plan


def plan(
    prefs: LearnerPrefs,
    activity: Activity,
    happenings: Sequence[Happening],
    history: Sequence[SentNudge],
    rules: NudgeRules,
    now: datetime,
    rng: random.Random,
    stats: Mapping[tuple[str, str], VariantStats] | None = None,
    texts: TextCatalogue | None = None,
) -> NudgePlan:
    """The nudges due for this learner at ``now`` and when to plan again.

    ``happenings`` are the event-driven candidates the backend found (badges, levels, streak
    milestones, kudos, challenges, courses, completions, budget, welcome); ``history`` the
    learner's nudges of at least the last 7 days; ``stats`` per (kind, variant) for
    :func:`choose_variant`; ``texts`` the organisation's text variants (default: the
    built-in ones). Returned nudges land outside quiet hours and blocked weekends;
    ``next_at`` is after ``now`` and, when any allowed moment exists in the coming days,
    allowed too.
    """
    require_aware(now, "now")
    now = now.astimezone(UTC)
    window = _window(prefs, rules)
    today = window.local_date(now)
    off = _kinds_off(prefs.kinds_off) if prefs.kinds_off else frozenset()
    if rules.kinds_off:
        off = off | rules.kinds_off
    sent_keys = frozenset([n.dedupe_key for n in history]) if history else _NO_KEYS
    future: list[datetime] = []

    candidates: list[_Candidate] = []
    pre_boarding = prefs.start_date is not None and today < prefs.start_date
    goal = None if pre_boarding else _goal_reached(now, today, prefs, activity, window)
    stale_after = rules.stale_after
    for item in (*happenings, goal) if goal is not None else happenings:
        kind = item.kind
        if pre_boarding and kind is not NudgeType.WELCOME:
            continue
        if item.dedupe_key in sent_keys or kind in off:
            continue
        stale_at = item.stale_at or item.due_from + stale_after
        if stale_at <= now:
            continue
        candidates.append(
            (
                _RANK[kind],
                item.due_from,
                len(candidates),
                kind,
                item.dedupe_key,
                stale_at,
                item.params,
                item.url or URL[kind],
            )
        )
    minute = 0
    slot_today: datetime | None = None
    if not pre_boarding:
        minute = _reminder_minute(prefs, activity, rules, window.zone)
        risk = _NO_RISK
        if rules.streak_mode is StreakMode.DAILY:
            risk = _streak_risk(activity, rules, today)
        slot_today = _reminder_slot(today, minute, rules, window, risk[0])
        if slot_today is not None and slot_today <= now and today not in activity.active_days:
            if rules.streak_mode is not StreakMode.DAILY:
                risk = _streak_risk(activity, rules, today)
            reminder = _reminder_candidate(
                now,
                today,
                slot_today,
                risk,
                prefs,
                activity,
                rules,
                window,
                sent_keys,
                off,
                len(candidates),
            )
            if reminder is not None:
                candidates.append(reminder)
    # caps, from the learner's history
    in_week: list[datetime] = []
    if history:
        week_ago = now - _WEEK
        in_week = sorted([n.due_at for n in history if n.due_at > week_ago])
    weekly_cap = rules.weekly_cap
    if not pre_boarding and not off.issuperset(REMINDER_TYPES):
        next_slot = _next_reminder_slot(now, today, slot_today, minute, activity, rules, window)
        if weekly_cap == 0:
            next_slot = None
        elif next_slot is not None and len(in_week) >= weekly_cap:
            # the week is full: the next slot after the oldest of the week's nudges drops out
            release = in_week[len(in_week) - weekly_cap] + _WEEK
            next_slot = window.next_allowed(max(next_slot, release))
        if next_slot is not None:
            future.append(next_slot)
    if not candidates:
        return NudgePlan((), _next_at(now, future, window))

    reminders_today = 0
    last_due = None
    for sent in history:
        if last_due is None or sent.due_at > last_due:
            last_due = sent.due_at
        if sent.kind in REMINDER_TYPES and window.local_date(sent.due_at) == today:
            reminders_today += 1

    planned: list[PlannedNudge] = []
    candidates.sort()
    allowed_now = window.allows(now)
    soonest = min(future, default=None)  # a later moment cannot change next_at
    min_gap = rules.min_gap
    spaced = last_due + min_gap if last_due is not None else None
    for _rank, due_from, _order, kind, dedupe_key, stale_at, params, url in candidates:
        earliest = due_from if due_from > now else now
        if kind is not NudgeType.WELCOME:
            if kind in REMINDER_TYPES and reminders_today >= rules.reminder_cap_per_day:
                continue  # today's reminder slot is used; tomorrow has its own
            if weekly_cap == 0:
                continue
            if len(in_week) >= weekly_cap:
                # the week is full: wait until the oldest of the week's nudges drops out
                earliest = max(earliest, in_week[len(in_week) - weekly_cap] + _WEEK)
        if spaced is not None and spaced > earliest:
            earliest = spaced
        if planned and now + min_gap > earliest:
            earliest = now + min_gap
        if earliest == now and allowed_now:
            moment: datetime | None = now
        elif soonest is not None and earliest >= soonest:
            continue
        else:
            moment = window.next_allowed(earliest)
        if moment is None or moment >= stale_at:
            continue
        if moment > now:
            future.append(moment)
            soonest = moment if soonest is None else min(soonest, moment)
            continue
        variant = choose_variant(kind.value, stats or {}, rng, prefs.locale, texts)
        text = render(kind.value, variant, prefs.locale, params, texts)
        planned.append(
            PlannedNudge(
                kind=kind,
                variant=variant,
                dedupe_key=dedupe_key,
                locale=prefs.locale,
                title=text.title,
                body=text.body,
                url=url,
                due_at=now,
            )
        )
        in_week.append(now)
        if kind in REMINDER_TYPES:
            reminders_today += 1

    return NudgePlan(tuple(planned), _next_at(now, future, window))


def _next_at(now: datetime, future: list[datetime], window: _Window) -> datetime:
    """The earliest future moment; with none, a day later (new challenges, courses, ...)."""
    upcoming = [moment for moment in future if moment > now]
    if upcoming:
        return min(upcoming)
    return window.next_allowed(now + _DAY) or now + _DAY
