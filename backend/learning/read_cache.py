"""What the learner's reads keep of an organisation between requests: :class:`OrgReadCache`.

Today, Progress and the catalogue are what a nudge burst hits: thousands of phones opening
the app within a minute. Each of them needs the same organisation-level parts (the game
settings and the rules built from them, the challenges) for every learner; reading and
building those per request was most of a Today request's time. So one process keeps them,
stamped with the organisation's ``config_version``: database triggers bump that number
whenever a setting, a challenge (its progress too), a badge definition, a course or a
learner's timezone or active flag changes (migrations 0008, 0013, 0015; the ingestion cache,
``backend.learning.ingest_cache``, relies on the same number). Every read reads the number in
its own statement, beside the learner's rows, and uses the kept parts only when they carry
it; otherwise one more statement reads them afresh. So the kept parts are never stale by
more than the read itself. What the triggers do not cover (team names and sizes, people's
names, a learner's own rows) is read with the learner, never kept.

One cache per database engine (tests run many databases in one process), at most
:data:`MAX_ORGS` organisations (then emptied).
"""

import json
import weakref
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from pydantic import ValidationError

from backend.db.types import utcnow
from backend.insights.privacy import floor_of_settings
from backend.learning.rules import rules_from_settings
from backend.organisations.settings import settings_from_document
from gamification import ChallengeDefinition, OrgRules

MAX_ORGS = 256
# challenges that ended before this many days ago (UTC) are not kept: no learner's today
# can fall in them again (every timezone's today is within a day of UTC's)
CHALLENGE_MARGIN_DAYS = 2

ORG_PARTS_SQL = """
SELECT o.config_version, o.settings::text,
       (SELECT json_agg(json_build_array(c.id, c.kind, c.title, c.starts_on, c.ends_on,
                                         c.definition, c.team_id, c.sponsor_id, c.pledge,
                                         c.progress, c.completed_at IS NOT NULL)
                        ORDER BY c.ends_on, c.id)::text
          FROM challenge c WHERE c.organisation_id = o.id AND c.ends_on >= $2)
FROM organisation o WHERE o.id = $1
"""


@dataclass(frozen=True)
class KeptChallenge:
    """A challenge as the learner's reads show it (an individual one with its engine
    definition)."""

    id: int
    kind: str
    title: str
    starts_on: date
    ends_on: date
    definition: ChallengeDefinition | None
    team_id: int | None
    sponsor_id: int | None
    pledge: str
    progress: float
    completed: bool


@dataclass
class OrgParts:
    """One organisation's parts as read at ``config_version``."""

    config_version: int
    settings: dict[str, Any]
    floor: int  # the privacy floor: the smallest group a figure may be about
    challenges: tuple[KeptChallenge, ...]  # ending on or after ``since``, by (ends_on, id)
    since: date
    _rules: list[tuple[datetime | None, datetime | None, OrgRules]] = field(default_factory=list)

    def rules(self, now: datetime) -> OrgRules:
        """The game rules in force at ``now`` (``backend.learning.rules.rules_from_settings``),
        built once per version of the rules."""
        for start, until, rules in self._rules:
            if (start is None or now >= start) and (until is None or now < until):
                return rules
        start, until = _rules_period(self.settings, now)
        rules = rules_from_settings(self.settings, now)
        self._rules.append((start, until, rules))
        return rules


def _rules_period(
    settings: dict[str, Any], now: datetime
) -> tuple[datetime | None, datetime | None]:
    """The moments between which the game rules in force at ``now`` stay in force."""
    try:
        parsed = settings_from_document(settings)
    except ValidationError:
        return None, None  # the defaults, always
    changes = sorted(version.until for version in parsed.game_rules_history)
    start = max((c for c in changes if c <= now), default=None)
    until = min((c for c in changes if c > now), default=None)
    return start, until


class OrgReadCache:
    """Organisations' parts, by id (see the module docstring for why that is safe)."""

    def __init__(self) -> None:
        self.orgs: dict[int, OrgParts] = {}

    async def parts(
        self, pg: asyncpg.Connection, organisation_id: int, config_version: int, today: date
    ) -> OrgParts:
        """The parts at ``config_version`` (the number the caller's own statement just read),
        kept or read now; ``today``: the earliest day the caller looks at challenges."""
        kept = self.orgs.get(organisation_id)
        if kept is not None and kept.config_version == config_version and kept.since <= today:
            return kept
        since = min(utcnow().date() - timedelta(days=CHALLENGE_MARGIN_DAYS), today)
        row = await pg.fetchrow(ORG_PARTS_SQL, organisation_id, since)
        assert row is not None, "the caller read this organisation"
        version, settings_text, challenges_json = row
        settings = json.loads(settings_text) if settings_text else {}
        parts = OrgParts(
            config_version=version,
            settings=settings,
            floor=floor_of_settings(settings),
            challenges=tuple(_challenge(c) for c in json.loads(challenges_json or "[]")),
            since=since,
        )
        if len(self.orgs) >= MAX_ORGS:
            self.orgs.clear()
        self.orgs[organisation_id] = parts
        return parts


def _challenge(row: list[Any]) -> KeptChallenge:
    id_, kind, title, starts_on, ends_on, definition, team_id, sponsor_id, pledge = row[:9]
    progress, completed = row[9:]
    return KeptChallenge(
        id=id_,
        kind=kind,
        title=title,
        starts_on=date.fromisoformat(starts_on),
        ends_on=date.fromisoformat(ends_on),
        definition=ChallengeDefinition.from_dict(definition) if kind == "individual" else None,
        team_id=team_id,
        sponsor_id=sponsor_id,
        pledge=pledge,
        progress=progress,
        completed=completed,
    )


_caches: "weakref.WeakKeyDictionary[Any, OrgReadCache]" = weakref.WeakKeyDictionary()


def read_cache_for(engine: Any) -> OrgReadCache:
    """The cache of one database engine (an ``AsyncEngine``)."""
    key = getattr(engine, "sync_engine", engine)
    cache = _caches.get(key)
    if cache is None:
        cache = _caches[key] = OrgReadCache()
    return cache
