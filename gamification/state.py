"""A learner's gamification state: the document the backend keeps in ``learner_state.data``.

The backend loads it with :meth:`LearnerState.from_dict` (``from_dict({})`` is a fresh
learner), passes it to ``gamification.engine.apply`` and stores ``outcome.state.to_dict()``.

The state is bounded: it does not keep the facts themselves. It keeps

- the learner's active local days (sessions and minutes per day: a few numbers a day, the
  single source for streaks, weekly goals and the heatmap) and a streak checkpoint, so a
  new fact walks a few periods instead of the whole history;
- one tally per badge criterion, challenge and dated goal (``gamification.tallies``);
- a 64-bit digest of the idempotency key of each fact dated within :data:`KEY_WINDOW_DAYS`
  of the newest day (retries arrive within minutes; an older duplicate is refused by the
  caller's store, which keeps every key: the backend's unique key on ``learning_event``).
  Digests, not the keys: an LMS's keys are long (``xapi:`` and a UUID), and a learner
  with a busy week would otherwise carry kilobytes of them in every write of the document;
  two keys share a digest with a chance of 2^-64;
- paid-out bookkeeping (XP, informal caps and cooldowns for the last
  :data:`XP_MEMORY_DAYS` days, paid courses, goals, challenges, badges), so nothing is paid
  twice, and the learner's own settings.

Version 1 documents kept every fact; :meth:`LearnerState.from_dict` converts them, keeping
their facts as :attr:`LearnerState.history` until the engine has tallied them. Version 2
documents kept the keys themselves; they are read as their digests.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from gamification.badges import BadgeTally
from gamification.challenges import ChallengeDefinition, ChallengeProgress, ChallengeTally
from gamification.events import LearningFact
from gamification.goals import DatedGoal, DatedGoalProgress, FinishedGoal, GoalTally
from gamification.jsondoc import (
    JsonDict,
    parse_date,
    read_int,
    read_list,
    read_mapping,
)
from gamification.periods import DateRange, week_start
from gamification.streaks import StreakCheckpoint, StreakStatus
from gamification.tallies import known_tally
from gamification.xp import XpContext

STATE_SCHEMA_VERSION = 3
KEY_WINDOW_DAYS = 7
"""Keys of facts dated this many days before the newest day are forgotten."""
KEY_DIGEST_BYTES = 8
KEY_DIGEST_CHARS = 11  # 64 bits in base64url, unpadded
XP_MEMORY_DAYS = 62
"""Informal XP caps and cooldown slots are remembered this many days before the newest day
(a log dated earlier than that is capped on its own)."""


@dataclass(frozen=True)
class ActiveDays:
    """Sessions and minutes per local day, for facts that count as learning activity.

    Three parallel tuples sorted by day (``days`` as proleptic ordinals): they go to and
    from JSON as they are, and a new fact is one binary search.
    """

    days: tuple[int, ...] = ()
    sessions: tuple[int, ...] = ()
    minutes: tuple[int, ...] = ()

    def plus(self, day: date, minutes: int) -> ActiveDays:
        """These days with one more session of ``minutes`` on ``day``."""
        ordinal = day.toordinal()
        at = bisect.bisect_left(self.days, ordinal)
        if at < len(self.days) and self.days[at] == ordinal:
            sessions = list(self.sessions)
            sessions[at] += 1
            spent = list(self.minutes)
            spent[at] += minutes
            return ActiveDays(self.days, tuple(sessions), tuple(spent))
        return ActiveDays(
            (*self.days[:at], ordinal, *self.days[at:]),
            (*self.sessions[:at], 1, *self.sessions[at:]),
            (*self.minutes[:at], minutes, *self.minutes[at:]),
        )

    @property
    def last(self) -> date | None:
        """The latest active day."""
        return date.fromordinal(self.days[-1]) if self.days else None

    def minutes_by_day(self, since: date | None = None) -> dict[date, int]:
        """Minutes per local day (from ``since`` on)."""
        start = 0 if since is None else bisect.bisect_left(self.days, since.toordinal())
        return {
            date.fromordinal(d): m
            for d, m in zip(self.days[start:], self.minutes[start:], strict=True)
        }

    def weekly_minutes(self, day: date) -> int:
        """Minutes learned in the ISO week (Monday-Sunday) containing ``day``."""
        monday = week_start(day)
        return self.minutes_between(monday, monday + timedelta(days=6))

    def minutes_between(self, first: date, last: date) -> int:
        """Minutes learned from ``first`` to ``last`` (inclusive)."""
        lo = bisect.bisect_left(self.days, first.toordinal())
        hi = bisect.bisect_right(self.days, last.toordinal())
        return sum(self.minutes[lo:hi])

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {
            "days": list(self.days),
            "sessions": list(self.sessions),
            "minutes": list(self.minutes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActiveDays:
        """Inverse of :meth:`to_dict`."""
        days = tuple(read_list(data, "days"))
        sessions = tuple(read_list(data, "sessions"))
        minutes = tuple(read_list(data, "minutes"))
        if not len(days) == len(sessions) == len(minutes):
            raise ValueError("active days, sessions and minutes must have the same length")
        if not all(type(v) is int for column in (days, sessions, minutes) for v in column):
            raise ValueError("active days, sessions and minutes must be integers")
        if any(a >= b for a, b in itertools.pairwise(days)):
            raise ValueError("active days must be sorted and distinct")
        return cls(days, sessions, minutes)


@dataclass(frozen=True)
class LearnerState:
    """Everything the engine knows about one learner (immutable; the engine returns new ones).

    - ``active``: sessions and minutes per local day (activity facts only).
    - ``fact_count``: facts applied, ever (0 means no history to tally).
    - ``recent_keys``: :func:`key_digest` of the keys of facts dated within
      ``KEY_WINDOW_DAYS`` of ``newest_day``, per local day (as an ordinal): each day's
      digests sorted and joined into one string, as the document keeps them.
    - ``xp_total``: the sum of every XP award ever emitted; ``level`` follows from it.
    - ``informal_xp_by_day``: informal XP paid per local day (for the daily cap).
    - ``paid_informal_slots``: cooldown slots already paid (see ``xp.informal_cooldown_slot``).
    - ``paid_course_ids``: courses whose completion XP was paid.
    - ``rewarded_goals``: ``weekly:<iso week>`` / ``dated:<goal id>`` goals already paid.
    - ``completed_challenges``: challenge ids already completed and paid.
    - ``awarded_badges``: ``(code, tier)`` pairs awarded.
    - ``badge_tallies`` / ``challenge_tallies`` / ``goal_tallies``: per-rule totals.
    - ``pauses``, ``weekly_goal_minutes``, ``dated_goals``: the learner's own settings.
    - ``finished_goals``: dated goals the learner closed, newest last (a bounded history).
    - ``streak``: the streak as of the last apply/refresh; ``streak_checkpoint`` where the
      next walk may start.
    - ``history``: the facts of a converted version-1 document, until they are tallied
      (never stored).
    """

    active: ActiveDays = field(default_factory=ActiveDays)
    fact_count: int = 0
    recent_keys: Mapping[int, str] = field(default_factory=dict)
    newest_day: date | None = None
    xp_total: int = 0
    level: int = 1
    informal_xp_by_day: Mapping[date, int] = field(default_factory=dict)
    paid_informal_slots: frozenset[str] = field(default_factory=frozenset)
    paid_course_ids: frozenset[int] = field(default_factory=frozenset)
    rewarded_goals: frozenset[str] = field(default_factory=frozenset)
    completed_challenges: frozenset[str] = field(default_factory=frozenset)
    awarded_badges: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    badge_tallies: Mapping[str, BadgeTally] = field(default_factory=dict)
    challenge_tallies: Mapping[str, ChallengeTally] = field(default_factory=dict)
    goal_tallies: Mapping[str, GoalTally] = field(default_factory=dict)
    pauses: tuple[DateRange, ...] = ()
    weekly_goal_minutes: int = 60
    dated_goals: tuple[DatedGoal, ...] = ()
    finished_goals: tuple[FinishedGoal, ...] = ()
    streak: StreakStatus = field(default_factory=StreakStatus)
    streak_checkpoint: StreakCheckpoint | None = None
    history: tuple[LearningFact, ...] = field(default=(), compare=False, repr=False)

    def remembers(self, key: str) -> bool:
        """Whether a fact with idempotency key ``key`` was applied and is still remembered."""
        return knows_key(self.recent_keys, key_digest(key))

    def minutes_by_day(self, since: date | None = None) -> dict[date, int]:
        """Minutes learned per local day."""
        return self.active.minutes_by_day(since)

    @property
    def last_active_date(self) -> date | None:
        """The latest local day with learning activity."""
        return self.active.last

    def challenge_progress(self, challenge: ChallengeDefinition) -> ChallengeProgress:
        """Progress on an individual challenge, from its tally (KeyError when a learner
        with facts has none yet: ``gamification.engine.backfill`` first)."""
        tally = known_tally(
            self.challenge_tallies,
            challenge.tally_key,
            self.fact_count,
            ChallengeTally(challenge.ends_on),
        )
        return tally.progress(challenge, challenge.challenge_id in self.completed_challenges)

    def dated_goal_progress(self, goal: DatedGoal, today: date) -> DatedGoalProgress:
        """Progress and pace of one of the learner's dated goals on local day ``today``."""
        tally = known_tally(self.goal_tallies, goal.tally_key, self.fact_count, GoalTally())
        return tally.progress(goal, today)

    def has_badge(self, code: str, tier: str) -> bool:
        """Whether this badge tier was already awarded."""
        return (code, tier) in self.awarded_badges

    def xp_context(self, day: date) -> XpContext:
        """What caps and cooldowns need to know for a fact on local day ``day``."""
        return XpContext(
            informal_xp_today=self.informal_xp_by_day.get(day, 0),
            paid_informal_slots=self.paid_informal_slots,
            completed_course_ids=self.paid_course_ids,
        )

    def to_dict(self) -> JsonDict:
        """JSON-compatible document (days as ISO strings or ordinals, sets as sorted lists)."""
        # Written for every learner a request touches; most of the collections are empty
        # for most learners, and an empty one skips its sort.
        return {
            "schema": STATE_SCHEMA_VERSION,
            "active": self.active.to_dict(),
            "fact_count": self.fact_count,
            "recent_keys": _write_keys(self.recent_keys),
            "newest_day": self.newest_day.toordinal() if self.newest_day else None,
            "xp_total": self.xp_total,
            "level": self.level,
            "informal_xp_by_day": {
                day.isoformat(): self.informal_xp_by_day[day]
                for day in sorted(self.informal_xp_by_day)
            }
            if self.informal_xp_by_day
            else {},
            "paid_informal_slots": _sorted(self.paid_informal_slots),
            "paid_course_ids": _sorted(self.paid_course_ids),
            "rewarded_goals": _sorted(self.rewarded_goals),
            "completed_challenges": _sorted(self.completed_challenges),
            "awarded_badges": [list(pair) for pair in _sorted(self.awarded_badges)],
            "badge_tallies": _tallies_json(self.badge_tallies),
            "challenge_tallies": _tallies_json(self.challenge_tallies),
            "goal_tallies": _tallies_json(self.goal_tallies),
            "pauses": [pause.to_dict() for pause in self.pauses],
            "weekly_goal_minutes": self.weekly_goal_minutes,
            "dated_goals": [goal.to_dict() for goal in self.dated_goals],
            "streak": self.streak.to_dict(),
            "streak_checkpoint": (
                self.streak_checkpoint.to_dict() if self.streak_checkpoint else None
            ),
        } | (
            {"finished_goals": [f.to_dict() for f in self.finished_goals]}
            if self.finished_goals
            else {}
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LearnerState:
        """Inverse of :meth:`to_dict`; ``from_dict({})`` is a fresh learner. A version-1
        document (every fact kept) is converted: see the module docstring."""
        schema = read_int(data, "schema", STATE_SCHEMA_VERSION)
        if schema > STATE_SCHEMA_VERSION:
            raise ValueError(f"state schema {schema} is newer than this engine understands")
        if schema == 1 and data:
            return _from_version_1(data)
        badges = read_list(data, "awarded_badges")
        if not all(isinstance(b, list) and len(b) == 2 for b in badges):
            raise ValueError(f"awarded_badges must be [code, tier] pairs, got {badges!r}")
        newest = data.get("newest_day")
        checkpoint = data.get("streak_checkpoint")
        return cls(
            active=ActiveDays.from_dict(read_mapping(data, "active")),
            fact_count=read_int(data, "fact_count", 0),
            recent_keys=_read_keys(read_mapping(data, "recent_keys"), schema),
            newest_day=date.fromordinal(int(newest)) if newest else None,
            xp_total=read_int(data, "xp_total", 0),
            level=read_int(data, "level", 1),
            informal_xp_by_day={
                parse_date(day): int(xp)
                for day, xp in read_mapping(data, "informal_xp_by_day").items()
            },
            paid_informal_slots=frozenset(str(s) for s in read_list(data, "paid_informal_slots")),
            paid_course_ids=frozenset(int(c) for c in read_list(data, "paid_course_ids")),
            rewarded_goals=frozenset(str(g) for g in read_list(data, "rewarded_goals")),
            completed_challenges=frozenset(str(c) for c in read_list(data, "completed_challenges")),
            awarded_badges=frozenset((str(code), str(tier)) for code, tier in badges),
            badge_tallies={
                str(key): BadgeTally.from_json(value)
                for key, value in read_mapping(data, "badge_tallies").items()
            },
            challenge_tallies={
                str(key): ChallengeTally.from_json(value)
                for key, value in read_mapping(data, "challenge_tallies").items()
            },
            goal_tallies={
                str(key): GoalTally.from_json(value)
                for key, value in read_mapping(data, "goal_tallies").items()
            },
            pauses=tuple(DateRange.from_dict(p) for p in read_list(data, "pauses")),
            weekly_goal_minutes=read_int(data, "weekly_goal_minutes", 60),
            dated_goals=tuple(DatedGoal.from_dict(g) for g in read_list(data, "dated_goals")),
            finished_goals=tuple(
                FinishedGoal.from_dict(f) for f in read_list(data, "finished_goals")
            ),
            streak=StreakStatus.from_dict(read_mapping(data, "streak")),
            streak_checkpoint=(
                StreakCheckpoint.from_dict(checkpoint) if isinstance(checkpoint, Mapping) else None
            ),
        )


def _sorted(items: Iterable[Any]) -> list[Any]:
    return sorted(items) if items else []


def _tallies_json(tallies: Mapping[str, BadgeTally | ChallengeTally | GoalTally]) -> JsonDict:
    return {key: tallies[key].to_json() for key in sorted(tallies)} if tallies else {}


def key_digest(key: str) -> str:
    """The 64-bit digest by which the state remembers an idempotency key, as the
    :data:`KEY_DIGEST_CHARS` characters of its unpadded base64url form."""
    digest = hashlib.blake2b(key.encode(), digest_size=KEY_DIGEST_BYTES).digest()
    return base64.urlsafe_b64encode(digest)[:KEY_DIGEST_CHARS].decode()


def knows_key(keys: Mapping[int, str], digest: str) -> bool:
    """Whether ``digest`` is among ``keys`` (day ordinal -> that day's digests, joined)."""
    for joined in keys.values():
        at = joined.find(digest)
        while at != -1:
            if at % KEY_DIGEST_CHARS == 0:
                return True
            at = joined.find(digest, at + 1)  # straddles two digests: look further
    return False


def with_key(keys: Mapping[int, str], day: int, digest: str) -> dict[int, str]:
    """``keys`` with ``digest`` remembered for day ordinal ``day`` (in order: a day's
    digests are kept sorted, so equal sets of keys are equal documents)."""
    joined = keys.get(day, "")
    lo, hi = 0, len(joined) // KEY_DIGEST_CHARS
    while lo < hi:
        mid = (lo + hi) // 2
        if joined[mid * KEY_DIGEST_CHARS : (mid + 1) * KEY_DIGEST_CHARS] < digest:
            lo = mid + 1
        else:
            hi = mid
    at = lo * KEY_DIGEST_CHARS
    return {**keys, day: joined[:at] + digest + joined[at:]}


def remembered_keys(keys: Mapping[int, str], newest: date | None) -> dict[int, str]:
    """``keys`` without the days more than ``KEY_WINDOW_DAYS`` before ``newest``."""
    if newest is None:
        return dict(keys)
    horizon = newest.toordinal() - KEY_WINDOW_DAYS
    return {day: joined for day, joined in keys.items() if day >= horizon}


def _joined_by_day(digests: Iterable[tuple[str, int]]) -> dict[int, str]:
    """(digest, day ordinal) pairs as the state keeps them."""
    by_day: dict[int, set[str]] = {}
    for digest, day in digests:
        by_day.setdefault(day, set()).add(digest)
    return {day: "".join(sorted(found)) for day, found in sorted(by_day.items())}


# a digest: 10 base64url characters and one that carries the last 4 bits (its other 2 are 0)
_DIGESTS = re.compile(rf"(?:[A-Za-z0-9_-]{{{KEY_DIGEST_CHARS - 1}}}[AEIMQUYcgkosw048])*")


def _write_keys(keys: Mapping[int, str]) -> dict[str, str]:
    """``{"<day ordinal>": "<the day's digests, joined>"}``."""
    return {str(day): joined for day, joined in sorted(keys.items()) if joined}


def _read_keys(raw: Mapping[str, Any], schema: int) -> dict[int, str]:
    """Inverse of :func:`_write_keys`; a version-2 document maps the keys themselves to
    their day ordinals."""
    if schema < 3:
        if not all(type(day) is int for day in raw.values()):
            raise ValueError("recent_keys must map keys to day ordinals")
        return _joined_by_day((key_digest(str(key)), day) for key, day in raw.items())
    pairs: list[tuple[str, int]] = []
    for day, joined in raw.items():
        if not (isinstance(joined, str) and _DIGESTS.fullmatch(joined)):
            raise ValueError(f"recent_keys: {day!r} must map to base64url key digests")
        try:
            ordinal = int(day)
        except ValueError as error:
            raise ValueError(f"recent_keys: {day!r} is not a day ordinal") from error
        pairs += [
            (joined[at : at + KEY_DIGEST_CHARS], ordinal)
            for at in range(0, len(joined), KEY_DIGEST_CHARS)
        ]
    return _joined_by_day(pairs)


def _from_version_1(data: Mapping[str, Any]) -> LearnerState:
    """A version-1 document (every fact kept) as a version-2 state with its facts as
    ``history``: active days, counts and keys now; tallies when the engine needs them."""
    unique: dict[str, LearningFact] = {}
    for raw in read_list(data, "facts"):
        fact = LearningFact.from_dict(raw)
        unique[fact.key] = fact
    facts = tuple(sorted(unique.values(), key=lambda f: f.chronological_key))
    active = ActiveDays()
    for fact in facts:
        if fact.counts_as_activity:
            active = active.plus(fact.local_date, fact.minutes)
    newest = max((f.local_date for f in facts), default=None)
    rest = LearnerState.from_dict(
        {k: v for k, v in data.items() if k not in ("schema", "facts", "recent_keys")}
    )
    return replace(
        rest,
        active=active,
        fact_count=len(facts),
        recent_keys=remembered_keys(
            _joined_by_day((key_digest(f.key), f.local_date.toordinal()) for f in facts), newest
        ),
        newest_day=newest,
        history=facts,
    )
