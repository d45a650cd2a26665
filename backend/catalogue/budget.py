"""A learner's learning budget and their requests to spend it on a course.

The organisation sets a yearly budget per learner (``yearly_budget_cents``, a budget year
starting in ``budget_year_start_month``). Approved requests of the current budget year are
spent; pending ones are shown beside what is left, so a learner sees what is still open.
Deciding on requests belongs to the L&D and manager side; here a learner only asks.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from litestar.exceptions import ClientException
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from backend.db.models import Course, Organisation, TrainingRequest
from backend.organisations.settings import budget_year_start, organisation_settings
from backend.tenancy import OrgScope


@dataclass(frozen=True)
class Budget:
    yearly_cents: int
    spent_cents: int  # approved this budget year
    pending_cents: int  # asked for, not decided yet
    year_start: date

    @property
    def left_cents(self) -> int:
        return max(self.yearly_cents - self.spent_cents, 0)


async def my_budget(scope: OrgScope, organisation: Organisation, today: date) -> Budget:
    settings = organisation_settings(organisation)
    start = budget_year_start(today, settings.budget_year_start_month)
    rows = await scope.session.exec(
        select(TrainingRequest.status, func.coalesce(func.sum(TrainingRequest.cost_cents), 0))
        .where(
            scope.owns(TrainingRequest),
            TrainingRequest.user_id == scope.principal.user_id,
            col(TrainingRequest.created_at) >= datetime(start.year, start.month, 1, tzinfo=UTC),
        )
        .group_by(TrainingRequest.status)
    )
    by_status = {status: int(total) for status, total in rows.all()}
    return Budget(
        yearly_cents=settings.yearly_budget_cents,
        spent_cents=by_status.get("approved", 0),
        pending_cents=by_status.get("pending", 0),
        year_start=start,
    )


async def my_request(scope: OrgScope, course_id: int) -> TrainingRequest | None:
    query = scope.select(TrainingRequest).where(
        TrainingRequest.user_id == scope.principal.user_id,
        TrainingRequest.course_id == course_id,
    )
    return (await scope.session.exec(query)).first()


async def request_training(scope: OrgScope, course_id: int) -> tuple[TrainingRequest, bool]:
    """Ask for budget for a course of my organisation; asking twice keeps the first request.

    Returns the request and whether it is new. A free course needs no request (400).
    """
    course = await scope.get(Course, course_id, what="course")
    if course.cost_cents <= 0:
        raise ClientException("this course is free: no budget request needed")
    existing = await my_request(scope, course_id)
    if existing is not None:
        return existing, False
    assert scope.principal.user_id is not None
    row = scope.add(
        TrainingRequest(
            organisation_id=scope.organisation_id,
            user_id=scope.principal.user_id,
            course_id=course_id,
            cost_cents=course.cost_cents,
        )
    )
    try:
        await scope.session.commit()
    except IntegrityError:
        # a double tap raced us: the other request stands
        await scope.session.rollback()
        existing = await my_request(scope, course_id)
        assert existing is not None
        return existing, False
    return row, True
