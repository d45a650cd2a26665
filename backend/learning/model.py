"""The value types of recording learning: what sources hand in and what they get back.

A source (``backend.learning.adapters``) turns what it received into :class:`IncomingEvent`s
for learners and courses the lookup (``backend.learning.lookup``) found; the service
(``backend.learning.service``) records them and answers an :class:`EventResult` for each.
No I/O here, so every other ingestion module can import this one.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from gamification import BadgeDefinition, ChallengeDefinition, OrgRules
from gamification import LearnerState as EngineState

EventStatus = Literal["created", "duplicate", "conflict", "voided"]  # voided: on arrival


def content_fingerprint(payload: Any) -> str:
    canonical = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(slots=True)  # not frozen: one per event, and a frozen dataclass is slower to build
class IncomingEvent:
    """A learning event from any source, with the learner already resolved."""

    key: str  # idempotency key, namespaced by source (see ``backend.learning.adapters``)
    user_id: int
    kind: str
    source: str
    occurred_at: datetime
    minutes: int = 0
    course_id: int | None = None
    competency_id: int | None = None
    activity_id: str | None = None
    title: str = ""
    text: str | None = None  # informal log text: identical texts earn XP once per cooldown
    payload: dict[str, Any] = field(default_factory=dict)
    payload_hash: str = ""

    def content_hash(self) -> str:
        return self.payload_hash or content_fingerprint(self.payload)


@dataclass
class EventResult:
    key: str
    status: EventStatus
    event_id: int | None = None
    xp: int = 0
    badges: list[str] = field(default_factory=list)


class StaleLookup(Exception):
    """The organisation's rules, badges, challenges, courses or learners changed since the
    caller read them (its ``config_version`` moved on); nothing was written: read afresh
    and try again."""


class VoidedMeanwhile(StaleLookup):
    """A voiding statement naming one of the request's statements was stored while they
    were (its request did not see them yet); nothing was written: try again, and they
    arrive voided (``backend.learning.voiding``)."""


class ConflictingEvents(Exception):
    """Some keys were seen before with different content; nothing was written."""

    def __init__(self, keys: Sequence[str]) -> None:
        super().__init__(f"already recorded with different content: {', '.join(keys)}")
        self.keys = list(keys)


class UnknownReference(ValueError):
    """A learner, course or competency that is not in the caller's organisation."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


NO_LEARNER = "no active learner of this organisation matches this actor"


@dataclass(frozen=True)
class OrgContext:
    """An organisation's rules, active badges and recent challenges, read once per request."""

    default_timezone: str
    rules: OrgRules
    badges: list[BadgeDefinition]
    individual_challenges: list[ChallengeDefinition]
    team_challenge_team_ids: frozenset[int]  # teams with a team challenge that may still count


@dataclass(frozen=True)
class Learner:
    """What ingestion needs of a learner (not the whole user row)."""

    id: int
    email: str
    external_id: str | None
    timezone: str


@dataclass(frozen=True)
class CourseInfo:
    """What ingestion and the engine need of a course."""

    id: int
    title: str
    duration_minutes: int
    hot_skill: bool = False
    competencies: frozenset[int] = frozenset()
    # (first, last) local days of the hot-skill seasons naming it or one of its competencies
    hot_seasons: tuple[tuple[date, date], ...] = ()

    def hot_on(self, day: date) -> bool:
        """Hot on the learner's ``day``: its own flag, or a season covering that day."""
        return self.hot_skill or any(first <= day <= last for first, last in self.hot_seasons)


def season_days(seasons: Sequence[Sequence[str]]) -> tuple[tuple[date, date], ...]:
    """``[[starts_on, ends_on], ...]`` (ISO dates, as ``store.HOT_SEASONS_SQL`` gives them)."""
    return tuple((date.fromisoformat(first), date.fromisoformat(last)) for first, last in seasons)


@dataclass(frozen=True)
class StateSnapshot:
    """A learner's state row as read without a lock: ``version`` (0 when there is no row yet)
    and the engine's document (None: a fresh learner), or the state already decoded."""

    version: int
    document: dict[str, Any] | None
    state: EngineState | None = None


@dataclass(frozen=True)
class LookupKeys:
    """The learners, courses and competencies one request names (``everyone``: an actor known
    only by the SHA-1 of an address, which needs every learner to compare against)."""

    emails: Sequence[str] = ()
    external_ids: Sequence[str] = ()
    ids: Sequence[int] = ()
    everyone: bool = False
    course_ids: Sequence[int] = ()
    course_external_ids: Sequence[str] = ()
    activity_ids: Sequence[str] = ()
    competency_ids: Sequence[int] = ()
