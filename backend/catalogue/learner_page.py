"""What the learner's catalogue page reads, in two statements.

The page is what a learner opens after a nudge, so it reads like Today does: first the
organisation's budget settings, the caller's own yearly budget and the competencies (for
the filter) in one statement; then the page of courses with the caller's budget totals
beside them (the totals need the budget year, which the settings say). Both statements are
the catalogue's and the budgets' own (``catalogue.services.course_page``,
``budgets.services.my_totals_query``), only read in fewer round trips.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy import true

from backend.budgets import services as budgets
from backend.catalogue import services as catalogue
from backend.catalogue.schemas import CompetencyPublic, CoursePublic
from backend.db.models import Organisation, User
from backend.organisations.settings import organisation_settings
from backend.tenancy import OrgScope

_org_table = Organisation.__table__  # type: ignore[attr-defined]
_user_table = User.__table__  # type: ignore[attr-defined]
_org = _org_table.c
_user = _user_table.c


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


async def read_frame(scope: OrgScope) -> CatalogueFrame:
    """The first statement: budget settings, own budget and competencies."""
    stmt = (
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
        .where(_org.id == scope.organisation_id, _user.id == scope.principal.user_id)
    )
    row = (await (await scope.session.connection()).execute(stmt)).one()
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


async def read_courses(scope: OrgScope, frame: CatalogueFrame, **query: Any) -> CatalogueView:
    """The second statement: a page of courses (``query``: the arguments of
    ``catalogue.services.course_page`` but ``day``) with the caller's budget totals on each
    row; when no course matches, the totals alone (a third statement, for an empty page)."""
    organisation = frame.organisation
    year = budgets.this_year(organisation)
    totals = budgets.my_totals_query(scope, organisation, year)
    joined = totals.subquery("totals")
    page = (
        catalogue.course_page(scope, day=catalogue.today_for(scope), **query)
        .join(joined, true())
        .add_columns(joined.c.committed, joined.c.spent, joined.c.pending)
    )
    connection = await scope.session.connection()
    rows = (await connection.execute(page)).all()
    courses, total = catalogue.courses_of(rows)
    committed, spent, pending = rows[0][-3:] if rows else (await connection.execute(totals)).one()
    settings = organisation_settings(organisation)
    budget = budgets.Budget(
        year=year,
        yearly_cents=budgets.yearly_cents_from(frame.own_yearly_cents, settings),
        committed_cents=int(committed),
        spent_cents=int(spent),
        pending_cents=int(pending),
    )
    return CatalogueView(frame.competencies, courses, total, budget)
