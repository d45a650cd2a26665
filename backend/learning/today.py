"""What the Today screen needs, from the learner's kept state (no scan of events).

A Today read is what a nudge burst hits, so it is one statement (:data:`TODAY_SQL`: the
learner's user row, state, teams, newest badges, the sponsors of their teams' challenges and,
for the page, their recent learning, beside the organisation's ``config_version``) plus the
organisation's rules and challenges from the per-process cache
(``backend.learning.read_cache``), read afresh in a second statement when that number moved.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
from litestar.exceptions import NotFoundException
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import LearnerState, User
from backend.db.types import utcnow
from backend.insights.privacy import at_floor
from backend.learning.connections import on_pooled_connection
from backend.learning.history import with_tallies
from backend.learning.read_cache import CHALLENGE_MARGIN_DAYS, OrgParts, read_cache_for
from backend.learning.schemas import (
    BadgeSummary,
    ChallengeSummary,
    LevelOut,
    StreakOut,
    TodayOut,
    WeeklyGoalOut,
)
from backend.progress.services import learning_since_of
from backend.recommendations.loading import (
    LearnerRead,
    catalogue_cache_for,
    catalogue_for,
    learner_lateral,
    learner_since,
)
from backend.tenancy import held
from gamification import LearnerState as EngineState
from gamification import OrgRules, local_day, refresh
from gamification.goals import weekly_goal_progress

_decode = msgspec.json.Decoder().decode

# $1 organisation, $2 learner, $3 the first day a team challenge of theirs may still run on
# (its sponsor's name is read), $4 how many recent learning events (0: none), $5 since when;
# the three newest badges.
# A team's size is its counted members (active, not managing it), as
# backend.insights.privacy.team_sizes counts them for the floor.
TODAY_SQL = """
SELECT o.config_version, o.name, u.timezone, u.locale, u.onboarded_at IS NOT NULL,
       u.created_at, u.start_date,
       (SELECT s.data::text FROM learner_state s
         WHERE s.user_id = u.id AND s.organisation_id = o.id),
       ARRAY(SELECT ROW(t.id, t.name,
                        CASE WHEN EXISTS (SELECT 1 FROM challenge c
                                           WHERE c.organisation_id = o.id AND c.team_id = t.id
                                             AND c.kind = 'team' AND c.ends_on >= $3)
                        THEN (SELECT count(*) FROM team_membership n
                                JOIN user_account a ON a.id = n.user_id
                               WHERE n.organisation_id = o.id AND n.team_id = t.id
                                 AND n.is_manager IS FALSE AND a.is_active IS TRUE)
                        END)
               FROM team_membership m JOIN team t ON t.id = m.team_id
              WHERE m.user_id = u.id AND m.organisation_id = o.id),
       ARRAY(SELECT ROW(b.badge_code, b.tier, b.awarded_at, b.public_id, d.name, d.name_en)
               FROM (SELECT * FROM badge_award
                      WHERE user_id = u.id AND organisation_id = o.id
                      ORDER BY awarded_at DESC, id DESC LIMIT 3) b
               LEFT JOIN badge_definition d
                 ON d.code = b.badge_code AND d.organisation_id = b.organisation_id
              ORDER BY b.awarded_at DESC, b.id DESC),
       ARRAY(SELECT ROW(p.id, p.display_name) FROM user_account p
              WHERE p.id IN (SELECT c.sponsor_id FROM challenge c
                              JOIN team_membership m
                                ON m.team_id = c.team_id AND m.user_id = u.id
                             WHERE c.organisation_id = o.id AND c.kind = 'team'
                               AND c.ends_on >= $3)),
       ARRAY(SELECT ROW(e.title, e.minutes, e.kind, e.local_date) FROM learning_event e
              WHERE e.user_id = u.id AND e.organisation_id = o.id AND e.local_date >= $5
                AND NOT e.voided
              ORDER BY e.occurred_at DESC LIMIT $4)
FROM organisation o JOIN user_account u ON u.organisation_id = o.id AND u.id = $2
WHERE o.id = $1
"""
# the same with the recommendations' learner row last ($6: its budget look-back), so Today
# with its recommendations is one statement
TODAY_AND_LEARNER_SQL = TODAY_SQL.replace(
    "\nFROM organisation o JOIN user_account u ON u.organisation_id = o.id AND u.id = $2\n",
    ", learner.*\nFROM organisation o JOIN user_account u ON u.organisation_id = o.id AND u.id = $2\n"
    + learner_lateral("$2", "$1", "$6")
    + "\n",
    1,
)


@dataclass(frozen=True)
class RecentLearning:
    """A learning event as the Today page lists it."""

    title: str
    minutes: int
    kind: str
    local_date: date


@dataclass(frozen=True)
class TodayRead:
    """The Today screen (:class:`TodayOut`) and what only the page shows beside it."""

    today: TodayOut
    organisation_name: str
    onboarded: bool
    recent: list[RecentLearning]
    # with ``recommend``: what the recommendations need of the learner, read with the rest
    learner: LearnerRead | None = None


async def learner_document(session: AsyncSession, user: User) -> EngineState:
    row = held(session, LearnerState, user.id)
    if row is not None and row.organisation_id == user.organisation_id:
        return EngineState.from_dict(row.data)
    row = (
        await session.exec(
            select(LearnerState).where(
                LearnerState.user_id == user.id,
                LearnerState.organisation_id == user.organisation_id,
            )
        )
    ).first()
    return EngineState.from_dict(row.data if row else {})


async def read_today(
    session: AsyncSession,
    organisation_id: int,
    user_id: int,
    now: datetime | None = None,
    *,
    recent: int = 0,
    recent_since: date | None = None,
    recommend: bool = False,
) -> TodayRead:
    """The learner's Today at ``now``, with their ``recent`` newest learning events since
    ``recent_since`` (the page's list) and, with ``recommend``, what the recommendations
    read of the learner (:attr:`TodayRead.learner`, for ``recommendations_for``); 404 when
    the learner is not in the organisation."""
    now = now or utcnow()
    first_day = now.date() - timedelta(days=CHALLENGE_MARGIN_DAYS)
    engine = session.bind
    cache = read_cache_for(engine)
    args: tuple[Any, ...] = (organisation_id, user_id, first_day, recent, recent_since or date.min)

    async def read(
        pg: asyncpg.Connection,
    ) -> tuple[asyncpg.Record | None, OrgParts | None, LearnerRead | None]:
        if recommend:
            row = await pg.fetchrow(TODAY_AND_LEARNER_SQL, *args, learner_since(now))
        else:
            row = await pg.fetchrow(TODAY_SQL, *args)
        if row is None:
            return None, None, None
        parts = await cache.parts(pg, organisation_id, row[0], first_day)
        learner = None
        if recommend and row[12] is not None:  # the learner's timezone: never NULL
            mine = tuple(row[12:])
            catalogue = await catalogue_for(
                pg, organisation_id, mine, now, catalogue_cache_for(engine)
            )
            learner = LearnerRead(mine, catalogue, now)
        return row, parts, learner

    row, parts, learner = await on_pooled_connection(engine, read)
    if row is None or parts is None:
        raise NotFoundException(f"user {user_id} not found")
    (_, org_name, timezone, locale, onboarded, created_at, start_date) = row[:7]
    data, teams, badges, sponsors, events = row[7:12]
    rules = parts.rules(now)
    state = refresh(EngineState.from_dict(_decode(data) if data else {}), rules, now, timezone)
    today = local_day(now, timezone)
    team_names = {team_id: name for team_id, name, _ in teams}
    sizes = {team_id: size or 0 for team_id, _, size in teams}
    names = dict(sponsors)
    active = [
        c
        for c in parts.challenges
        if c.starts_on <= today <= c.ends_on and (c.kind == "individual" or c.team_id in team_names)
    ]
    definitions = [c.definition for c in active if c.definition is not None]
    if definitions:
        state = await with_tallies(session, organisation_id, user_id, state, challenges=definitions)
    challenges: list[ChallengeSummary] = []
    for c in active:
        if c.definition is not None:
            progress = state.challenge_progress(c.definition)
            challenges.append(
                ChallengeSummary(
                    id=c.id,
                    kind=c.kind,
                    title=c.title,
                    starts_on=c.starts_on,
                    ends_on=c.ends_on,
                    progress=progress.fraction,
                    completed=progress.completed,
                    my_count=progress.count,
                    target=progress.target,
                )
            )
        else:
            challenges.append(
                ChallengeSummary(
                    id=c.id,
                    kind=c.kind,
                    title=c.title,
                    starts_on=c.starts_on,
                    ends_on=c.ends_on,
                    # a team's figures only when it is at least the privacy floor's size
                    progress=c.progress
                    if at_floor(sizes.get(c.team_id or 0, 0), parts.floor)
                    else None,
                    completed=c.completed,
                    pledge=c.pledge,
                    sponsor=names.get(c.sponsor_id or 0),
                    team=team_names.get(c.team_id or 0),
                )
            )
    newest = [
        BadgeSummary(
            code=code,
            name=(name_en if locale == "en" and name_en else name) or code,
            tier=tier,
            awarded_at=awarded_at,
            public_id=public_id,
        )
        for code, tier, awarded_at, public_id, name, name_en in badges
    ]
    return TodayRead(
        today=_today_out(
            state,
            rules,
            now,
            timezone,
            learning_since_of(created_at, start_date, timezone),
            challenges,
            newest,
        ),
        organisation_name=org_name,
        onboarded=onboarded,
        recent=[RecentLearning(*event) for event in events],
        learner=learner,
    )


async def today_for(
    session: AsyncSession, organisation_id: int, user_id: int, now: datetime | None = None
) -> TodayOut:
    """What ``GET /api/v1/me/today`` answers (see :func:`read_today`)."""
    return (await read_today(session, organisation_id, user_id, now)).today


def _today_out(
    state: EngineState,
    rules: OrgRules,
    now: datetime,
    timezone: str,
    since: datetime,
    challenges: list[ChallengeSummary],
    newest_badges: list[BadgeSummary],
) -> TodayOut:
    today = local_day(now, timezone)
    level = rules.levels.progress(state.xp_total)
    minutes_by_day = state.minutes_by_day()
    goal = weekly_goal_progress(minutes_by_day, state.weekly_goal_minutes, now, timezone, since)
    streak = state.streak
    offer = streak.repair_offer
    return TodayOut(
        date=today,
        streak=StreakOut(
            mode=streak.mode.value,
            current=streak.current,
            longest=streak.longest,
            freezes_banked=streak.freezes_banked,
            at_risk=streak.at_risk,
            deadline=streak.deadline,
            paused_today=any(p.start <= today <= p.end for p in state.pauses),
            repair_extra_sessions=offer.extra_sessions_needed if offer else None,
            repair_by=offer.repair_by if offer else None,
        ),
        level=LevelOut(
            level=level.level,
            xp_total=state.xp_total,
            xp_into_level=level.xp_into_level,
            xp_to_next_level=level.xp_to_next_level,
            fraction=level.fraction,
        ),
        weekly_goal=WeeklyGoalOut(
            target_minutes=goal.target_minutes,
            minutes=goal.minutes,
            fraction=goal.fraction,
            pace=goal.pace.value,
        ),
        minutes_today=minutes_by_day.get(today, 0),
        challenges=challenges,
        newest_badges=newest_badges,
    )
