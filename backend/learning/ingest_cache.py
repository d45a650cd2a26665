"""What ingestion keeps in memory between requests: :class:`IngestionCache`.

A single xAPI statement needs the organisation's rules, badges and challenges, the learner
behind the actor, the course behind the activity and the learner's state. Read fresh, that
is a round trip and ~0.3 ms of PostgreSQL planning per request; kept here, the request goes
straight to its one write. Nothing kept here is trusted blindly:

- organisation data (rules, badges, challenges, learners, courses) is stamped with the
  organisation's ``config_version``, which database triggers bump whenever any of it
  changes (migration 0008); every write checks the number in the same statement, and a
  write that finds it moved is undone and redone from a fresh read;
- a learner's state is stamped with its row ``version``; the optimistic write only lands if
  the row still has it (else it takes the row lock and reads the row).

So a cache entry can be stale, never wrong: staleness costs a retry. Entries also expire
after :data:`TTL_SECONDS` (the organisation's local day moves on) and the whole cache is
bounded. One cache per database engine (tests run many databases in one process).
"""

import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from backend.learning.model import CourseInfo, Learner, OrgContext
from gamification import LearnerState as EngineState

TTL_SECONDS = 30.0
MAX_STATES = 5000  # the default; AppContext sets the configured number
MAX_PER_ORG = 100_000  # learners or courses kept per organisation


@dataclass
class OrgEntry:
    """One organisation as read at ``config_version``."""

    config_version: int
    context: OrgContext
    read_at: float
    learners_by_email: dict[str, Learner] = field(default_factory=dict)
    learners_by_external: dict[str, Learner] = field(default_factory=dict)
    courses_by_activity: dict[str, CourseInfo | None] = field(default_factory=dict)

    def fresh(self, now: float) -> bool:
        return now - self.read_at < TTL_SECONDS


@dataclass(frozen=True)
class CachedState:
    """A learner's state as of row ``version`` (decoded: no JSON to parse again)."""

    organisation_id: int
    version: int
    state: EngineState


class IngestionCache:
    """Organisations, learners, courses and learner states, as the last read or write saw
    them (see the module docstring for why that is safe)."""

    def __init__(self, max_states: int = MAX_STATES) -> None:
        self.max_states = max_states
        self.orgs: dict[int, OrgEntry] = {}
        self.states: OrderedDict[int, CachedState] = OrderedDict()

    def org(self, organisation_id: int) -> OrgEntry | None:
        entry = self.orgs.get(organisation_id)
        if entry is None or not entry.fresh(time.monotonic()):
            return None
        return entry

    def remember_org(
        self,
        organisation_id: int,
        config_version: int,
        context: OrgContext,
        learners: list[Learner],
        courses: dict[str, CourseInfo | None],
    ) -> None:
        """Keep what one lookup read; an entry of another config version is replaced."""
        entry = self.orgs.get(organisation_id)
        now = time.monotonic()
        if entry is None or entry.config_version != config_version or not entry.fresh(now):
            entry = self.orgs[organisation_id] = OrgEntry(config_version, context, now)
        if len(entry.learners_by_email) + len(entry.courses_by_activity) > MAX_PER_ORG:
            entry.learners_by_email.clear()
            entry.learners_by_external.clear()
            entry.courses_by_activity.clear()
        for learner in learners:
            entry.learners_by_email[learner.email] = learner
            if learner.external_id:
                entry.learners_by_external[learner.external_id] = learner
        entry.courses_by_activity.update(courses)

    def forget_org(self, organisation_id: int) -> None:
        self.orgs.pop(organisation_id, None)

    def state(self, organisation_id: int, user_id: int) -> CachedState | None:
        cached = self.states.get(user_id)
        if cached is None or cached.organisation_id != organisation_id:
            return None
        self.states.move_to_end(user_id)
        return cached

    def remember_state(
        self, organisation_id: int, user_id: int, version: int, state: EngineState
    ) -> None:
        self.states[user_id] = CachedState(organisation_id, version, state)
        self.states.move_to_end(user_id)
        while len(self.states) > self.max_states:
            self.states.popitem(last=False)

    def forget_states(self, user_ids: Any) -> None:
        for user_id in user_ids:
            self.states.pop(user_id, None)


_caches: "weakref.WeakKeyDictionary[Any, IngestionCache]" = weakref.WeakKeyDictionary()


def cache_for(bind: Any) -> IngestionCache:
    """The cache of one database engine (``session.bind``)."""
    engine = getattr(bind, "sync_engine", bind)
    cache = _caches.get(engine)
    if cache is None:
        cache = _caches[engine] = IngestionCache()
    return cache
