"""Learning budgets: the one place that asks for, decides and counts budget.

The rules:

- Every person has a yearly budget: their own (``User.yearly_budget_cents``) or else the
  organisation's default (``yearly_budget_cents``). A budget year starts on the first of
  ``budget_year_start_month``, at midnight in the organisation's timezone.
- A request counts in the budget year of the day it was made (a request of 20 December in
  a year starting in April counts in the year that started that April, whenever it is
  decided).
- States: ``pending`` (waiting for the manager) -> a manager approves: above the
  organisation's ``budget_ld_approval_above_cents`` it is ``awaiting_ld``, else
  ``approved``; anyone deciding may decline instead (``declined``, with a note). L&D may
  decide any waiting request, both steps at once. A learner with no manager of their own
  waits for L&D. Nobody decides their own request.
- Approved is *committed*; approved and completed (a completion of that course by the
  learner since asking, as ingested) is *spent*; pending and awaiting L&D are *pending*;
  declined counts nowhere. Left = yearly - committed - spent.
- An approval that would take the learner past their yearly budget is refused (409, naming
  what is left): L&D can raise the person's own budget first.
- Concurrency: a decision locks the learner's requests (``FOR UPDATE``), so two approvals
  of one request count once and two approvals of different requests never overspend.

Every decision (the manager's step too) is in the audit log and sends the learner a push
(``budget_decision``) through the nudge outbox, outside their quiet hours.
"""

import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from litestar.exceptions import (
    ClientException,
    NotFoundException,
    PermissionDeniedException,
)
from sqlalchemy import ColumnElement, DateTime, Integer, bindparam, case, exists, func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from backend.audit import services as audit
from backend.budgets.schemas import (
    BudgetFiguresOut,
    BudgetOverrideOut,
    BudgetRequestOut,
    MyBudgetOut,
    StatusFilter,
    TeamUtilisationOut,
    UtilisationOut,
)
from backend.db.models import (
    Course,
    LearningEvent,
    Nudge,
    NudgeTextVariant,
    Organisation,
    TeamMembership,
    TrainingRequest,
    User,
)
from backend.db.types import utcnow
from backend.insights.privacy import Group, GroupTooSmall, floor_of, group_for, may_see_team
from backend.organisations.settings import (
    OrganisationSettings,
    budget_year_start,
    organisation_settings,
)
from backend.teams.services import teams_i_lead
from backend.tenancy import OrgScope
from gamification import local_day
from gamification.nudge_policy import (
    URL,
    LearnerPrefs,
    NudgeRules,
    QuietHours,
    first_allowed_moment,
)
from gamification.nudge_texts import DEFAULT_LOCALE, LOCALES, catalogue, render, variants
from gamification.nudges import CATEGORY, NudgeType

PENDING = "pending"
AWAITING_LD = "awaiting_ld"
APPROVED = "approved"
DECLINED = "declined"
WAITING = (PENDING, AWAITING_LD)
DECIDED = (APPROVED, DECLINED)

LIST_LIMIT = 200


# --- the budget year ---------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetYear:
    start: date
    end: date
    """The first day of the next budget year."""

    def bounds(self, tz: str) -> tuple[datetime, datetime]:
        """The year as instants: from its first local midnight to the next year's."""
        zone = ZoneInfo(tz)
        return datetime.combine(self.start, time(), zone), datetime.combine(self.end, time(), zone)

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def budget_year(day: date, start_month: int) -> BudgetYear:
    """The budget year holding ``day`` (years start on the first of ``start_month``)."""
    start = budget_year_start(day, start_month)
    return BudgetYear(start, date(start.year + 1, start_month, 1))


def org_timezone(organisation: Organisation) -> str:
    try:
        ZoneInfo(organisation.default_timezone)
    except (ValueError, KeyError):
        return "UTC"
    return organisation.default_timezone


def year_of_request(requested_at: datetime, organisation: Organisation) -> BudgetYear:
    """The budget year a request counts in: that of its day in the organisation's zone."""
    settings = organisation_settings(organisation)
    day = local_day(requested_at, org_timezone(organisation))
    return budget_year(day, settings.budget_year_start_month)


def this_year(organisation: Organisation, now: datetime | None = None) -> BudgetYear:
    return year_of_request(now or utcnow(), organisation)


# --- arithmetic ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    year: BudgetYear
    yearly_cents: int
    committed_cents: int = 0  # approved, not completed yet
    spent_cents: int = 0  # approved and completed
    pending_cents: int = 0  # asked for, not decided yet

    @property
    def used_cents(self) -> int:
        return self.committed_cents + self.spent_cents

    @property
    def left_cents(self) -> int:
        return max(self.yearly_cents - self.used_cents, 0)


def yearly_cents_of(user: User, settings: OrganisationSettings) -> int:
    """A person's yearly budget: their own, else the organisation's default."""
    return yearly_cents_from(user.yearly_budget_cents, settings)


def yearly_cents_from(own_cents: int | None, settings: OrganisationSettings) -> int:
    """A yearly budget from a person's own figure (None: the organisation's default)."""
    return own_cents if own_cents is not None else settings.yearly_budget_cents


def completed_since_asking() -> ColumnElement[bool]:
    """A request whose learner completed its course since asking (ingested completions)."""
    return exists().where(
        col(LearningEvent.user_id) == col(TrainingRequest.user_id),
        col(LearningEvent.course_id) == col(TrainingRequest.course_id),
        col(LearningEvent.kind) == "completion",
        col(LearningEvent.occurred_at) >= col(TrainingRequest.created_at),
        col(LearningEvent.voided).is_(False),  # a voided statement completed nothing
    )


def _totals_select(organisation_id: Any, start: Any, end: Any, *where: ColumnElement[bool]) -> Any:
    """(committed, spent, pending) cents of the organisation's requests made in [start, end)
    matching ``where``: one row. The arguments may be values or bound parameters."""
    cost = col(TrainingRequest.cost_cents)
    approved = col(TrainingRequest.status) == APPROVED
    done = completed_since_asking()
    return select(
        func.coalesce(func.sum(case((approved & ~done, cost), else_=0)), 0).label("committed"),
        func.coalesce(func.sum(case((approved & done, cost), else_=0)), 0).label("spent"),
        func.coalesce(
            func.sum(case((col(TrainingRequest.status).in_(WAITING), cost), else_=0)), 0
        ).label("pending"),
    ).where(
        col(TrainingRequest.organisation_id) == organisation_id,
        col(TrainingRequest.created_at) >= start,
        col(TrainingRequest.created_at) < end,
        *where,
    )


def totals_query(
    scope: OrgScope,
    organisation: Organisation,
    year: BudgetYear,
    *where: ColumnElement[bool],
) -> Any:
    """The statement of :func:`_totals`."""
    start, end = year.bounds(org_timezone(organisation))
    return _totals_select(scope.organisation_id, start, end, *where)


@cache
def my_totals_statement() -> Any:
    """A learner's own totals in a year, built once with bound parameters (``totals_*``,
    see :func:`my_totals_params`), for a page that reads them beside other things."""
    return _totals_select(
        bindparam("totals_org", type_=Integer),
        bindparam("totals_start", type_=DateTime(timezone=True)),
        bindparam("totals_end", type_=DateTime(timezone=True)),
        col(TrainingRequest.user_id) == bindparam("totals_user", type_=Integer),
    )


def my_totals_params(
    scope: OrgScope, organisation: Organisation, year: BudgetYear
) -> dict[str, Any]:
    start, end = year.bounds(org_timezone(organisation))
    return {
        "totals_org": scope.organisation_id,
        "totals_start": start,
        "totals_end": end,
        "totals_user": scope.principal.user_id,
    }


async def _totals(
    scope: OrgScope,
    organisation: Organisation,
    year: BudgetYear,
    *where: ColumnElement[bool],
) -> tuple[int, int, int]:
    """(committed, spent, pending) cents of the requests matching ``where`` in ``year``."""
    query = totals_query(scope, organisation, year, *where)
    committed, spent, pending = (await scope.session.exec(query)).one()
    return int(committed), int(spent), int(pending)


async def budget_of(
    scope: OrgScope,
    organisation: Organisation,
    user: User,
    year: BudgetYear,
    *,
    leaving_out: int | None = None,
) -> Budget:
    """``user``'s budget in ``year`` (``leaving_out``: without that request)."""
    where = [col(TrainingRequest.user_id) == user.id]
    if leaving_out is not None:
        where.append(col(TrainingRequest.id) != leaving_out)
    committed, spent, pending = await _totals(scope, organisation, year, *where)
    return Budget(
        year=year,
        yearly_cents=yearly_cents_of(user, organisation_settings(organisation)),
        committed_cents=committed,
        spent_cents=spent,
        pending_cents=pending,
    )


async def my_budget(scope: OrgScope, organisation: Organisation) -> Budget:
    """The caller's budget in this budget year."""
    me = await scope.get(User, scope.principal.user_id, what="person")
    return await budget_of(scope, organisation, me, this_year(organisation))


# --- asking --------------------------------------------------------------------------------


async def my_request(scope: OrgScope, course_id: int) -> TrainingRequest | None:
    query = scope.select(TrainingRequest).where(
        TrainingRequest.user_id == scope.principal.user_id,
        TrainingRequest.course_id == course_id,
    )
    return (await scope.session.exec(query)).first()


def _reopen(row: TrainingRequest, cost_cents: int, now: datetime) -> None:
    row.status = PENDING
    row.cost_cents = cost_cents
    row.created_at = now
    row.decided_at = None
    row.manager_id = None
    row.manager_name = ""
    row.manager_decided_at = None
    row.decided_by_id = None
    row.decided_by_name = ""
    row.decision_note = ""


async def request_training(scope: OrgScope, course_id: int) -> tuple[TrainingRequest, bool]:
    """Ask for budget for a course of my organisation.

    Asking again while a request is open or approved keeps that one; after a decline the
    request is asked anew (today, at today's price). Returns the request and whether it is
    new. A free course needs no request (400).
    """
    course = await scope.get(Course, course_id, what="course")
    if course.cost_cents <= 0:
        raise ClientException("this course is free: no budget request needed")
    existing = await my_request(scope, course_id)
    if existing is not None:
        if existing.status != DECLINED:
            return existing, False
        _reopen(existing, course.cost_cents, utcnow())
        scope.session.add(existing)
        await scope.session.commit()
        return existing, True
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


# --- who decides ---------------------------------------------------------------------------


def _managed_learners(scope: OrgScope) -> Any:
    """SELECT of the people in the teams the caller manages."""
    mine = aliased(TeamMembership)
    return select(col(TeamMembership.user_id)).where(
        col(TeamMembership.organisation_id) == scope.organisation_id,
        col(TeamMembership.team_id).in_(
            select(col(mine.team_id)).where(
                col(mine.user_id) == scope.principal.user_id, col(mine.is_manager).is_(True)
            )
        ),
    )


def _require_decider(scope: OrgScope) -> None:
    if scope.principal.user_id is None or not (
        scope.principal.is_ld_admin or scope.principal.is_manager
    ):
        raise PermissionDeniedException("budget requests are decided by managers and L&D")


async def _manages(scope: OrgScope, learner_id: int) -> bool:
    if learner_id == scope.principal.user_id:
        return False
    found = await scope.session.scalar(
        select(func.count()).where(
            col(User.id) == learner_id, col(User.id).in_(_managed_learners(scope))
        )
    )
    return bool(found)


def _can_decide(scope: OrgScope, row: TrainingRequest, manages: bool) -> bool:
    if row.status not in WAITING or row.user_id == scope.principal.user_id:
        return False
    if scope.principal.is_ld_admin:
        return True
    return row.status == PENDING and manages


# --- listing -------------------------------------------------------------------------------


def _stage(status: str, completed: bool) -> str:
    if status == PENDING:
        return "waiting_for_manager"
    if status == AWAITING_LD:
        return "waiting_for_ld"
    if status == APPROVED:
        return "completed" if completed else "approved"
    return "declined"


def _out(
    row: TrainingRequest,
    learner: str,
    course: str,
    completed: bool,
    organisation: Organisation,
    *,
    can_decide: bool = False,
    left: int | None = None,
) -> BudgetRequestOut:
    assert row.id is not None
    return BudgetRequestOut(
        id=row.id,
        user_id=row.user_id,
        learner_name=learner,
        course_id=row.course_id,
        course_title=course,
        cost_cents=row.cost_cents,
        status=row.status,
        stage=_stage(row.status, completed),
        requested_at=row.created_at,
        budget_year_start=year_of_request(row.created_at, organisation).start,
        manager_name=row.manager_name,
        manager_decided_at=row.manager_decided_at,
        decided_by_name=row.decided_by_name,
        decided_at=row.decided_at,
        decision_note=row.decision_note,
        completed=completed and row.status == APPROVED,
        can_decide=can_decide,
        learner_left_cents=left,
    )


def _listing() -> Any:
    return (
        select(
            TrainingRequest,
            col(User.display_name),
            col(Course.title),
            completed_since_asking().label("completed"),
        )
        .join(User, col(User.id) == col(TrainingRequest.user_id))
        .join(Course, col(Course.id) == col(TrainingRequest.course_id))
    )


async def my_requests(scope: OrgScope, organisation: Organisation) -> list[BudgetRequestOut]:
    rows = await scope.session.exec(
        _listing()
        .where(scope.owns(TrainingRequest), col(TrainingRequest.user_id) == scope.principal.user_id)
        .order_by(col(TrainingRequest.created_at).desc())
        .limit(LIST_LIMIT)
    )
    return [_out(r, name, title, bool(done), organisation) for r, name, title, done in rows.all()]


async def my_budget_overview(scope: OrgScope) -> MyBudgetOut:
    organisation = await scope.organisation()
    budget = await my_budget(scope, organisation)
    return MyBudgetOut(
        year_start=budget.year.start,
        year_end=budget.year.end,
        yearly_cents=budget.yearly_cents,
        committed_cents=budget.committed_cents,
        spent_cents=budget.spent_cents,
        pending_cents=budget.pending_cents,
        left_cents=budget.left_cents,
        requests=await my_requests(scope, organisation),
    )


def _status_clause(scope: OrgScope, status: StatusFilter) -> ColumnElement[bool] | None:
    column = col(TrainingRequest.status)
    if status == "waiting":
        return column.in_(WAITING) if scope.principal.is_ld_admin else column == PENDING
    if status == "decided":
        return column.in_(DECIDED)
    if status == "all":
        return None
    return column == status


async def requests_to_decide(
    scope: OrgScope,
    status: StatusFilter = "waiting",
    team_id: int | None = None,
    limit: int = LIST_LIMIT,
) -> list[BudgetRequestOut]:
    """Budget requests for the caller to decide (``waiting``) or look back on.

    A manager sees the requests of the people in the teams they manage (never their own);
    L&D sees everyone's. ``team_id`` narrows to one team's people (a team the caller may see).
    """
    _require_decider(scope)
    organisation = await scope.organisation()
    query = _listing().where(scope.owns(TrainingRequest))
    if not scope.principal.is_ld_admin:
        query = query.where(
            col(TrainingRequest.user_id).in_(_managed_learners(scope)),
            col(TrainingRequest.user_id) != scope.principal.user_id,
        )
    if team_id is not None:
        if not await may_see_team(scope, team_id):
            raise NotFoundException(f"team {team_id} not found")
        query = query.where(
            col(TrainingRequest.user_id).in_(
                select(col(TeamMembership.user_id)).where(
                    col(TeamMembership.team_id) == team_id,
                    col(TeamMembership.organisation_id) == scope.organisation_id,
                )
            )
        )
    clause = _status_clause(scope, status)
    if clause is not None:
        query = query.where(clause)
    if status == "waiting":  # what I may decide: never my own
        query = query.where(col(TrainingRequest.user_id) != scope.principal.user_id)
    if status in ("waiting", "pending", "awaiting_ld"):
        query = query.order_by(col(TrainingRequest.created_at), col(TrainingRequest.id))
    else:
        query = query.order_by(
            func.coalesce(col(TrainingRequest.decided_at), col(TrainingRequest.created_at)).desc(),
            col(TrainingRequest.id).desc(),
        )
    rows = (await scope.session.exec(query.limit(limit))).all()
    managed = set(
        (
            await scope.session.exec(
                select(col(TeamMembership.user_id)).where(
                    col(TeamMembership.user_id).in_(_managed_learners(scope))
                )
            )
        ).all()
    )
    users: dict[int, User] = {}
    lefts: dict[tuple[int, date], int] = {}
    found: list[BudgetRequestOut] = []
    for row, name, title, done in rows:
        decides = _can_decide(
            scope, row, row.user_id in managed and row.user_id != scope.principal.user_id
        )
        left = None
        if decides:
            year = year_of_request(row.created_at, organisation)
            key = (row.user_id, year.start)
            if key not in lefts:
                if row.user_id not in users:
                    users[row.user_id] = await scope.get(User, row.user_id, what="person")
                budget = await budget_of(scope, organisation, users[row.user_id], year)
                lefts[key] = budget.left_cents
            left = lefts[key]
        found.append(
            _out(row, name, title, bool(done), organisation, can_decide=decides, left=left)
        )
    return found


# --- deciding ------------------------------------------------------------------------------


def euros_text(cents: int) -> str:
    """Whole euros with cents when there are any, for API messages (English)."""
    whole, rest = divmod(cents, 100)
    return f"€{whole:,}" + (f".{rest:02d}" if rest else "")


class OverBudget(ClientException):
    """409: approving would take the learner past their yearly budget."""

    status_code = 409

    def __init__(self, name: str, budget: Budget, cost: int) -> None:
        self.left_cents = budget.left_cents
        self.cost_cents = cost
        super().__init__(
            detail=f"over budget: {name} has {euros_text(budget.left_cents)} left of "
            f"{euros_text(budget.yearly_cents)} in the budget year from "
            f"{budget.year.start.isoformat()}, and this course costs {euros_text(cost)}; "
            "decline it, or raise their yearly budget first",
            extra={"left_cents": budget.left_cents, "cost_cents": cost},
        )


async def decide(
    scope: OrgScope,
    request_id: int,
    *,
    approve: bool,
    note: str = "",
    now: datetime | None = None,
) -> BudgetRequestOut:
    """Approve or decline a waiting budget request (see the module's rules)."""
    _require_decider(scope)
    now = now or utcnow()
    note = note.replace("\x00", "").strip()
    if not approve and not note:
        raise ClientException("note: say why you decline; the learner reads it")
    found = await scope.get(TrainingRequest, request_id, what="budget request")
    # one learner's requests are decided one at a time: the same request approved twice at
    # once counts once, and two requests approved at once cannot both take the last euros
    locked = await scope.session.exec(
        select(TrainingRequest)
        .where(scope.owns(TrainingRequest), col(TrainingRequest.user_id) == found.user_id)
        .order_by(col(TrainingRequest.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = next(r for r in locked.all() if r.id == request_id)
    is_ld = scope.principal.is_ld_admin
    manages = await _manages(scope, row.user_id)
    if not is_ld and not manages:
        # a request outside my teams is not mine to see
        raise NotFoundException(f"budget request {request_id} not found")
    if row.status in DECIDED:
        raise ClientException(
            f"budget request {request_id} is already {row.status}", status_code=409
        )
    if row.user_id == scope.principal.user_id:
        raise ClientException(
            "nobody decides their own budget request: another L&D admin or your manager does",
            status_code=409,
        )
    if row.status == AWAITING_LD and not is_ld:
        raise ClientException(
            f"budget request {request_id} has a manager's approval and waits for L&D",
            status_code=409,
        )
    organisation = await scope.organisation()
    settings = organisation_settings(organisation)
    learner = await scope.get(User, row.user_id, what="person")
    course = await scope.get(Course, row.course_id, what="course")
    year = year_of_request(row.created_at, organisation)
    before = await budget_of(scope, organisation, learner, year, leaving_out=row.id)
    me = scope.principal.display_name or scope.principal.email
    step = row.status
    if approve:
        if row.cost_cents > before.left_cents:
            raise OverBudget(learner.display_name, before, row.cost_cents)
        threshold = settings.budget_ld_approval_above_cents or 0
        if not is_ld and threshold and row.cost_cents > threshold:
            row.status = AWAITING_LD
        else:
            row.status = APPROVED
    else:
        row.status = DECLINED
    if step == PENDING and not is_ld:
        row.manager_id, row.manager_name, row.manager_decided_at = (
            scope.principal.user_id,
            me[:200],
            now,
        )
    if row.status in DECIDED:
        row.decided_by_id, row.decided_by_name, row.decided_at = (
            scope.principal.user_id,
            me[:200],
            now,
        )
        row.decision_note = note[:500]
    elif note:
        row.decision_note = note[:500]
    scope.session.add(row)
    action = {
        APPROVED: "budget_request.approve",
        AWAITING_LD: "budget_request.approve_step",
        DECLINED: "budget_request.decline",
    }[row.status]
    verb = {
        APPROVED: "Approved",
        AWAITING_LD: "Approved (waiting for L&D)",
        DECLINED: "Declined",
    }[row.status]
    audit.record(
        scope,
        action,
        target_type="training_request",
        target_id=row.id,
        summary=f"{verb} {learner.display_name}'s request for {course.title} "
        f"({euros_text(row.cost_cents)})",
        details={
            "user_id": row.user_id,
            "course_id": row.course_id,
            "cost_cents": row.cost_cents,
            "from": step,
            "to": row.status,
            "note": note[:500],
        },
    )
    after = (
        before
        if row.status != APPROVED
        else Budget(
            year=before.year,
            yearly_cents=before.yearly_cents,
            committed_cents=before.committed_cents + row.cost_cents,
            spent_cents=before.spent_cents,
            pending_cents=before.pending_cents,
        )
    )
    await _notify(scope, organisation, learner, row, course.title, after.left_cents, now)
    await scope.session.commit()
    return _out(row, learner.display_name, course.title, False, organisation)


async def _notify(
    scope: OrgScope,
    organisation: Organisation,
    learner: User,
    row: TrainingRequest,
    course_title: str,
    left_cents: int,
    now: datetime,
) -> None:
    """Queue the ``budget_decision`` push (unless switched off), outside quiet hours."""
    kind = NudgeType.BUDGET_DECISION
    settings = organisation_settings(organisation)
    category = CATEGORY[kind]
    if kind.value in settings.nudge_kinds_off or (
        category is not None and category.value in (learner.nudge_kinds_off or [])
    ):
        return
    try:
        ZoneInfo(learner.timezone)
        tz = learner.timezone
    except (ValueError, KeyError):
        tz = org_timezone(organisation)
    locale = learner.locale if learner.locale in LOCALES else DEFAULT_LOCALE
    prefs = LearnerPrefs(
        timezone=tz,
        locale=locale,
        quiet=QuietHours(learner.quiet_hours_start, learner.quiet_hours_end),
    )
    # the window only needs the organisation's quiet hours and weekend rule
    rules = NudgeRules(
        quiet=QuietHours(time(settings.quiet_hours_start), time(settings.quiet_hours_end)),
        nudges_on_weekends=settings.nudges_on_weekends,
    )
    due = first_allowed_moment(now, prefs, rules)
    own = await scope.all(
        scope.select(NudgeTextVariant).where(col(NudgeTextVariant.kind) == kind.value)
    )
    texts = catalogue(
        (v.kind, v.variant, v.locale, v.title, v.body, v.retired_at is not None) for v in own
    )
    variant = random.choice(variants(kind.value, locale, texts))
    params: dict[str, str | int] = {
        "course": course_title,
        "approved": {APPROVED: 1, DECLINED: 0, AWAITING_LD: 2}[row.status],
        "budget_cents": left_cents,
    }
    text = render(kind.value, variant, locale, params, texts)
    nudge_id = secrets.token_hex(16)
    scope.add(
        Nudge(
            id=nudge_id,
            organisation_id=scope.organisation_id,
            user_id=learner.id or 0,
            kind=kind.value,
            variant=variant,
            dedupe_key=f"budget-decision:{row.id}:{now.isoformat()}"[:200],
            locale=locale,
            title=text.title[:200],
            body=text.body[:500],
            url=URL[kind],
            due_at=due,
        )
    )


# --- aggregates (through the privacy floor) --------------------------------------------------


async def _group_yearly(scope: OrgScope, settings: OrganisationSettings, group: Group) -> int:
    """The yearly budgets of the group's learners added up (own budgets or the default)."""
    total = await scope.session.scalar(
        select(
            func.coalesce(
                func.sum(
                    func.coalesce(col(User.yearly_budget_cents), settings.yearly_budget_cents)
                ),
                0,
            )
        ).where(group.where(User.id))
    )
    return int(total or 0)


async def used_percent_at(scope: OrgScope, group: Group, moment: datetime) -> float | None:
    """The share (percent) of the group's yearly budget approved by ``moment`` (committed
    and spent alike) in the budget year holding it; None when the group has no budget.

    For a month's figure give the month's end: requests approved after it count later.
    """
    organisation = await scope.organisation()
    settings = organisation_settings(organisation)
    year = year_of_request(moment - timedelta(microseconds=1), organisation)
    yearly = await _group_yearly(scope, settings, group)
    if not yearly:
        return None
    committed, spent, _pending = await _totals(
        scope,
        organisation,
        year,
        group.where(TrainingRequest.user_id),
        col(TrainingRequest.decided_at) < moment,
    )
    return round(100 * (committed + spent) / yearly, 1)


async def figures(scope: OrgScope, group: Group, now: datetime | None = None) -> BudgetFiguresOut:
    """A group's budget this budget year, with the year's forecast at its pace so far."""
    organisation = await scope.organisation()
    settings = organisation_settings(organisation)
    now = now or utcnow()
    year = this_year(organisation, now)
    yearly_cents = await _group_yearly(scope, settings, group)
    committed, spent, pending = await _totals(
        scope, organisation, year, group.where(TrainingRequest.user_id)
    )
    used = committed + spent
    today = local_day(now, org_timezone(organisation))
    elapsed = min(max((today - year.start).days + 1, 1), year.days)
    forecast = round(used * year.days / elapsed)
    return BudgetFiguresOut(
        team_id=group.team_id,
        label=group.label,
        learners=group.size,
        year_start=year.start,
        year_end=year.end,
        yearly_cents=yearly_cents,
        committed_cents=committed,
        spent_cents=spent,
        pending_cents=pending,
        left_cents=max(yearly_cents - used, 0),
        used_percent=round(100 * used / yearly_cents, 1) if yearly_cents else 0.0,
        forecast_percent=round(100 * forecast / yearly_cents, 1) if yearly_cents else 0.0,
        forecast_cents=forecast,
    )


async def team_figures(scope: OrgScope, team_id: int | None) -> BudgetFiguresOut:
    """The budget of one team (or, for L&D without a team, the organisation)."""
    return await figures(scope, await group_for(scope, team_id=team_id))


async def teams_remaining(scope: OrgScope) -> list[TeamUtilisationOut]:
    """A row per team the caller may see; a team below the privacy floor shows no figure."""
    rows = []
    for team_id, name in await teams_i_lead(scope):
        try:
            group = await group_for(scope, team_id=team_id)
        except GroupTooSmall:
            rows.append(TeamUtilisationOut(team_id=team_id, name=name, hidden=True))
            continue
        rows.append(
            TeamUtilisationOut(
                team_id=team_id, name=name, hidden=False, figures=await figures(scope, group)
            )
        )
    return rows


async def utilisation(scope: OrgScope, team_id: int | None = None) -> UtilisationOut:
    """L&D's view: the organisation's (or one team's) headline and every team's row."""
    headline = await team_figures(scope, team_id)
    teams = await teams_remaining(scope)
    if team_id is not None:
        teams = [t for t in teams if t.team_id == team_id]
    organisation = await scope.organisation()
    return UtilisationOut(headline=headline, teams=teams, min_group_size=floor_of(organisation))


# --- a person's own budget -----------------------------------------------------------------


async def set_yearly_budget(scope: OrgScope, user_id: int, cents: int | None) -> BudgetOverrideOut:
    """Give a person their own yearly budget (None: the organisation's default). L&D only."""
    if not scope.principal.is_ld_admin:
        raise PermissionDeniedException("only L&D admins set a person's budget")
    user = await scope.get(User, user_id, what="person")
    before = user.yearly_budget_cents
    organisation = await scope.organisation()
    if before != cents:
        user.yearly_budget_cents = cents
        scope.session.add(user)
        shown = "the organisation's default" if cents is None else euros_text(cents)
        audit.record(
            scope,
            "user.budget",
            target_type="user",
            target_id=user_id,
            summary=f"Set {user.display_name}'s yearly learning budget to {shown}",
            details={"before": before, "after": cents},
        )
        await scope.session.commit()
    return BudgetOverrideOut(
        user_id=user_id,
        display_name=user.display_name,
        yearly_budget_cents=user.yearly_budget_cents,
        effective_yearly_cents=yearly_cents_of(user, organisation_settings(organisation)),
    )
