"""What the learner's catalogue page reads, in two statements (a course's page: the same
frame, then the course with what it is to the learner; testimonials and the budget request
are read by their own services).

The page is what a learner opens after a nudge, so it reads like Today does: first the
organisation's budget settings, the caller's own yearly budget and the competencies (for
the filter) in one statement; then the page of courses with the caller's budget totals
joined to each row (the totals need the budget year, which the settings say). Both are the
catalogue's and the budgets' own statements (``catalogue.services.course_statement``,
``budgets.services.my_totals_statement``), read in fewer round trips. Each is built once
(per shape of the query) with bound parameters: building a SQLAlchemy statement costs
about a millisecond, more than PostgreSQL takes to answer it.
"""

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from litestar.exceptions import NotFoundException
from sqlalchemy import bindparam, exists, true
from sqlalchemy import select as sa_select

from backend.budgets import services as budgets
from backend.catalogue import services as catalogue
from backend.catalogue.schemas import CompetencyPublic, CoursePublic
from backend.db.models import LearningEvent, Organisation, User
from backend.organisations.settings import organisation_settings
from backend.tenancy import OrgScope
from gamification import EventKind

_org_table = Organisation.__table__  # type: ignore[attr-defined]
_user_table = User.__table__  # type: ignore[attr-defined]
_org = _org_table.c
_user = _user_table.c
_event = LearningEvent.__table__.c  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CatalogueFrame:
    """What the page shows around the courses."""

    organisation: Organisation  # its budget settings only (not attached to the session)
    own_yearly_cents: int | None
    competencies: list[CompetencyPublic]


@dataclass(frozen=True)
class CatalogueView:
    competencies: list[CompetencyPublic]
    courses: list[CoursePublic]
    total: int
    budget: budgets.Budget


@cache
def _frame_statement() -> Any:
    return (
        sa_select(
            _org.id,
            _org.name,
            _org.slug,
            _org.default_timezone,
            _org.settings,
            _user.yearly_budget_cents,
            catalogue.competencies_of(_org.id).label("competencies"),
        )
        .select_from(_org_table.join(_user_table, _user.organisation_id == _org.id))
        .where(_org.id == bindparam("org"), _user.id == bindparam("user"))
    )


# The catalogue's pages only read: their statements need no transaction (at READ COMMITTED
# each sees its own snapshot either way), and BEGIN and ROLLBACK were two of the list page's
# four round trips. Applies when the page's session has no connection yet (a form's write
# before it keeps its transaction).
_READ_ONLY = {"isolation_level": "AUTOCOMMIT"}


async def _connection(scope: OrgScope) -> Any:
    session = scope.session
    if session.in_transaction():
        return await session.connection()
    return await session.connection(execution_options=_READ_ONLY)


async def read_frame(scope: OrgScope) -> CatalogueFrame:
    """The first statement: budget settings, own budget and competencies."""
    stmt = _frame_statement()
    params = {"org": scope.organisation_id, "user": scope.principal.user_id}
    row = (await (await _connection(scope)).execute(stmt, params)).one()
    organisation = Organisation(
        id=row.id,
        name=row.name,
        slug=row.slug,
        default_timezone=row.default_timezone,
        settings=row.settings or {},
    )
    return CatalogueFrame(
        organisation, row.yearly_budget_cents, catalogue.competencies_from(row.competencies)
    )


async def read_courses(
    scope: OrgScope, frame: CatalogueFrame, query: catalogue.CourseQuery, limit: int
) -> CatalogueView:
    """The second statement: the first ``limit`` courses of ``query`` with the caller's
    budget totals on each row; when no course matches, the totals alone (a third statement,
    for an empty page)."""
    organisation = frame.organisation
    year = budgets.this_year(organisation)
    params = query.params(scope, catalogue.today_for(scope), limit, 0)
    params |= budgets.my_totals_params(scope, organisation, year)
    connection = await _connection(scope)
    rows = (await connection.execute(_with_totals(query.shape()), params)).all()
    courses, total = catalogue.courses_of(rows)
    if rows:
        totals = rows[0]
    else:
        totals = (await connection.execute(budgets.my_totals_statement(), params)).one()
    return CatalogueView(frame.competencies, courses, total, _budget(frame, year, totals))


@lru_cache(maxsize=256)
def _with_totals(shape: tuple[Any, ...]) -> Any:
    """The courses of ``shape`` with the learner's budget totals joined to each row (built
    once per shape, like the courses' own statement)."""
    totals = budgets.my_totals_statement().subquery("totals")
    return (
        catalogue.course_statement(shape)
        .join(totals, true())
        .add_columns(totals.c.committed, totals.c.spent, totals.c.pending)
    )


@dataclass(frozen=True)
class CourseView:
    course: CoursePublic
    completed: bool  # the caller has completed it (an ingested completion)
    budget: budgets.Budget


async def read_course(scope: OrgScope, frame: CatalogueFrame, course_id: int) -> CourseView:
    """One course (archived too: history links to it) for its page, in one statement: with
    whether the caller completed it and the caller's budget totals. 404 when the caller's
    organisation has no such course."""
    if not 0 < course_id < 2**31:
        raise NotFoundException(f"course {course_id} not found")
    query = catalogue.CourseQuery(course_id=course_id, archived=None)
    organisation = frame.organisation
    year = budgets.this_year(organisation)
    params = query.params(scope, catalogue.today_for(scope), 1, 0)
    params |= budgets.my_totals_params(scope, organisation, year)
    connection = await _connection(scope)
    row = (await connection.execute(_course_statement(query.shape()), params)).first()
    if row is None:
        raise NotFoundException(f"course {course_id} not found")
    [course], _total = catalogue.courses_of([row])
    return CourseView(course, bool(row.completed), _budget(frame, year, row))


@lru_cache(maxsize=4)
def _course_statement(shape: tuple[Any, ...]) -> Any:
    """One course with the budget totals and whether the learner completed it."""
    completed = exists().where(
        _event.organisation_id == bindparam("totals_org"),
        _event.user_id == bindparam("totals_user"),
        _event.course_id == catalogue.course_columns().id,
        _event.kind == EventKind.COMPLETION.value,
        _event.voided.is_(False),  # a voided statement completed nothing
    )
    return _with_totals(shape).add_columns(completed.label("completed"))


def _budget(frame: CatalogueFrame, year: budgets.BudgetYear, row: Any) -> budgets.Budget:
    settings = organisation_settings(frame.organisation)
    return budgets.Budget(
        year=year,
        yearly_cents=budgets.yearly_cents_from(frame.own_yearly_cents, settings),
        committed_cents=int(row.committed),
        spent_cents=int(row.spent),
        pending_cents=int(row.pending),
    )
