"""Demo data: a few colleagues of the demo learner say what they thought of a course the
demo learner has not taken yet, so Today's next steps can say "2 collega's uit je team
raden het aan" and the course page shows their words.

Rows as ``catalogue.testimonials`` keeps them, approved, a day after each colleague
finished the course (never after ``not_after``); like the rest of the seeded history they
earn no XP of their own.
"""

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import LearningEvent, TeamMembership, Testimonial

# what colleagues write, in turn (the demo is Dutch)
WORDS = (
    "Heel praktisch: ik gebruik het elke dag.",
    "Aanrader! Korte stukken, meteen toe te passen.",
    "Had ik eerder moeten doen. Neem er rustig de tijd voor.",
)
COURSES = 2  # courses praised
PER_COURSE = 2  # colleagues praising each


async def seed_team_praise(
    session: AsyncSession, organisation_id: int, learner_id: int, not_after: datetime
) -> None:
    """Colleagues in ``learner_id``'s teams praise the courses most of them finished that
    the learner has not (deterministic: by how many finished it, then course id)."""
    teams = select(TeamMembership.team_id).where(TeamMembership.user_id == learner_id)
    mates = select(TeamMembership.user_id).where(
        col(TeamMembership.team_id).in_(teams), TeamMembership.user_id != learner_id
    )
    done_by_learner = select(LearningEvent.course_id).where(
        LearningEvent.user_id == learner_id,
        LearningEvent.kind == "completion",
        col(LearningEvent.course_id).is_not(None),
    )
    rows = (
        await session.exec(
            select(LearningEvent.course_id, LearningEvent.user_id, LearningEvent.occurred_at)
            .where(
                LearningEvent.organisation_id == organisation_id,
                LearningEvent.kind == "completion",
                col(LearningEvent.user_id).in_(mates),
                col(LearningEvent.course_id).not_in(done_by_learner),
            )
            .order_by(col(LearningEvent.occurred_at))
        )
    ).all()
    finished: dict[int, dict[int, datetime]] = {}
    for course_id, user_id, occurred_at in rows:
        if course_id is not None:
            finished.setdefault(course_id, {}).setdefault(user_id, occurred_at)
    chosen = sorted(finished.items(), key=lambda item: (-len(item[1]), item[0]))[:COURSES]
    said = 0
    for course_id, by_user in chosen:
        for user_id in sorted(by_user)[:PER_COURSE]:
            written = min(by_user[user_id] + timedelta(days=1), not_after)
            session.add(
                Testimonial(
                    organisation_id=organisation_id,
                    course_id=course_id,
                    user_id=user_id,
                    text=WORDS[said % len(WORDS)],
                    created_at=written,
                    status="approved",
                    approved_at=written,
                )
            )
            said += 1
    await session.flush()
