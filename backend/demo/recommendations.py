"""Demo data: eight weeks of courses recommended to the demo learners, so the insights page
shows how often recommended courses are started (``backend/insights/recommendations.py``).

Some recommendations were followed: shown a few days before a course the learner completed in
the seeded history; others were not: courses the learner never took. Each gets the reason the
ranking would most likely have given (a hot skill, a competency their job family is expected
to have, a course of another family, a short one, a free one, else colleagues' praise). Rows
are written as the recommendations service writes them: once per learner and course.
"""

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import Course, RecommendationShown
from backend.demo.job_families import EXPECTED
from gamification.recommend import RecommendationReason as Reason

WEEKS = 8
FOLLOWED = 0.3  # the share of recent completions that a recommendation came before
NOT_FOLLOWED = (2, 5)  # per learner, recommended courses they never started


def _reason(course: Course, keys: Sequence[str], family: str | None) -> Reason:
    if course.hot_skill:
        return Reason.HOT_SKILL
    if family and set(keys) & set(EXPECTED.get(family, ())):
        return Reason.EXPECTED_COMPETENCY
    if course.job_family and family and course.job_family != family:
        return Reason.HORIZONTAL
    if course.duration_minutes <= 20:
        return Reason.SHORT_FOR_STREAK
    if course.cost_cents == 0:
        return Reason.FITS_BUDGET
    return Reason.TEAM_PRAISED


def seed_recommendations(
    session: AsyncSession,
    organisation_id: int,
    learners: Sequence[tuple[int, str | None]],
    courses: Sequence[tuple[Course, Sequence[str]]],
    completions: Sequence[tuple[datetime, int, int]],
    now: datetime,
    rng: random.Random,
) -> None:
    """``learners``: (user id, job family) of those with history; ``completions``: (when,
    user id, course id) of the seeded history; all written before ``now``."""
    since = now - timedelta(weeks=WEEKS)
    by_id = {int(course.id or 0): (course, keys) for course, keys in courses}
    family_of = dict(learners)
    seen: set[tuple[int, int]] = set()
    done = {(user, course) for _, user, course in completions}
    rows: list[RecommendationShown] = []

    def add(user: int, course_id: int, at: datetime) -> None:
        course, keys = by_id[course_id]
        seen.add((user, course_id))
        rows.append(
            RecommendationShown(
                organisation_id=organisation_id,
                user_id=user,
                course_id=course_id,
                reason=_reason(course, keys, family_of.get(user)).value,
                shown_at=at,
            )
        )

    for occurred, user, course_id in sorted(completions):
        shown = occurred - timedelta(hours=rng.randint(12, 120))
        if shown >= since and (user, course_id) not in seen and rng.random() < FOLLOWED:
            add(user, course_id, shown)
    span = int((now - since).total_seconds())
    for user, _family in learners:
        untaken = [c for c in sorted(by_id) if (user, c) not in done and (user, c) not in seen]
        for course_id in rng.sample(untaken, min(len(untaken), rng.randint(*NOT_FOLLOWED))):
            add(user, course_id, since + timedelta(seconds=rng.randrange(span)))
    session.add_all(rows)
