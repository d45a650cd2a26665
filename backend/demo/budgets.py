"""Demo data for budgets: a year of budget requests that tells the seed's story.

Approved requests through the year come to a bit under 60% of the organisation's budget (the
typical year the console's headline and forecast show), and a few requests wait: three of the
demo manager's team for the manager (one above L&D's threshold), one for L&D after the
manager's approval. A couple were declined with a note, one was approved and completed by the
demo employee. Call ``seed_budgets`` inside the demo seed's transaction, after the people,
teams, courses and learning history exist.
"""

import random
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import (
    Course,
    LearningEvent,
    Organisation,
    TeamMembership,
    TrainingRequest,
    User,
)
from backend.organisations.settings import budget_year_start, organisation_settings

# the share of the year's budget approved so far, on the way to the seed's "about 60%"
APPROVED_SHARE = 0.55
DECLINE_NOTES = (
    "Dit past beter bij het plan voor volgend jaar; laten we het in januari oppakken.",
    "Deze cursus overlapt met de interne training van maart. Doe je die eerst?",
)
WAITING_NOTE = "Goede keuze, past bij je rol als planner."


def _moment(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(8 + rng.randrange(9), rng.randrange(60)), tzinfo=UTC)


async def seed_budgets(
    session: AsyncSession,
    organisation_id: int,
    today: date,
    *,
    employee_email: str,
    manager_email: str,
    ld_email: str,
    seed: int = 11,
) -> int:
    """Budget requests of the demo organisation's people in this budget year; returns how
    many. ``*_email``: the demo's employee, manager and L&D admin."""
    rng = random.Random(seed)
    organisation = (
        await session.exec(select(Organisation).where(Organisation.id == organisation_id))
    ).one()
    settings = organisation_settings(organisation)
    threshold = settings.budget_ld_approval_above_cents or 0
    users = list(
        (
            await session.exec(
                select(User)
                .where(User.organisation_id == organisation_id, col(User.is_active).is_(True))
                .order_by(col(User.id))
            )
        ).all()
    )
    by_email = {u.email: u for u in users}
    employee, manager, ld = by_email[employee_email], by_email[manager_email], by_email[ld_email]
    memberships = (
        await session.exec(
            select(TeamMembership).where(TeamMembership.organisation_id == organisation_id)
        )
    ).all()
    team_of = {m.user_id: m.team_id for m in memberships if not m.is_manager}
    manager_of_team = {m.team_id: m.user_id for m in memberships if m.is_manager}
    names = {u.id: u.display_name for u in users}
    courses = list(
        (
            await session.exec(
                select(Course)
                .where(Course.organisation_id == organisation_id, col(Course.cost_cents) > 0)
                .order_by(col(Course.id))
            )
        ).all()
    )
    cheap = [c for c in courses if c.cost_cents <= threshold or not threshold]
    expensive = [c for c in courses if threshold and c.cost_cents > threshold]
    start = budget_year_start(today, settings.budget_year_start_month)
    days_so_far = max((today - start).days, 1)
    budget_total = len(users) * settings.yearly_budget_cents
    rows: list[TrainingRequest] = []
    taken: set[tuple[int, int]] = set()

    def request(
        user: User, course: Course, asked: datetime, status: str, *, note: str = ""
    ) -> TrainingRequest | None:
        assert user.id is not None and course.id is not None
        if (user.id, course.id) in taken:
            return None
        taken.add((user.id, course.id))
        row = TrainingRequest(
            organisation_id=organisation_id,
            user_id=user.id,
            course_id=course.id,
            cost_cents=course.cost_cents,
            status=status,
            created_at=asked,
        )
        decided = asked + timedelta(days=rng.randint(1, 4), hours=rng.randint(1, 6))
        boss = manager_of_team.get(team_of.get(user.id, -1))
        big = threshold and course.cost_cents > threshold
        if status in ("approved", "declined", "awaiting_ld") and boss and boss != user.id:
            row.manager_id, row.manager_name = boss, names[boss]
            row.manager_decided_at = decided
        if status in ("approved", "declined"):
            decider = ld if big or row.manager_id is None else by_id[row.manager_id]
            row.decided_by_id, row.decided_by_name = decider.id, decider.display_name
            row.decided_at = decided + (timedelta(days=1) if big else timedelta())
            row.decision_note = note
        rows.append(row)
        return row

    by_id = {u.id: u for u in users}
    # the year so far: approvals up to the share, spread over the months, a budget each
    approved = 0
    learners = [u for u in users if u.id not in (employee.id, manager.id, ld.id)]
    rng.shuffle(learners)
    goal = int(budget_total * APPROVED_SHARE)
    for user in learners * 3:
        if approved >= goal or not cheap:
            break
        course = rng.choice(cheap)
        spent_by_user = sum(r.cost_cents for r in rows if r.user_id == user.id)
        if spent_by_user + course.cost_cents > settings.yearly_budget_cents:
            continue
        asked = _moment(start + timedelta(days=rng.randrange(max(days_so_far - 10, 1))), rng)
        if request(user, course, asked, "approved", note=""):
            approved += course.cost_cents
    for note, user in zip(DECLINE_NOTES, learners[-2:], strict=False):
        asked = _moment(today - timedelta(days=rng.randint(20, 60)), rng)
        request(user, rng.choice(courses), asked, "declined", note=note)

    # the demo employee: one approved and completed, one waiting for the manager
    completed = (
        await session.exec(
            select(LearningEvent.course_id, LearningEvent.occurred_at)
            .where(
                LearningEvent.user_id == employee.id,
                LearningEvent.kind == "completion",
                col(LearningEvent.course_id).in_([c.id for c in cheap]),
            )
            .order_by(col(LearningEvent.occurred_at))
        )
    ).first()
    if completed is not None:
        course_id, finished = completed
        course = next(c for c in cheap if c.id == course_id)
        request(employee, course, finished - timedelta(days=14), "approved", note=WAITING_NOTE)
    waiting_for_manager = [c for c in cheap if (employee.id, c.id) not in taken]
    if waiting_for_manager:
        request(
            employee, waiting_for_manager[0], _moment(today - timedelta(days=2), rng), "pending"
        )
    # the demo manager's team: two more waiting for the manager, one of them above L&D's
    # threshold (after the manager's approval, L&D decides too)
    team = [u for u in learners if team_of.get(u.id or 0) == team_of.get(employee.id or 0)]
    for user, choices in zip(team[:2], (cheap, expensive or cheap), strict=False):
        free = [c for c in choices if (user.id, c.id) not in taken]
        if free:
            request(user, free[-1], _moment(today - timedelta(days=1), rng), "pending")
    others = [u for u in learners if u not in team]
    if expensive and others:
        user = others[0]
        row = request(user, expensive[0], _moment(today - timedelta(days=5), rng), "awaiting_ld")
        if row is not None:
            row.decision_note = "Past goed bij het teamplan; graag akkoord van L&D."
    session.add_all(rows)
    await session.flush()
    return len(rows)
