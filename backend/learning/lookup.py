"""What a request reads before it records learning: :class:`IngestionLookup`.

The organisation's context (rules, badges, challenges), the learners and courses the request
names and the learners' states come from the ingestion cache (``backend.learning.ingest_cache``)
when it holds all of them, else from one statement (``store.fetch_lookup``), whose result the
cache keeps for the next request.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from backend.learning import store
from backend.learning.connections import on_pooled_connection
from backend.learning.ingest_cache import IngestionCache, cache_for
from backend.learning.model import (
    NO_LEARNER,
    CourseInfo,
    Learner,
    LookupKeys,
    OrgContext,
    StateSnapshot,
    UnknownReference,
    season_days,
)
from backend.learning.rules import badges_from_documents, rules_from_settings
from backend.learning.xapi import ActorRef, mbox_sha1sum
from gamification import ChallengeDefinition, local_day

# a late event may still count for a challenge that ended a few days ago
CHALLENGE_GRACE_DAYS = 14


class CourseDirectory:
    """Courses of one organisation, looked up by id, external id or xAPI activity id."""

    def __init__(
        self, courses: Iterable[CourseInfo], keys: Iterable[tuple[int, str | None, str | None]] = ()
    ) -> None:
        self.by_id: dict[int, CourseInfo] = {c.id: c for c in courses}
        self.by_external: dict[str, CourseInfo] = {}
        self.by_activity: dict[str, CourseInfo] = {}
        for course_id, external_id, activity_id in keys:
            info = self.by_id[course_id]
            if external_id:
                self.by_external[external_id] = info
            if activity_id:
                self.by_activity[activity_id] = info


class LearnerDirectory:
    """Active learners of one organisation by e-mail, external id, id or mbox_sha1sum."""

    def __init__(self, users: Iterable[Learner]) -> None:
        self.users = list(users)
        self.by_email = {u.email: u for u in self.users}
        self.by_external = {u.external_id: u for u in self.users if u.external_id}
        self.by_id = {u.id: u for u in self.users}
        self._by_sha1: dict[str, Learner] | None = None

    def by_sha1(self, digest: str) -> Learner | None:
        if self._by_sha1 is None:
            self._by_sha1 = {mbox_sha1sum(u.email): u for u in self.users}
        return self._by_sha1.get(digest.lower())

    def named(
        self, email: str | None, external_id: str | None, user_id: int | None = None
    ) -> Learner | None:
        """The active learner a webhook or events API item names by one of e-mail, external
        id or id."""
        if email:
            return self.by_email.get(email.lower())
        if external_id:
            return self.by_external.get(external_id)
        return self.by_id.get(user_id) if user_id else None

    def find(self, actor: ActorRef) -> Learner | None:
        """The active learner ``actor`` names, if any."""
        if actor.email:
            return self.by_email.get(actor.email)
        if actor.mbox_sha1sum:
            return self.by_sha1(actor.mbox_sha1sum)
        if actor.account_name:
            return self.by_external.get(actor.account_name) or self.by_email.get(
                actor.account_name.lower()
            )
        return None

    def timezone(self, user_id: int) -> str:
        """The learner's timezone; :class:`UnknownReference` when they are not here."""
        learner = self.by_id.get(user_id)
        if learner is None:
            raise UnknownReference("learner", NO_LEARNER)
        return learner.timezone


@dataclass(frozen=True)
class IngestionLookup:
    """The learners and courses a request names and the organisation's context, as of the
    organisation's ``config_version``."""

    learners: LearnerDirectory
    courses: CourseDirectory
    context: OrgContext
    config_version: int
    snapshots: dict[int, StateSnapshot] | None = None  # the learners' states (not locked)
    competencies: frozenset[int] = frozenset()  # the named competencies that exist


def challenge_window_start(now: datetime) -> date:
    """Challenges ending before this UTC date can no longer count (every timezone's today is
    within a day of UTC's); the exact bound is applied in :func:`org_context_from_rows`."""
    return now.date() - timedelta(days=CHALLENGE_GRACE_DAYS + 1)


def org_context_from_rows(
    organisation_id: int,
    now: datetime,
    default_timezone: str,
    settings: dict[str, Any] | None,
    badge_rows: Sequence[Sequence[Any]] | None,
    challenge_rows: Sequence[Sequence[Any]] | None,
) -> OrgContext:
    """The :class:`OrgContext` from the organisation's row, its active badge rows
    ``(id, code, name, criterion, tiers)`` and its recent challenge rows
    ``(id, kind, team_id, ends_on, definition)``."""
    badges = badges_from_documents(
        organisation_id,
        [
            {"code": code, "name": name, "criterion": criterion, "tiers": tiers}
            for _id, code, name, criterion, tiers in sorted(badge_rows or [], key=lambda b: b[0])
        ],
    )
    today = local_day(now, default_timezone)
    oldest_end = date.fromordinal(today.toordinal() - CHALLENGE_GRACE_DAYS)
    individual: list[ChallengeDefinition] = []
    team_ids: set[int] = set()
    for _id, kind, team_id, ends_on, definition in sorted(challenge_rows or [], key=lambda c: c[0]):
        if date.fromisoformat(ends_on) < oldest_end:
            continue
        if kind == "individual":
            individual.append(ChallengeDefinition.from_dict(definition))
        elif kind == "team" and team_id is not None:
            team_ids.add(team_id)
    return OrgContext(
        default_timezone=default_timezone,
        rules=rules_from_settings(settings),
        badges=badges,
        individual_challenges=individual,
        team_challenge_team_ids=frozenset(team_ids),
    )


_decode = msgspec.json.Decoder().decode
_contexts: dict[tuple[Any, ...], OrgContext] = {}


def _cached_context(
    organisation_id: int,
    now: datetime,
    tz: str,
    settings: str | None,
    badges: str,
    challenges: str,
) -> OrgContext:
    """The organisation's context, built once per distinct content and local day (the rows
    are read on every request; only turning them into engine objects is cached)."""
    key = (organisation_id, local_day(now, tz), tz, settings, badges, challenges)
    context = _contexts.get(key)
    if context is None:
        if len(_contexts) >= 256:
            _contexts.clear()
        context = org_context_from_rows(
            organisation_id,
            now,
            tz,
            _decode(settings) if settings else None,
            _decode(badges),
            _decode(challenges),
        )
        _contexts[key] = context
    return context


async def load(
    engine: Any, organisation_id: int, keys: LookupKeys, now: datetime
) -> IngestionLookup:
    """What ``keys`` names, from ``engine``'s ingestion cache when it holds all of it, else
    read on a pooled connection (outside any transaction) and kept."""
    cache = cache_for(engine)
    if not (
        keys.everyone
        or keys.ids
        or keys.course_ids
        or keys.course_external_ids
        or keys.competency_ids
    ):
        hit = cached(cache, organisation_id, keys)
        if hit is not None:
            return hit
    return await on_pooled_connection(
        engine, lambda pg: read(pg, cache, organisation_id, keys, now)
    )


async def read(
    pg: Any, cache: IngestionCache | None, organisation_id: int, keys: LookupKeys, now: datetime
) -> IngestionLookup:
    """What ``keys`` names, read with one statement on the asyncpg connection ``pg``; kept in
    ``cache`` (None: read inside a caller's transaction, which may yet be rolled back) unless
    it read everyone."""
    row = await store.fetch_lookup(pg, organisation_id, challenge_window_start(now), keys)
    version, tz, settings, badges, challenges, learner_rows, course_rows, competencies = row
    context = _cached_context(organisation_id, now, tz, settings, badges, challenges)
    decoded_learners = _decode(learner_rows)
    learners = LearnerDirectory(
        Learner(uid, email, external, zone)
        for uid, email, external, zone, _v, _d in decoded_learners
    )
    # everyone (a SHA-1 actor) reads no states: the locking path reads only those it needs
    snapshots = (
        None
        if keys.everyone
        else {row[0]: StateSnapshot(row[4], row[5]) for row in decoded_learners}
    )
    decoded = _decode(course_rows)
    courses = CourseDirectory(
        [
            CourseInfo(cid, title, duration, hot, frozenset(links), season_days(seasons))
            for cid, title, duration, hot, _e, _a, links, seasons in decoded
        ],
        [(cid, external, activity) for cid, _t, _d, _h, external, activity, _l, _s in decoded],
    )
    if cache is not None and not keys.everyone:
        cache.remember_org(
            organisation_id,
            version,
            context,
            learners.users,
            {activity: courses.by_activity.get(activity) for activity in keys.activity_ids},
        )
    return IngestionLookup(
        learners, courses, context, version, snapshots, frozenset(_decode(competencies))
    )


def cached(cache: IngestionCache, organisation_id: int, keys: LookupKeys) -> IngestionLookup | None:
    """The lookup of ``keys``' e-mails, external ids and activities from memory, when every
    learner, course and state it names is there."""
    entry = cache.org(organisation_id)
    if entry is None:
        return None
    found: dict[int, Learner] = {}
    for email in keys.emails:
        learner = entry.learners_by_email.get(email.lower())
        if learner is None:
            return None
        found[learner.id] = learner
    for external in keys.external_ids:
        learner = entry.learners_by_external.get(external)
        if learner is not None:
            found[learner.id] = learner
        elif "@" not in external:  # one like an e-mail address was looked up with the e-mails
            return None
    courses: dict[int, CourseInfo] = {}
    course_keys: list[tuple[int, str | None, str | None]] = []
    for activity in keys.activity_ids:
        if activity not in entry.courses_by_activity:
            return None
        course = entry.courses_by_activity[activity]
        if course is not None:
            courses[course.id] = course
            course_keys.append((course.id, None, activity))
    snapshots: dict[int, StateSnapshot] = {}
    for user_id in found:
        state = cache.state(organisation_id, user_id)
        if state is None:
            return None
        snapshots[user_id] = StateSnapshot(state.version, None, state.state)
    return IngestionLookup(
        LearnerDirectory(found.values()),
        CourseDirectory(courses.values(), course_keys),
        entry.context,
        entry.config_version,
        snapshots,
    )
