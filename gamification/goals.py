"""Goals: a weekly learning-minutes goal and dated goals, with progress and pace.

Pace compares progress (0..1) with the elapsed fraction of the goal's time (for the weekly
goal: of the week since the learner could start it). ``done`` when reached, ``missed`` when
a dated goal's deadline passed unreached; otherwise a fair plan (:func:`expected_share`)
expects nothing during the first :data:`PACE_GRACE` of the time and then everything by the
end: ``behind`` below that, ``ahead`` at least :data:`AHEAD_MARGIN` beyond the plain clock,
else ``on_track``. Nobody is behind on Monday morning, or on the day they joined.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

from gamification.events import EventKind, LearningFact
from gamification.jsondoc import (
    JsonDict,
    content_digest,
    read_date,
    read_int,
    read_list,
    read_optional_int,
    read_optional_str,
    read_str,
)
from gamification.periods import iso_week_label, local_day, local_day_start, week_start


class Pace(StrEnum):
    """How a goal is going."""

    AHEAD = "ahead"
    ON_TRACK = "on_track"
    BEHIND = "behind"
    DONE = "done"
    MISSED = "missed"


@dataclass(frozen=True)
class WeeklyGoalProgress:
    """Minutes learned in the ISO week holding ``now`` against the weekly target."""

    week_start: date
    week_label: str
    target_minutes: int
    minutes: int
    fraction: float
    elapsed_fraction: float
    pace: Pace


PACE_GRACE = 2 / 7
"""The share of a goal's time in which nobody is behind yet (two days of a week): learning
comes in bursts, and a plan that expects a seventh of the goal by Monday night is not fair."""

AHEAD_MARGIN = 0.15
"""How far progress must run ahead of the plain clock (elapsed share) to be ``ahead``."""


def expected_share(elapsed: float) -> float:
    """The share of a goal a fair plan expects done after ``elapsed`` (0..1) of its time:
    nothing during the first :data:`PACE_GRACE`, then growing evenly to all of it at the end."""
    if elapsed <= PACE_GRACE:
        return 0.0
    return min(1.0, (elapsed - PACE_GRACE) / (1 - PACE_GRACE))


def goal_pace(fraction: float, elapsed: float) -> Pace:
    """How a goal still open goes: ``fraction`` done after ``elapsed`` of its time."""
    if fraction >= 1:
        return Pace.DONE
    if fraction < expected_share(elapsed):
        return Pace.BEHIND
    if fraction >= elapsed + AHEAD_MARGIN:
        return Pace.AHEAD
    return Pace.ON_TRACK


def weekly_minutes(minutes_by_day: Mapping[date, int], day: date) -> int:
    """Minutes learned in the ISO week (Monday-Sunday) containing ``day``."""
    monday = week_start(day)
    return sum(minutes_by_day.get(monday + timedelta(days=i), 0) for i in range(7))


def weekly_goal_progress(
    minutes_by_day: Mapping[date, int],
    target_minutes: int,
    now: datetime,
    tz_name: str,
    since: datetime | None = None,
) -> WeeklyGoalProgress:
    """Progress on the weekly minutes goal for the learner's current local week.

    The elapsed fraction is measured in real time from local Monday 00:00 (or ``since``,
    when the learner joined, if that is later) to the next Monday, so a DST week (167 or
    169 hours) is handled exactly. A target of 0 is always done.
    """
    today = local_day(now, tz_name)
    monday = week_start(today)
    start = local_day_start(monday, tz_name)
    end = local_day_start(monday + timedelta(days=7), tz_name)
    moment = now.astimezone(UTC)
    if since is not None and since > start:
        start = min(since.astimezone(UTC), moment)
    elapsed = (moment - start) / (end - start)
    minutes = weekly_minutes(minutes_by_day, today)
    fraction = 1.0 if target_minutes <= 0 else min(1.0, minutes / target_minutes)
    return WeeklyGoalProgress(
        week_start=monday,
        week_label=iso_week_label(today),
        target_minutes=target_minutes,
        minutes=minutes,
        fraction=fraction,
        elapsed_fraction=elapsed,
        pace=goal_pace(fraction, elapsed),
    )


class DatedGoalKind(StrEnum):
    """What a dated goal asks for."""

    COURSE_COMPLETION = "course_completion"
    COMPETENCY_EVENTS = "competency_events"
    COURSES = "courses"


MAX_GOAL_COURSES = 10
"""A goal of a set of courses holds at most this many."""


@dataclass(frozen=True)
class DatedGoal:
    """A goal with a deadline, counted over local days ``set_on``..``due_on`` inclusive.

    ``course_completion``: complete ``course_id``. ``competency_events``: ``target_count``
    facts in ``competency_id`` (of ``event_kind`` if given, else any learning activity).
    ``courses``: complete each of ``course_ids`` (``target_count`` is their number).
    """

    goal_id: str
    kind: DatedGoalKind
    set_on: date
    due_on: date
    course_id: int | None = None
    competency_id: int | None = None
    target_count: int = 1
    event_kind: EventKind | None = None
    course_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.due_on < self.set_on:
            raise ValueError(f"goal {self.goal_id!r} is due before it was set")
        if self.kind is DatedGoalKind.COURSE_COMPLETION and self.course_id is None:
            raise ValueError(f"goal {self.goal_id!r} needs a course_id")
        if self.kind is DatedGoalKind.COMPETENCY_EVENTS and self.competency_id is None:
            raise ValueError(f"goal {self.goal_id!r} needs a competency_id")
        if self.kind is DatedGoalKind.COURSES:
            ids = self.course_ids
            if not 1 <= len(ids) <= MAX_GOAL_COURSES or len(set(ids)) != len(ids):
                raise ValueError(
                    f"goal {self.goal_id!r} needs 1 to {MAX_GOAL_COURSES} different courses"
                )
            if self.target_count != len(ids):
                raise ValueError(f"goal {self.goal_id!r} counts each of its courses once")
        elif self.course_ids:
            raise ValueError(f"goal {self.goal_id!r} of kind {self.kind} has no course_ids")
        if self.target_count < 1:
            raise ValueError(f"goal {self.goal_id!r} needs a target_count >= 1")

    @cached_property
    def tally_key(self) -> str:
        """The key of this goal's tally."""
        return f"g:{self.goal_id}:" + content_digest(self.to_dict())

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        doc: JsonDict = {
            "goal_id": self.goal_id,
            "kind": self.kind.value,
            "set_on": self.set_on.isoformat(),
            "due_on": self.due_on.isoformat(),
            "course_id": self.course_id,
            "competency_id": self.competency_id,
            "target_count": self.target_count,
            "event_kind": self.event_kind.value if self.event_kind else None,
        }
        if self.course_ids:  # only then: older goals keep their document, so their tally key
            doc["course_ids"] = list(self.course_ids)
        return doc

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatedGoal:
        """Inverse of :meth:`to_dict`."""
        event_kind = read_optional_str(data, "event_kind")
        return cls(
            goal_id=read_str(data, "goal_id", ""),
            kind=DatedGoalKind(read_str(data, "kind", "")),
            set_on=read_date(data, "set_on"),
            due_on=read_date(data, "due_on"),
            course_id=read_optional_int(data, "course_id"),
            competency_id=read_optional_int(data, "competency_id"),
            target_count=read_int(data, "target_count", 1),
            event_kind=EventKind(event_kind) if event_kind else None,
            course_ids=tuple(int(c) for c in read_list(data, "course_ids")),
        )


MAX_FINISHED_GOALS = 30
"""A learner's finished goals kept (the newest): the list is history, not a ledger."""


@dataclass(frozen=True)
class FinishedGoal:
    """A dated goal the learner closed on ``finished_on``: reached on ``reached_on``, or
    given up (``reached_on`` is None) with ``done`` of its target."""

    goal: DatedGoal
    finished_on: date
    done: int
    reached_on: date | None = None

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {
            "goal": self.goal.to_dict(),
            "finished_on": self.finished_on.isoformat(),
            "done": self.done,
            "reached_on": self.reached_on.isoformat() if self.reached_on else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FinishedGoal:
        """Inverse of :meth:`to_dict`."""
        goal = data.get("goal")
        if not isinstance(goal, Mapping):
            raise ValueError(f"a finished goal holds its goal, got {data!r}")
        reached = read_optional_str(data, "reached_on")
        return cls(
            goal=DatedGoal.from_dict(goal),
            finished_on=read_date(data, "finished_on"),
            done=read_int(data, "done", 0),
            reached_on=date.fromisoformat(reached) if reached else None,
        )


@dataclass(frozen=True)
class DatedGoalProgress:
    """Progress on a dated goal; ``reached_on`` is the local day it was reached."""

    goal_id: str
    done: int
    target: int
    fraction: float
    pace: Pace
    reached_on: date | None


def counts_for_goal(goal: DatedGoal, fact: LearningFact) -> bool:
    """Whether ``fact`` counts towards ``goal`` (ignoring its date window)."""
    if goal.kind is DatedGoalKind.COURSE_COMPLETION:
        return fact.kind is EventKind.COMPLETION and fact.course_id == goal.course_id
    if goal.kind is DatedGoalKind.COURSES:
        return fact.kind is EventKind.COMPLETION and fact.course_id in goal.course_ids
    if goal.competency_id not in fact.competency_ids:
        return False
    return fact.kind is goal.event_kind if goal.event_kind else fact.counts_as_activity


def dated_goal_progress(
    goal: DatedGoal, facts: Iterable[LearningFact], today: date
) -> DatedGoalProgress:
    """Progress and pace of ``goal`` on local day ``today`` over a whole history.

    For a course goal, progress minutes on that course count towards the fraction (up to
    99% of the course's duration) until the completion arrives.
    """
    return tally_goal(goal, facts).progress(goal, today)


def dated_goal_result(
    goal: DatedGoal, done: int, fraction: float, reached_on: date | None, today: date
) -> DatedGoalProgress:
    """The progress record, with its pace on ``today``, for a measured dated goal."""
    if reached_on is not None:
        pace = Pace.DONE
    elif today > goal.due_on:
        pace = Pace.MISSED
    else:
        total_days = (goal.due_on - goal.set_on).days + 1
        elapsed = max(0, (today - goal.set_on).days) / total_days
        pace = goal_pace(fraction, elapsed)
    return DatedGoalProgress(goal.goal_id, done, goal.target_count, fraction, pace, reached_on)


@dataclass(frozen=True)
class GoalTally:
    """A dated goal's total inside its window: the number of counting facts, the earliest
    ``target_count`` of their days (so the day it was reached does not depend on arrival
    order), and for a course goal the progress minutes and course duration seen. For a
    goal of a set of courses, ``course_days`` holds each finished course's first day and
    the count and days follow from it (a course finished twice counts once)."""

    count: int = 0
    first_days: tuple[date, ...] = ()
    progress_minutes: int = 0
    course_duration: int = 0
    course_days: tuple[tuple[int, date], ...] = ()

    def plus(self, goal: DatedGoal, fact: LearningFact) -> GoalTally:
        """This tally with ``fact`` added (any fact: the window and rule are checked here)."""
        if not goal.set_on <= fact.local_date <= goal.due_on:
            return self
        if goal.kind is DatedGoalKind.COURSES:
            return self._plus_course(goal, fact)
        count, first_days = self.count, self.first_days
        if counts_for_goal(goal, fact):
            count += 1
            first_days = tuple(sorted((*first_days, fact.local_date)))[: goal.target_count]
        minutes, duration = self.progress_minutes, self.course_duration
        if goal.kind is DatedGoalKind.COURSE_COMPLETION and fact.course_id == goal.course_id:
            duration = max(duration, fact.course_duration_minutes or 0)
            if fact.kind is EventKind.PROGRESS:
                minutes += fact.minutes
        if (count, first_days, minutes, duration) == (
            self.count,
            self.first_days,
            self.progress_minutes,
            self.course_duration,
        ):
            return self
        return GoalTally(count, first_days, minutes, duration)

    def _plus_course(self, goal: DatedGoal, fact: LearningFact) -> GoalTally:
        if not counts_for_goal(goal, fact):
            return self
        days = dict(self.course_days)
        course_id = fact.course_id
        assert course_id is not None
        known = days.get(course_id)
        if known is not None and known <= fact.local_date:
            return self
        days[course_id] = fact.local_date
        course_days = tuple(sorted(days.items()))
        first_days = tuple(sorted(days.values()))
        return GoalTally(len(course_days), first_days, 0, 0, course_days)

    def progress(self, goal: DatedGoal, today: date) -> DatedGoalProgress:
        """Progress and pace on ``today``."""
        done = min(self.count, goal.target_count)
        reached_on = self.first_days[-1] if done == goal.target_count else None
        fraction = done / goal.target_count
        course_goal = goal.kind is DatedGoalKind.COURSE_COMPLETION
        if course_goal and reached_on is None and self.course_duration > 0:
            fraction = min(0.99, self.progress_minutes / self.course_duration)
        return dated_goal_result(goal, done, fraction, reached_on, today)

    def to_json(self) -> list[Any]:
        """Compact form: ``[count, [day ordinals], progress minutes, course duration]``,
        plus ``[[course id, day ordinal], ...]`` for a goal of a set of courses."""
        doc: list[Any] = [
            self.count,
            [d.toordinal() for d in self.first_days],
            self.progress_minutes,
            self.course_duration,
        ]
        if self.course_days:
            doc.append([[course, day.toordinal()] for course, day in self.course_days])
        return doc

    @classmethod
    def from_json(cls, data: Any) -> GoalTally:
        """Inverse of :meth:`to_json`."""
        if not isinstance(data, list) or len(data) not in (4, 5) or not isinstance(data[1], list):
            raise ValueError(f"a goal tally is [count, [days], minutes, duration], got {data!r}")
        course_days: tuple[tuple[int, date], ...] = ()
        if len(data) == 5:
            if not isinstance(data[4], list) or not all(
                isinstance(pair, list) and len(pair) == 2 for pair in data[4]
            ):
                raise ValueError(f"a goal tally's courses are [[course, day]], got {data!r}")
            course_days = tuple((int(c), date.fromordinal(int(d))) for c, d in data[4])
        return cls(
            int(data[0]),
            tuple(date.fromordinal(int(d)) for d in data[1]),
            int(data[2]),
            int(data[3]),
            course_days,
        )


def tally_goal(goal: DatedGoal, facts: Iterable[LearningFact]) -> GoalTally:
    """The tally of a dated goal over a whole history."""
    tally = GoalTally()
    for fact in facts:
        tally = tally.plus(goal, fact)
    return tally
