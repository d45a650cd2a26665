"""Running totals per challenge and dated goal, so applying a fact costs O(rules), not
O(history) (badge criteria have theirs in ``gamification.badges``: :class:`BadgeTally`).

For every badge criterion, individual challenge and dated goal the engine keeps a *tally*:
what the learner's facts add up to for that rule (a count, minutes, the competencies
touched, the courses counted, the earliest days). Each tally is a commutative sum, so it
does not depend on the order facts arrive in, and :func:`tally_badge` and friends give
the same tally from a whole history as adding its facts one by one.

A tally is keyed by the rule's content (:func:`challenge_key`,
:func:`goal_key`, ``badges.badge_key``): a rule L&D changes gets a new tally. A learner who already has facts
but no tally for a rule (a badge created since, a v1 document) gets it from their history
first (``gamification.engine.backfill``); the backend reads that history from its events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from gamification.challenges import ChallengeDefinition, ChallengeProgress
from gamification.events import EventKind, LearningFact
from gamification.goals import (
    DatedGoal,
    DatedGoalKind,
    DatedGoalProgress,
    counts_for_goal,
    dated_goal_result,
)

_T = TypeVar("_T")


def known_tally(tallies: Mapping[str, _T], key: str, fact_count: int, empty: _T) -> _T:
    """The tally under ``key``; ``empty`` for a learner without facts; KeyError for a learner
    with facts and no tally yet (``gamification.engine.backfill`` it first)."""
    tally = tallies.get(key)
    if tally is not None:
        return tally
    if fact_count:
        raise KeyError(f"no tally for {key}: backfill the learner's history first")
    return empty


def challenge_key(challenge: ChallengeDefinition) -> str:
    """The tally key of an individual challenge (a changed definition starts afresh)."""
    return challenge.tally_key


def goal_key(goal: DatedGoal) -> str:
    """The tally key of a dated goal."""
    return goal.tally_key


@dataclass(frozen=True)
class ChallengeTally:
    """An individual challenge's total: matching facts without a course (``loose``, with
    the earliest ``target`` of their days) and the distinct ``courses`` of matching facts
    with the first day each matched (a course counts once). ``ends_on`` lets old tallies be
    forgotten.

    Once the target is reached only the earliest ``target`` days matter (for
    :meth:`completed_on`), so the tally stops growing: it stays bounded by the target.
    """

    ends_on: date
    loose: int = 0
    loose_days: tuple[date, ...] = ()
    courses: Mapping[int, date] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Facts that count towards the target (exact until the target is reached)."""
        return self.loose + len(self.courses)

    def plus(self, challenge: ChallengeDefinition, fact: LearningFact) -> ChallengeTally:
        """This tally with a matching ``fact`` added."""
        target = challenge.target_count
        day = fact.local_date
        if fact.course_id is None:
            days = tuple(sorted((*self.loose_days, day)))[:target]
            return ChallengeTally(self.ends_on, self.loose + 1, days, self.courses)
        known = self.courses.get(fact.course_id)
        if known is not None and known <= day:
            return self
        courses = {**self.courses, fact.course_id: day}
        if len(courses) > target:
            # past the target: keep the courses of the earliest days (ties by course id)
            kept = sorted(courses.items(), key=lambda item: (item[1], item[0]))[:target]
            courses = dict(kept)
        return ChallengeTally(self.ends_on, self.loose, self.loose_days, courses)

    def completed_on(self, challenge: ChallengeDefinition) -> date | None:
        """The local day the target was reached, in the order things happened."""
        days = sorted((*self.loose_days, *self.courses.values()))
        target = challenge.target_count
        return days[target - 1] if self.count >= target and len(days) >= target else None

    def to_json(self) -> list[Any]:
        """Compact form: ``[ends_on, loose, [loose days], [[course, day], ...]]`` (ordinals)."""
        return [
            self.ends_on.toordinal(),
            self.loose,
            [d.toordinal() for d in self.loose_days],
            [[course, day.toordinal()] for course, day in sorted(self.courses.items())],
        ]

    @classmethod
    def from_json(cls, data: Any) -> ChallengeTally:
        """Inverse of :meth:`to_json`."""
        if not isinstance(data, list) or len(data) != 4:
            raise ValueError(
                f"a challenge tally is [ends_on, loose, [days], [[course, day]]], got {data!r}"
            )
        return cls(
            date.fromordinal(int(data[0])),
            int(data[1]),
            tuple(date.fromordinal(int(d)) for d in data[2]),
            {int(course): date.fromordinal(int(day)) for course, day in data[3]},
        )

    def progress(self, challenge: ChallengeDefinition, completed: bool) -> ChallengeProgress:
        """Progress as ``challenges.challenge_progress`` shows it (without evidence)."""
        count = challenge.target_count if completed else min(self.count, challenge.target_count)
        return ChallengeProgress(
            challenge_id=challenge.challenge_id,
            count=count,
            target=challenge.target_count,
            fraction=count / challenge.target_count,
            completed=completed,
            evidence=(),
            completed_on=self.completed_on(challenge) if completed else None,
        )


def tally_challenge(
    challenge: ChallengeDefinition, facts: Iterable[LearningFact]
) -> ChallengeTally:
    """The tally of an individual challenge over a whole history."""
    tally = ChallengeTally(challenge.ends_on)
    for fact in facts:
        if challenge.matches(fact):
            tally = tally.plus(challenge, fact)
    return tally


@dataclass(frozen=True)
class GoalTally:
    """A dated goal's total inside its window: the number of counting facts, the earliest
    ``target_count`` of their days (so the day it was reached does not depend on arrival
    order), and for a course goal the progress minutes and course duration seen."""

    count: int = 0
    first_days: tuple[date, ...] = ()
    progress_minutes: int = 0
    course_duration: int = 0

    def plus(self, goal: DatedGoal, fact: LearningFact) -> GoalTally:
        """This tally with ``fact`` added (any fact: the window and rule are checked here)."""
        if not goal.set_on <= fact.local_date <= goal.due_on:
            return self
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

    def progress(self, goal: DatedGoal, today: date) -> DatedGoalProgress:
        """Progress and pace on ``today`` (as ``goals.dated_goal_progress`` over the facts)."""
        done = min(self.count, goal.target_count)
        reached_on = self.first_days[-1] if done == goal.target_count else None
        fraction = done / goal.target_count
        course_goal = goal.kind is DatedGoalKind.COURSE_COMPLETION
        if course_goal and reached_on is None and self.course_duration > 0:
            fraction = min(0.99, self.progress_minutes / self.course_duration)
        return dated_goal_result(goal, done, fraction, reached_on, today)

    def to_json(self) -> list[Any]:
        """Compact form: ``[count, [day ordinals], progress minutes, course duration]``."""
        return [
            self.count,
            [d.toordinal() for d in self.first_days],
            self.progress_minutes,
            self.course_duration,
        ]

    @classmethod
    def from_json(cls, data: Any) -> GoalTally:
        """Inverse of :meth:`to_json`."""
        if not isinstance(data, list) or len(data) != 4 or not isinstance(data[1], list):
            raise ValueError(f"a goal tally is [count, [days], minutes, duration], got {data!r}")
        return cls(
            int(data[0]),
            tuple(date.fromordinal(int(d)) for d in data[1]),
            int(data[2]),
            int(data[3]),
        )


def tally_goal(goal: DatedGoal, facts: Iterable[LearningFact]) -> GoalTally:
    """The tally of a dated goal over a whole history."""
    tally = GoalTally()
    for fact in facts:
        tally = tally.plus(goal, fact)
    return tally
