"""A learner's recommended next courses: load (at most two statements) -> rank (pure) ->
record.

Every caller (the API, the Today page and its JSON, the catalogue's "For you" order) gets
its list from :func:`ranked_for` / :func:`recommendations_for`, the "your next step" nudge
from :func:`next_steps` (the same loading and ranking); "not for me" is :func:`dismiss`.
The first time a course is shown to a learner is recorded once, with its reason
(``recommendation_shown``: insights count how many of those were started).
"""

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

import asyncpg
from litestar.exceptions import NotFoundException
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import Course, RecommendationDismissal, RecommendationShown
from backend.db.types import utcnow
from backend.recommendations.loading import (
    CatalogueCache,
    LearnerRead,
    RankingInput,
    catalogue_cache_for,
    driver_of,
    inputs_from,
    load_inputs,
)
from backend.recommendations.schemas import DismissalOut, RecommendationOut
from backend.recommendations.texts import reason_line
from backend.tenancy import OrgScope
from gamification.recommend import Recommendation, RecommendationReason, rank

TODAY_COUNT = 3

# one statement for every course shown; the first showing of each wins
SHOWN_SQL = """
INSERT INTO recommendation_shown (user_id, course_id, organisation_id, reason, shown_at)
SELECT $1, v.course_id, $2, v.reason, $5
FROM unnest($3::int[], $4::varchar[]) AS v(course_id, reason)
ON CONFLICT (user_id, course_id) DO NOTHING
"""

# "not for me" with the reason the course is recommended for now; a second time keeps the first
DISMISS_SQL = """
INSERT INTO recommendation_dismissal (user_id, course_id, organisation_id, reason, dismissed_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (user_id, course_id) DO NOTHING
"""


def to_out(rec: Recommendation, locale: str) -> RecommendationOut:
    """The API's (and the pages') form of a recommendation."""
    return RecommendationOut(
        course_id=rec.course_id,
        title=rec.title,
        reason=rec.reason.value,
        reason_text=reason_line(rec, locale),
        duration_minutes=rec.duration_minutes,
        cost_cents=rec.cost_cents,
        url=f"/catalogue/{rec.course_id}",
    )


class Ranking(NamedTuple):
    """A learner's recommendations, best first, their language and the courses shown to
    them before."""

    recommendations: list[Recommendation]
    locale: str
    shown_before: frozenset[int]


async def ranked_for(
    session: AsyncSession,
    organisation_id: int,
    user_id: int,
    now: datetime,
    *,
    streak_at_risk: bool | None = None,
) -> Ranking:
    """Every course recommended to the learner at ``now`` (nothing recorded). 404 when the
    learner is not in the organisation."""
    loaded = await load_inputs(
        await driver_of(session),
        organisation_id,
        user_id,
        now,
        streak_at_risk=streak_at_risk,
        cache=catalogue_cache_for(session.bind),
    )
    if loaded is None:
        raise NotFoundException(f"user {user_id} not found")
    return _ranking(loaded)


def _ranking(loaded: RankingInput) -> Ranking:
    ranked = rank(loaded.courses, loaded.context, loaded.today)
    return Ranking(ranked, loaded.locale, loaded.shown_before)


async def recommendations_for(
    session: AsyncSession,
    organisation_id: int,
    user_id: int,
    *,
    limit: int = TODAY_COUNT,
    now: datetime | None = None,
    streak_at_risk: bool | None = None,
    locale: str | None = None,
    learner: LearnerRead | None = None,
) -> list[RecommendationOut]:
    """The first ``limit`` recommendations for the learner, each with its reason in
    ``locale`` (default: the learner's language), recorded as shown (they are what the
    learner is about to see). ``learner``: what Today's statement read of the learner for
    them (``read_today(..., recommend=True)``), so nothing more is read."""
    if learner is None:
        now = now or utcnow()
        ranking = await ranked_for(
            session, organisation_id, user_id, now, streak_at_risk=streak_at_risk
        )
    else:
        now = now or learner.now
        ranking = _ranking(
            inputs_from(learner.row, learner.catalogue, learner.now, streak_at_risk=streak_at_risk)
        )
    shown = ranking.recommendations[:limit]
    await record_shown(session, organisation_id, user_id, shown, now, ranking.shown_before)
    return [to_out(rec, locale or ranking.locale) for rec in shown]


async def record_shown(
    session: AsyncSession,
    organisation_id: int,
    user_id: int,
    shown: list[Recommendation],
    now: datetime,
    shown_before: Collection[int] = (),
) -> None:
    """Record the first showing of each of these courses to the learner (once per course;
    nothing to do, no statement, when ``shown_before`` holds them all)."""
    shown = [rec for rec in shown if rec.course_id not in shown_before]
    if not shown:
        return
    pg = await driver_of(session)
    await pg.execute(
        SHOWN_SQL,
        user_id,
        organisation_id,
        [rec.course_id for rec in shown],
        [rec.reason.value for rec in shown],
        now,
    )
    await session.commit()


async def dismiss(org: OrgScope, course_id: int, now: datetime | None = None) -> DismissalOut:
    """ "Not for me": ``course_id`` is never recommended to the caller again, and the reason
    it is recommended for weighs a little less for them from now on. Idempotent: a second
    dismissal keeps the first. 404 for a course outside the caller's organisation."""
    now = now or utcnow()
    await org.get(Course, course_id, what="course")
    user_id = org.principal.user_id
    assert user_id is not None
    earlier = await org.session.get(RecommendationDismissal, (user_id, course_id))
    if earlier is not None:
        return DismissalOut(course_id=course_id, reason=_reason_or_none(earlier.reason))
    ranking = await ranked_for(org.session, org.organisation_id, user_id, now)
    reason = next(
        (r.reason.value for r in ranking.recommendations if r.course_id == course_id), None
    )
    if reason is None:
        # not among the recommendations now: the reason it was shown for, if it ever was
        shown = await org.session.get(RecommendationShown, (user_id, course_id))
        reason = shown.reason if shown is not None else ""
    await (await driver_of(org.session)).execute(
        DISMISS_SQL, user_id, course_id, org.organisation_id, reason, now
    )
    await org.session.commit()
    return DismissalOut(course_id=course_id, reason=_reason_or_none(reason))


def _reason_or_none(value: str) -> RecommendationReason | None:
    """A stored reason ('' when the course was dismissed without being recommended)."""
    return RecommendationReason(value) if value in set(RecommendationReason) else None


async def next_steps(
    pg: asyncpg.Connection,
    learners: Mapping[int, int],
    now: datetime,
    cache: CatalogueCache | None = None,
) -> dict[int, RecommendationOut]:
    """Each learner's (learner id -> organisation id) top recommendation with its reason in
    their language, for the "your next step" nudge (none for a learner with nothing to
    recommend). Recorded as shown only once a nudge goes out (:func:`record_pushed`)."""
    found: dict[int, RecommendationOut] = {}
    for user_id, organisation_id in sorted(learners.items()):
        loaded = await load_inputs(
            pg, organisation_id, user_id, now, streak_at_risk=False, cache=cache
        )
        if loaded is None:
            continue
        top = rank(loaded.courses, loaded.context, loaded.today, limit=1)
        if top:
            found[user_id] = to_out(top[0], loaded.locale)
    return found


# the "your next step" nudges a tick created, one statement per batch
PUSHED_SQL = """
INSERT INTO recommendation_shown (user_id, course_id, organisation_id, reason, shown_at)
SELECT v.user_id, v.course_id, v.organisation_id, v.reason, $5
FROM unnest($1::int[], $2::int[], $3::int[], $4::varchar[])
     AS v(user_id, course_id, organisation_id, reason)
ON CONFLICT (user_id, course_id) DO NOTHING
"""


async def record_pushed(
    pg: asyncpg.Connection, sent: Sequence[tuple[int, int, RecommendationOut]], now: datetime
) -> None:
    """Record the recommendations a tick pushed as "your next step" (learner, organisation,
    recommendation) as shown, once per course, in the tick's transaction."""
    await pg.execute(
        PUSHED_SQL,
        [user_id for user_id, _, _ in sent],
        [rec.course_id for _, _, rec in sent],
        [org_id for _, org_id, _ in sent],
        [rec.reason for _, _, rec in sent],
        now,
    )
