"""What the recommendations read: two statements on the raw asyncpg connection.

:func:`load_inputs` is the one place that loads the ranking's input, from ids alone (so a
caller that reads raw, like Today, needs no ORM rows). The learner's half
(:data:`LEARNER_SQL`) is one row: their own columns and their organisation's settings, their
state, finished and started courses, the competencies their job family expects that they
have not learned in, what colleagues in their teams finished and praised, their dismissals
and their approved budget requests, beside the organisation's ``config_version``. The
organisation's half (:data:`CATALOGUE_SQL`: its courses with their competencies and
hot-skill flag on the learner's day) comes from :class:`CatalogueCache` while that number
and day are the ones it was read for, else from a second statement.
"""

import json
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.budgets.services import budget_year
from backend.learning.rules import rules_from_settings
from backend.organisations.settings import settings_from_document
from gamification import LearnerState as EngineState
from gamification import local_day, refresh
from gamification.recommend import CandidateCourse, LearnerContext, OpenGoal, RecommendationReason

# a course is hot today by its own flag or a season naming it or one of its competencies
# (the rule of backend.catalogue.services.hot_on); everything here bumps the organisation's
# config_version when it changes (courses, their competencies, seasons: migrations 0008 and
# 0013), so a process may keep the answer (CatalogueCache); competency names do not, and
# come with the learner
CATALOGUE_SQL = """
SELECT k.id, k.title, k.duration_minutes, k.cost_cents, k.job_family,
       k.hot_skill OR EXISTS (
           SELECT 1 FROM hot_skill_season s
           WHERE s.organisation_id = k.organisation_id AND s.starts_on <= $2
             AND s.ends_on >= $2
             AND (k.id = ANY(s.course_ids) OR s.competency_ids && c.ids)
       ),
       c.ids
FROM course k
CROSS JOIN LATERAL (
    SELECT ARRAY(SELECT cc.competency_id FROM course_competency cc
                 WHERE cc.course_id = k.id ORDER BY cc.competency_id) AS ids
) c
WHERE k.organisation_id = $1 AND k.archived_at IS NULL
ORDER BY k.id
"""
CatalogueRow = tuple[int, str, int, int, str | None, bool, list[int]]

# $1 learner, $2 organisation, $3 the earliest instant a budget year holding today can start
# (approved requests since then come back; the service keeps those of the budget year)
LEARNER_SQL = """
WITH me AS (
    SELECT u.id, u.timezone, u.locale, u.job_family, u.yearly_budget_cents,
           o.default_timezone, o.settings::text AS settings, o.config_version,
           coalesce((o.settings ->> 'testimonials_need_approval')::boolean, false) AS approval
    FROM user_account u
    JOIN organisation o ON o.id = u.organisation_id
    WHERE u.id = $1 AND u.organisation_id = $2
), mates AS (
    SELECT DISTINCT m2.user_id
    FROM team_membership m1
    JOIN team_membership m2 ON m2.team_id = m1.team_id AND m2.user_id <> m1.user_id
    WHERE m1.user_id = $1 AND m1.organisation_id = $2
), mine AS (
    SELECT e.kind, e.course_id, e.competency_id
    FROM learning_event e
    WHERE e.user_id = $1 AND e.organisation_id = $2 AND e.kind <> 'testimonial'
      AND NOT e.voided  -- a voided statement finished or started nothing
), mates_finished AS (
    SELECT DISTINCT e.user_id, e.course_id
    FROM learning_event e
    JOIN mates ON mates.user_id = e.user_id
    WHERE e.kind = 'completion' AND e.course_id IS NOT NULL AND NOT e.voided
)
SELECT
    me.timezone, me.locale, me.job_family, me.yearly_budget_cents, me.default_timezone,
    me.settings, me.config_version,
    ARRAY(SELECT c.id FROM competency c WHERE c.organisation_id = $2 ORDER BY c.id),
    ARRAY(SELECT c.name FROM competency c WHERE c.organisation_id = $2 ORDER BY c.id),
    (SELECT s.data::text FROM learner_state s WHERE s.user_id = $1 AND s.organisation_id = $2),
    (SELECT s.last_active_date FROM learner_state s
     WHERE s.user_id = $1 AND s.organisation_id = $2),
    ARRAY(SELECT DISTINCT course_id FROM mine
          WHERE kind = 'completion' AND course_id IS NOT NULL),
    ARRAY(SELECT DISTINCT course_id FROM mine WHERE course_id IS NOT NULL),
    ARRAY(SELECT j.competency_id FROM job_family_competency j
          WHERE j.organisation_id = $2 AND j.job_family = me.job_family
          EXCEPT SELECT competency_id FROM mine WHERE competency_id IS NOT NULL
          EXCEPT SELECT cc.competency_id FROM mine
                 JOIN course_competency cc ON cc.course_id = mine.course_id),
    ARRAY(SELECT t.course_id FROM testimonial t
          JOIN mates ON mates.user_id = t.user_id
          WHERE t.organisation_id = $2
            AND (t.status = 'approved' OR (t.status = 'pending' AND NOT me.approval))),
    ARRAY(SELECT course_id FROM mates_finished),
    ARRAY(SELECT d.course_id FROM recommendation_dismissal d WHERE d.user_id = $1
          ORDER BY d.course_id),
    ARRAY(SELECT d.reason FROM recommendation_dismissal d WHERE d.user_id = $1
          ORDER BY d.course_id),
    ARRAY(SELECT w.course_id FROM recommendation_shown w WHERE w.user_id = $1),
    ARRAY(SELECT r.created_at FROM training_request r
          WHERE r.user_id = $1 AND r.status = 'approved' AND r.created_at >= $3
          ORDER BY r.id),
    ARRAY(SELECT r.cost_cents FROM training_request r
          WHERE r.user_id = $1 AND r.status = 'approved' AND r.created_at >= $3
          ORDER BY r.id)
FROM me
"""
LEARNER_COLUMNS = 21
# a budget year is at most a year long: requests older than this never count
_BUDGET_LOOKBACK = timedelta(days=367)


@dataclass(frozen=True)
class RankingInput:
    """Everything :func:`gamification.recommend.rank` needs for one learner, and the
    learner's language (for the reason lines)."""

    courses: list[CandidateCourse]
    context: LearnerContext
    today: date
    locale: str
    # courses shown to the learner before (recommendation_shown): not recorded again
    shown_before: frozenset[int] = frozenset()


async def driver_of(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under ``session`` (inside its transaction, if one began)."""
    conn = await session.connection()
    driver: asyncpg.Connection = (await conn.get_raw_connection()).driver_connection
    return driver


async def load_inputs(
    pg: asyncpg.Connection,
    organisation_id: int,
    user_id: int,
    now: datetime,
    *,
    streak_at_risk: bool | None = None,
    cache: "CatalogueCache | None" = None,
) -> RankingInput | None:
    """The ranking's input for the learner at ``now`` in two statements (the learner with
    their organisation's settings, then the organisation's catalogue); None when the learner
    is not in the organisation. ``streak_at_risk``: the engine's ``StreakStatus.at_risk``
    when the caller already has it (Today), else worked out from the learner's kept state;
    it counts for the ranking only while the learner has not learned today. With a
    ``cache``, the catalogue statement runs only when the organisation's config_version or
    the learner's day is new to it."""
    row = await pg.fetchrow(LEARNER_SQL, user_id, organisation_id, learner_since(now))
    if row is None:
        return None
    catalogue = await catalogue_for(pg, organisation_id, row, now, cache)
    return inputs_from(row, catalogue, now, streak_at_risk=streak_at_risk)


def learner_lateral(user: str, organisation: str, since: str) -> str:
    """:data:`LEARNER_SQL` as a ``LEFT JOIN LATERAL`` of another statement (Today's), its
    parameters ``$1``, ``$2``, ``$3`` renamed to ``user``, ``organisation``, ``since``: its
    :data:`LEARNER_COLUMNS` columns come last in that statement's row."""
    names = {"1": user, "2": organisation, "3": since}
    sql = re.sub(r"\$([123])\b", lambda m: names[m.group(1)], LEARNER_SQL).strip()
    aliases = ", ".join(f"learner_{i}" for i in range(LEARNER_COLUMNS))
    return f"LEFT JOIN LATERAL (\n{sql}\n) AS learner({aliases}) ON TRUE"


def learner_since(now: datetime) -> datetime:
    """The :data:`LEARNER_SQL` parameter ``$3`` for ``now``."""
    return now - _BUDGET_LOOKBACK


@dataclass(frozen=True)
class LearnerRead:
    """:data:`LEARNER_SQL`'s row as another statement read it at ``now`` (Today's, through
    :func:`learner_subquery`), and the catalogue for the learner's day."""

    row: Sequence[Any]
    catalogue: list[CatalogueRow]
    now: datetime


async def catalogue_for(
    pg: asyncpg.Connection,
    organisation_id: int,
    row: Sequence[Any],
    now: datetime,
    cache: "CatalogueCache | None" = None,
) -> list[CatalogueRow]:
    """The catalogue on the local day at ``now`` of the learner :data:`LEARNER_SQL` read in
    ``row``: from ``cache`` while the organisation's config_version is the one it holds."""
    timezone, config_version = row[0], row[6]
    today = local_day(now, timezone)
    if cache is None:
        return await read_catalogue(pg, organisation_id, today)
    return await cache.rows(pg, organisation_id, config_version, today)


def inputs_from(
    row: Sequence[Any],
    catalogue: list[CatalogueRow],
    now: datetime,
    *,
    streak_at_risk: bool | None = None,
) -> RankingInput:
    """The ranking's input from :data:`LEARNER_SQL`'s ``row`` and the catalogue (see
    :func:`load_inputs`)."""
    (
        timezone,
        locale,
        job_family,
        own_budget,
        org_zone,
        settings_json,
        _config_version,
        competency_ids,
        competency_names,
        state_json,
        last_active,
        finished,
        started,
        expected,
        praised_ids,
        finished_by_mates,
        dismissed_ids,
        dismissed_reasons,
        shown_before,
        approved_at,
        approved_cents,
    ) = row
    today = local_day(now, timezone)
    document: dict[str, Any] = json.loads(settings_json) if settings_json else {}
    settings = settings_from_document(document)
    names = dict(zip(competency_ids, competency_names, strict=True))
    state: dict[str, Any] = json.loads(state_json) if state_json else {}
    if streak_at_risk is None:
        rules = rules_from_settings(document, now)
        refreshed = refresh(EngineState.from_dict(state), rules, now, timezone)
        streak_at_risk = refreshed.streak.at_risk
    # a streak is at risk *today* only until the learner learned today
    at_risk_today = bool(streak_at_risk) and last_active != today
    praise = _counts(praised_ids)
    mates_done = _counts(finished_by_mates)
    courses = [
        CandidateCourse(
            course_id=course_id,
            title=title,
            duration_minutes=minutes,
            cost_cents=cost,
            competency_names={cid: names[cid] for cid in comp_ids if cid in names},
            hot_skill=hot,
            job_family=family,
            team_praise=praise.get(course_id, 0),
            team_finished=mates_done.get(course_id, 0),
        )
        for course_id, title, minutes, cost, family, hot, comp_ids in catalogue
    ]
    dismissed: dict[int, RecommendationReason] = {}
    for course_id, reason in zip(dismissed_ids, dismissed_reasons, strict=True):
        if reason in RecommendationReason.__members__.values():
            dismissed[course_id] = RecommendationReason(reason)
    # the budget year and what counts in it, as backend.budgets.services has them
    zone = org_zone if _known_zone(org_zone) else "UTC"
    year = budget_year(local_day(now, zone), settings.budget_year_start_month)
    start, end = year.bounds(zone)
    spent = sum(c for at, c in zip(approved_at, approved_cents, strict=True) if start <= at < end)
    yearly = settings.yearly_budget_cents if own_budget is None else own_budget
    context = LearnerContext(
        job_family=job_family,
        finished_course_ids=frozenset(finished),
        started_course_ids=frozenset(started) - frozenset(finished),
        open_goals=_open_goals(state.get("dated_goals"), today),
        expected_competency_ids=frozenset(expected),
        remaining_budget_cents=max(0, yearly - spent),
        streak_at_risk=at_risk_today,
        dismissed=dismissed,
    )
    return RankingInput(courses, context, today, locale, frozenset(shown_before))


async def read_catalogue(
    pg: asyncpg.Connection, organisation_id: int, day: date
) -> list[CatalogueRow]:
    """The organisation's courses as the ranking reads them on local ``day``."""
    return [tuple(row) for row in await pg.fetch(CATALOGUE_SQL, organisation_id, day)]


class CatalogueCache:
    """Per process and engine: each organisation's :func:`read_catalogue` answer, stamped
    with the ``config_version`` and day it holds for (a read that sees another number or day
    reads afresh). At most :data:`MAX_ORGS` organisations (then emptied), two days each
    (learners in timezones either side of midnight)."""

    MAX_ORGS = 256

    def __init__(self) -> None:
        self._kept: dict[int, dict[date, tuple[int, list[CatalogueRow]]]] = {}

    async def rows(
        self, pg: asyncpg.Connection, organisation_id: int, version: int, day: date
    ) -> list[CatalogueRow]:
        """The catalogue for ``day``, from the cache while ``version`` is current."""
        days = self._kept.get(organisation_id)
        if days is not None:
            kept = days.get(day)
            if kept is not None and kept[0] == version:
                return kept[1]
        # read after the version was: at least as new as the number it is stamped with
        rows = await read_catalogue(pg, organisation_id, day)
        if days is None:
            if len(self._kept) >= self.MAX_ORGS:
                self._kept.clear()
            days = self._kept[organisation_id] = {}
        if day not in days and len(days) >= 2:
            days.pop(min(days))
        days[day] = (version, rows)
        return rows


_caches: "weakref.WeakKeyDictionary[Any, CatalogueCache]" = weakref.WeakKeyDictionary()


def catalogue_cache_for(engine: Any) -> CatalogueCache:
    """The catalogue cache of one database engine (an ``AsyncEngine``: tests run many)."""
    key = getattr(engine, "sync_engine", engine)
    cache = _caches.get(key)
    if cache is None:
        cache = _caches[key] = CatalogueCache()
    return cache


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ValueError, KeyError):
        return False
    return True


def _counts(ids: list[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for course_id in ids:
        counts[course_id] = counts.get(course_id, 0) + 1
    return counts


def _open_goals(goals: Any, today: date) -> tuple[OpenGoal, ...]:
    """The learner's dated goals still running (a finished course drops out by itself)."""
    if not isinstance(goals, list):
        return ()
    found: list[OpenGoal] = []
    for goal in goals:
        if not isinstance(goal, dict):
            continue
        try:
            due_on = date.fromisoformat(str(goal.get("due_on")))
        except ValueError:
            continue
        if due_on < today:
            continue
        course_ids = {int(c) for c in goal.get("course_ids") or [] if isinstance(c, int)}
        if isinstance(goal.get("course_id"), int):
            course_ids.add(goal["course_id"])
        competency = goal.get("competency_id")
        found.append(
            OpenGoal(
                due_on=due_on,
                course_ids=frozenset(course_ids),
                competency_id=competency if isinstance(competency, int) else None,
            )
        )
    return tuple(found)
