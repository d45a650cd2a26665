"""Challenges: individual org-wide challenges and sponsored team challenges.

Both are pure measures over facts (individual) or per-member activity (team); the engine
pays an individual challenge's reward once, when :func:`challenge_progress` first says
completed. Windows are inclusive ranges of the learner's local days.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

from gamification.events import EventKind, LearningFact
from gamification.jsondoc import (
    JsonDict,
    content_digest,
    read_bool,
    read_date,
    read_float,
    read_int,
    read_optional_int,
    read_optional_str,
    read_str,
)
from gamification.periods import week_start


@dataclass(frozen=True)
class ChallengeDefinition:
    """An individual challenge: ``target_count`` facts of ``event_kind`` between
    ``starts_on`` and ``ends_on`` (e.g. 3 completions in 14 days), optionally only in
    ``competency_id`` or only hot skills. ``xp_reward`` None means the org default.
    """

    challenge_id: str
    title: str
    starts_on: date
    ends_on: date
    event_kind: EventKind
    target_count: int
    competency_id: int | None = None
    hot_skill_only: bool = False
    xp_reward: int | None = None
    badge_code: str | None = None

    def __post_init__(self) -> None:
        if self.ends_on < self.starts_on:
            raise ValueError(f"challenge {self.challenge_id!r} ends before it starts")
        if self.target_count < 1:
            raise ValueError(f"challenge {self.challenge_id!r} needs a target_count >= 1")

    @cached_property
    def tally_key(self) -> str:
        """The key of this challenge's tally (a changed definition starts a new one)."""
        return f"c:{self.challenge_id}:" + content_digest(self.to_dict())

    def matches(self, fact: LearningFact) -> bool:
        """Whether ``fact`` counts towards this challenge."""
        return (
            fact.kind is self.event_kind
            and self.starts_on <= fact.local_date <= self.ends_on
            and (self.competency_id is None or self.competency_id in fact.competency_ids)
            and (fact.hot_skill or not self.hot_skill_only)
        )

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {
            "challenge_id": self.challenge_id,
            "title": self.title,
            "starts_on": self.starts_on.isoformat(),
            "ends_on": self.ends_on.isoformat(),
            "event_kind": self.event_kind.value,
            "target_count": self.target_count,
            "competency_id": self.competency_id,
            "hot_skill_only": self.hot_skill_only,
            "xp_reward": self.xp_reward,
            "badge_code": self.badge_code,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChallengeDefinition:
        """Inverse of :meth:`to_dict`."""
        return cls(
            challenge_id=read_str(data, "challenge_id", ""),
            title=read_str(data, "title", ""),
            starts_on=read_date(data, "starts_on"),
            ends_on=read_date(data, "ends_on"),
            event_kind=EventKind(read_str(data, "event_kind", "")),
            target_count=read_int(data, "target_count", 1),
            competency_id=read_optional_int(data, "competency_id"),
            hot_skill_only=read_bool(data, "hot_skill_only", False),
            xp_reward=read_optional_int(data, "xp_reward"),
            badge_code=read_optional_str(data, "badge_code"),
        )


@dataclass(frozen=True)
class ChallengeProgress:
    """Progress on an individual challenge; ``evidence`` are the counted fact keys."""

    challenge_id: str
    count: int
    target: int
    fraction: float
    completed: bool
    evidence: tuple[str, ...]
    completed_on: date | None


def challenge_progress(
    challenge: ChallengeDefinition, facts: Iterable[LearningFact]
) -> ChallengeProgress:
    """How far a learner's facts go towards ``challenge`` (counted up to the target);
    ``completed_on`` is the local day of the fact that reached the target.

    A course counts once: completing the same course three times is one training, not three.
    """
    matching: list[LearningFact] = []
    courses_seen: set[int] = set()
    for fact in sorted(
        (f for f in facts if challenge.matches(f)), key=lambda f: f.chronological_key
    ):
        if fact.course_id is not None:
            if fact.course_id in courses_seen:
                continue
            courses_seen.add(fact.course_id)
        matching.append(fact)
        if len(matching) == challenge.target_count:
            break
    count = len(matching)
    return ChallengeProgress(
        challenge_id=challenge.challenge_id,
        count=count,
        target=challenge.target_count,
        fraction=count / challenge.target_count,
        completed=count >= challenge.target_count,
        evidence=tuple(f.key for f in matching),
        completed_on=matching[-1].local_date if count >= challenge.target_count else None,
    )


class TeamTargetKind(StrEnum):
    """How a team challenge is won."""

    TEAM_MINUTES = "team_minutes"
    PARTICIPATION = "participation"


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
class TeamChallenge:
    """A manager-sponsored team challenge over local days ``starts_on``..``ends_on``.

    ``team_minutes``: the team learns ``target_minutes`` minutes in total.
    ``participation``: in at least ``weeks`` ISO weeks lying wholly inside the period, at
    least ``member_share`` (0..1) of the members are active on ``days_per_week`` days.
    """

    challenge_id: str
    sponsor_user_id: int
    pledge: str
    starts_on: date
    ends_on: date
    target_kind: TeamTargetKind
    target_minutes: int = 0
    member_share: float = 0.0
    days_per_week: int = 1
    weeks: int = 1

    def __post_init__(self) -> None:
        if self.ends_on < self.starts_on:
            raise ValueError(f"team challenge {self.challenge_id!r} ends before it starts")
        if self.target_kind is TeamTargetKind.TEAM_MINUTES and self.target_minutes < 1:
            raise ValueError("a team_minutes challenge needs target_minutes >= 1")
        if self.target_kind is TeamTargetKind.PARTICIPATION:
            if not 0 < self.member_share <= 1:
                raise ValueError("member_share must be in (0, 1]")
            if not 1 <= self.days_per_week <= 7 or self.weeks < 1:
                raise ValueError("days_per_week must be 1-7 and weeks >= 1")

    def full_weeks(self) -> list[date]:
        """Mondays of the ISO weeks lying wholly inside the period."""
        monday = week_start(self.starts_on)
        if monday < self.starts_on:
            monday += timedelta(days=7)
        mondays = []
        while monday + timedelta(days=6) <= self.ends_on:
            mondays.append(monday)
            monday += timedelta(days=7)
        return mondays

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {
            "challenge_id": self.challenge_id,
            "sponsor_user_id": self.sponsor_user_id,
            "pledge": self.pledge,
            "starts_on": self.starts_on.isoformat(),
            "ends_on": self.ends_on.isoformat(),
            "target_kind": self.target_kind.value,
            "target_minutes": self.target_minutes,
            "member_share": self.member_share,
            "days_per_week": self.days_per_week,
            "weeks": self.weeks,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TeamChallenge:
        """Inverse of :meth:`to_dict`."""
        return cls(
            challenge_id=read_str(data, "challenge_id", ""),
            sponsor_user_id=read_int(data, "sponsor_user_id", 0),
            pledge=read_str(data, "pledge", ""),
            starts_on=read_date(data, "starts_on"),
            ends_on=read_date(data, "ends_on"),
            target_kind=TeamTargetKind(read_str(data, "target_kind", "")),
            target_minutes=read_int(data, "target_minutes", 0),
            member_share=read_float(data, "member_share", 0.0),
            days_per_week=read_int(data, "days_per_week", 1),
            weeks=read_int(data, "weeks", 1),
        )


@dataclass(frozen=True)
class MemberContribution:
    """One member's part: minutes and active days in the period (up to today), and the
    number of full weeks in which they were active on ``days_per_week`` days."""

    user_id: int
    minutes: int
    active_days: int
    qualifying_weeks: int


@dataclass(frozen=True)
class TeamChallengeProgress:
    """A team challenge's state: ``progress`` 0..1 and the members' contributions."""

    challenge_id: str
    progress: float
    completed: bool
    total_minutes: int
    qualifying_weeks: tuple[date, ...]
    contributions: tuple[MemberContribution, ...]


def team_challenge_progress(
    challenge: TeamChallenge,
    member_minutes_by_day: Mapping[int, Mapping[date, int]],
    today: date,
) -> TeamChallengeProgress:
    """Progress of a team challenge as of local day ``today``.

    ``member_minutes_by_day`` maps every team member (including inactive ones, who count in
    the participation share) to their minutes per local day; a day with minutes > 0 is an
    active day. Days outside the period are ignored. A recorded day after ``today`` belongs
    to a member whose timezone is ahead of the caller's: it has happened, so the measure runs
    up to the latest recorded day.
    """
    latest = max((d for days in member_minutes_by_day.values() for d in days), default=today)
    last = min(max(today, latest), challenge.ends_on)

    def in_period(day: date) -> bool:
        return challenge.starts_on <= day <= last

    def week_active_days(days: Mapping[date, int], monday: date) -> int:
        week = (monday + timedelta(days=i) for i in range(7))
        return sum(1 for day in week if in_period(day) and days.get(day, 0) > 0)

    weeks = challenge.full_weeks()
    contributions = []
    for user_id, days in sorted(member_minutes_by_day.items()):
        counted = {d: m for d, m in days.items() if in_period(d) and m > 0}
        qualifying = sum(1 for w in weeks if week_active_days(days, w) >= challenge.days_per_week)
        contributions.append(
            MemberContribution(user_id, sum(counted.values()), len(counted), qualifying)
        )
    total_minutes = sum(c.minutes for c in contributions)
    # round first: 0.7 * 10 is 7.000000000000001 in floating point, and 7 members must do
    needed = math.ceil(round(challenge.member_share * len(member_minutes_by_day), 9))
    qualifying_weeks = tuple(
        w
        for w in weeks
        if member_minutes_by_day
        and sum(
            1
            for days in member_minutes_by_day.values()
            if week_active_days(days, w) >= challenge.days_per_week
        )
        >= needed
    )
    if challenge.target_kind is TeamTargetKind.TEAM_MINUTES:
        progress = min(1.0, total_minutes / challenge.target_minutes)
    else:
        progress = min(1.0, len(qualifying_weeks) / challenge.weeks)
    return TeamChallengeProgress(
        challenge_id=challenge.challenge_id,
        progress=progress,
        completed=progress >= 1.0,
        total_minutes=total_minutes,
        qualifying_weeks=qualifying_weeks,
        contributions=tuple(contributions),
    )
