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
import logging
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
from gamification import BadgeDefinition, ChallengeDefinition, OrgRules

log = logging.getLogger("learnloop.badges")

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


BADGES_SQL = """
SELECT o.config_version,
       (SELECT json_agg(json_build_array(d.id, d.code, d.name, d.name_en, d.description,
                                         d.description_en, d.criterion, d.tiers,
                                         d.competency_id, d.is_active)
                        ORDER BY d.id)::text
          FROM badge_definition d WHERE d.organisation_id = o.id)
FROM organisation o WHERE o.id = $1
"""


@dataclass(frozen=True)
class KeptBadge:
    """A badge definition the engine can read, as the badge wall shows it."""

    id: int
    code: str
    name: str
    name_en: str
    description: str
    description_en: str
    competency_id: int | None
    is_active: bool
    definition: BadgeDefinition


@dataclass(frozen=True)
class OrgBadges:
    """One organisation's readable badge definitions (by id) as read at ``config_version``,
    and every competency they name (a badge's own and its criterion's)."""

    config_version: int
    badges: tuple[KeptBadge, ...]
    competency_ids: tuple[int, ...]


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
        self.badge_sets: dict[int, OrgBadges] = {}

    async def badges(
        self, pg: asyncpg.Connection, organisation_id: int, config_version: int
    ) -> OrgBadges:
        """The badge definitions at ``config_version`` (the number the caller's own statement
        just read), kept or read now. A definition the engine cannot read is left out (as
        ``backend.badges.services.readable`` does)."""
        kept = self.badge_sets.get(organisation_id)
        if kept is not None and kept.config_version == config_version:
            return kept
        row = await pg.fetchrow(BADGES_SQL, organisation_id)
        assert row is not None, "the caller read this organisation"
        version, badges_json = row
        badges = []
        for item in json.loads(badges_json or "[]"):
            id_, code, name, name_en, description, description_en, criterion, tiers = item[:8]
            competency_id, is_active = item[8:]
            try:
                definition = BadgeDefinition.from_dict(
                    {"code": code, "name": name, "criterion": criterion, "tiers": tiers}
                )
            except (ValueError, KeyError, TypeError):
                log.warning("badge %r of organisation %s is unreadable", code, organisation_id)
                continue
            badges.append(
                KeptBadge(
                    id=id_,
                    code=code,
                    name=name,
                    name_en=name_en,
                    description=description,
                    description_en=description_en,
                    competency_id=competency_id,
                    is_active=is_active,
                    definition=definition,
                )
            )
        ids = {b.competency_id for b in badges} | {
            b.definition.criterion.competency_id for b in badges
        }
        parts = OrgBadges(
            config_version=version,
            badges=tuple(badges),
            competency_ids=tuple(sorted(i for i in ids if i is not None)),
        )
        if len(self.badge_sets) >= MAX_ORGS:
            self.badge_sets.clear()
        self.badge_sets[organisation_id] = parts
        return parts

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
