"""The catalogue pages: search courses, and one course with what it earns and testimonials.

Both work without JavaScript: the filters are a plain GET form and a testimonial is a plain
form post (``POST /catalogue/{id}/testimonial``) that redirects back to the course.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from babel.dates import format_date
from babel.numbers import format_currency
from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.budgets import services as budgets
from backend.catalogue import learner_page, testimonials
from backend.catalogue import services as catalogue
from backend.catalogue.schemas import CoursePublic
from backend.catalogue.services import CourseSort
from backend.db.models import CourseFormat, Organisation
from backend.db.types import utcnow
from backend.learning.rules import org_rules
from backend.recommendations import services as recommendations
from backend.recommendations.texts import reason_line
from backend.tenancy import OrgScope
from backend.web.pages import choose_locale, not_found_page, render, signed_in
from gamification import EventKind, LearningFact, local_day, xp_for_fact
from gamification.recommend import Recommendation
from gamification.xp import XpContext
from pwa.i18n import N_, SUPPORTED_LOCALES, gettext, ngettext, set_locale

FORMAT_LABELS = {
    CourseFormat.elearning.value: N_("E-learning"),
    CourseFormat.classroom.value: N_("Classroom"),
    CourseFormat.webinar.value: N_("Webinar"),
    CourseFormat.video.value: N_("Video"),
    CourseFormat.book.value: N_("Book"),
    CourseFormat.podcast.value: N_("Podcast"),
    CourseFormat.coaching.value: N_("Coaching"),
    CourseFormat.workshop.value: N_("Workshop"),
}
DURATION_CHOICES = (15, 30, 60, 120, 240, 480)
# where a budget request stands, as the learner reads it (backend.budgets.services stages)
REQUEST_STAGES = {
    "waiting_for_manager": N_("Waiting for your manager"),
    "waiting_for_ld": N_("Approved by your manager, waiting for L&D"),
    "approved": N_("Approved"),
    "completed": N_("Approved and completed"),
    "declined": N_("Not approved"),
}


class TestimonialForm(BaseModel):
    text: str = ""


PER_PAGE = 12
MAX_PAGES = 50  # "more" stops growing the list at 600 courses


@dataclass(frozen=True)
class CatalogueOrder:
    """One way to order the learner catalogue (``?sort=<key>``)."""

    label: str
    sort: CourseSort | None = None  # None: hot ones first, then by title
    descending: bool = False
    # the learner's recommendations first, best first, each with its reason
    for_you: bool = False


# the orders a learner can pick, the first one the default; another order (a ranking made
# elsewhere) is one more entry here plus the ids it puts first (catalogue.search_courses'
# ``first_ids``)
ORDERS: dict[str, CatalogueOrder] = {
    "": CatalogueOrder(N_("In demand first")),
    "title": CatalogueOrder(N_("Title (A–Z)"), "title"),
    "short": CatalogueOrder(N_("Shortest first"), "duration"),
    "cheap": CatalogueOrder(N_("Cheapest first"), "cost"),
    "new": CatalogueOrder(N_("Newest first"), "created", descending=True),
    "for_you": CatalogueOrder(N_("For you"), for_you=True),
}


@dataclass
class Filters:
    """What the learner asked the catalogue, all of it in the URL (a link or the back
    button brings the same view back)."""

    q: str = ""
    competency_id: int | None = None
    hot_skill: bool = False
    course_format: str = ""
    max_minutes: int | None = None
    free_only: bool = False
    sort: str = ""
    page: int = 1
    lang: str = ""  # an explicit ?lang= stays in every link

    @property
    def narrowed(self) -> bool:
        """Any filter besides the search words (the filter panel then starts open)."""
        return bool(
            self.competency_id
            or self.hot_skill
            or self.course_format
            or self.max_minutes is not None
            or self.free_only
        )

    @property
    def active(self) -> bool:
        return bool(self.q) or self.narrowed

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The query parameters of this view (defaults left out), with ``changes``."""
        wanted = {
            "q": self.q,
            "competency": self.competency_id or "",
            "format": self.course_format,
            "max_minutes": "" if self.max_minutes is None else self.max_minutes,
            "hot": "1" if self.hot_skill else "",
            "free": "1" if self.free_only else "",
            "sort": self.sort,
            "page": self.page if self.page > 1 else "",
            "lang": self.lang,
        }
        wanted.update(changes)
        return [(key, str(value)) for key, value in wanted.items() if value not in ("", None)]

    def url(self, **changes: Any) -> str:
        query = urlencode(self.params(**changes))
        return f"/catalogue?{query}" if query else "/catalogue"


def _small_int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 10 else None


def _filters(request: Request[Any, Any, Any]) -> Filters:
    params = request.query_params
    fmt = (params.get("format") or "").strip()
    sort = (params.get("sort") or "").strip()
    lang = params.get("lang") or ""
    return Filters(
        q=(params.get("q") or "").replace("\x00", "").strip()[:100],
        competency_id=_small_int(params.get("competency")),
        hot_skill=params.get("hot") in ("1", "on", "true"),
        course_format=fmt if fmt in FORMAT_LABELS else "",
        max_minutes=_small_int(params.get("max_minutes")),
        free_only=params.get("free") in ("1", "on", "true"),
        sort=sort if sort in ORDERS else "",
        page=min(max(_small_int(params.get("page")) or 1, 1), MAX_PAGES),
        lang=lang if lang in SUPPORTED_LOCALES else "",
    )


@lru_cache(maxsize=4096)
def euros(cents: int, locale: str) -> str:
    # kept: Babel takes ~0.1 ms per amount and a catalogue page shows a dozen
    return format_currency(cents / 100, "EUR", locale=locale)


def duration_label(minutes: int) -> str:
    if minutes < 60:
        return ngettext("%(num)d minute", "%(num)d minutes", minutes) % {"num": minutes}
    hours, rest = divmod(minutes, 60)
    if rest == 0:
        return ngettext("%(num)d hour", "%(num)d hours", hours) % {"num": hours}
    return gettext("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": rest}


def _card(course: CoursePublic, locale: str) -> dict[str, Any]:
    return {
        "id": course.id,
        "title": course.title,
        "description": course.description,
        "provider": course.provider,
        "format": gettext(FORMAT_LABELS.get(course.format, course.format)),
        "duration": duration_label(course.duration_minutes) if course.duration_minutes else "",
        "cost": euros(course.cost_cents, locale) if course.cost_cents else gettext("Free"),
        "free": course.cost_cents == 0,
        "hot_skill": course.hot,  # today: its own flag or a running hot-skill season
        "archived": course.archived_at is not None,
        "competencies": [c.name for c in course.competencies],
        "url": course.url,
    }


async def _for_you(
    session: AsyncSession,
    principal: Principal,
    ranked: list[Recommendation],
    shown_before: frozenset[int],
    courses: list[CoursePublic],
    locale: str,
) -> dict[int, str]:
    """Course -> why it is recommended, for the recommended courses on this page (recorded
    as shown: the learner sees them with their reason)."""
    listed = {c.id for c in courses}
    on_page = [r for r in ranked if r.course_id in listed]
    if not on_page:
        return {}
    assert principal.user_id is not None
    await recommendations.record_shown(
        session, principal.organisation_id, principal.user_id, on_page, utcnow(), shown_before
    )
    return {r.course_id: reason_line(r, locale) for r in on_page}


def completion_xp(organisation: Organisation, course: CoursePublic, timezone: str) -> int:
    """What completing the course earns today, by the organisation's rules (bonuses included)."""
    now = utcnow()
    fact = LearningFact(
        key=f"preview:{course.id}",
        kind=EventKind.COMPLETION,
        occurred_at=now,
        local_date=local_day(now, timezone),
        course_id=course.id,
        course_duration_minutes=course.duration_minutes,
        hot_skill=course.hot,
    )
    return sum(a.amount for a in xp_for_fact(fact, org_rules(organisation).xp, XpContext()))


class CataloguePageController(Controller):
    include_in_schema = False

    @get("/catalogue", name="catalogue-page")
    async def catalogue_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        locale = choose_locale(request, principal)
        set_locale(locale)
        scope = OrgScope(db_session, principal)
        filters = _filters(request)
        frame = await learner_page.read_frame(scope)
        competencies = frame.competencies
        if filters.competency_id not in {c.id for c in competencies}:
            filters.competency_id = None
        order = ORDERS[filters.sort]
        ranked: list[Recommendation] = []
        shown_before: frozenset[int] = frozenset()
        if order.for_you:
            assert principal.user_id is not None
            ranked, _, shown_before = await recommendations.ranked_for(
                db_session, principal.organisation_id, principal.user_id, utcnow()
            )
        # "more" grows the list: page n shows the first n x PER_PAGE courses, so a link or
        # the back button shows everything the learner had scrolled through
        query = catalogue.CourseQuery(
            q=filters.q or None,
            competency_id=filters.competency_id,
            hot_skill=True if filters.hot_skill else None,
            course_format=filters.course_format or None,
            max_minutes=filters.max_minutes,
            max_cost_cents=0 if filters.free_only else None,
            sort=order.sort,
            descending=order.descending,
            first_ids=tuple(r.course_id for r in ranked),
        )
        view = await learner_page.read_courses(scope, frame, query, filters.page * PER_PAGE)
        courses, total, budget = view.courses, view.total, view.budget
        shown = len(courses)
        reasons = await _for_you(db_session, principal, ranked, shown_before, courses, locale)
        return render(
            request,
            "catalogue.html",
            {
                "filters": filters,
                "competencies": competencies,
                "formats": [(key, gettext(label)) for key, label in FORMAT_LABELS.items()],
                "durations": [(m, duration_label(m)) for m in DURATION_CHOICES],
                "orders": [(key, gettext(o.label)) for key, o in ORDERS.items()],
                "courses": [_card(c, locale) | {"reason": reasons.get(c.id)} for c in courses],
                "total": total,
                "more_url": filters.url(page=filters.page + 1) + f"#course-{shown + 1}"
                if shown < total and filters.page < MAX_PAGES
                else None,
                "clear_url": filters.url(
                    q="", competency="", format="", max_minutes="", hot="", free="", page=""
                ),
                "budget_left": euros(budget.left_cents, locale),
                "budget_pending": euros(budget.pending_cents, locale)
                if budget.pending_cents
                else None,
            },
            locale=locale,
        )

    @get("/catalogue/budget", name="my-budget-page")
    async def budget_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        locale = choose_locale(request, principal)
        set_locale(locale)
        mine = await budgets.my_budget_overview(OrgScope(db_session, principal))
        tz = principal.timezone
        return render(
            request,
            "budget.html",
            {
                "budget": {
                    "yearly": euros(mine.yearly_cents, locale),
                    "committed": euros(mine.committed_cents, locale),
                    "spent": euros(mine.spent_cents, locale),
                    "pending": euros(mine.pending_cents, locale),
                    "left": euros(mine.left_cents, locale),
                    "start": format_date(mine.year_start, format="medium", locale=locale),
                    "end": format_date(
                        mine.year_end - timedelta(days=1), format="medium", locale=locale
                    ),
                    "has_pending": mine.pending_cents > 0,
                },
                "requests": [
                    {
                        "course_id": r.course_id,
                        "course": r.course_title,
                        "cost": euros(r.cost_cents, locale),
                        "stage": r.stage,
                        "stage_label": gettext(REQUEST_STAGES[r.stage]),
                        "date": _date(r.requested_at, locale, tz),
                        "decided": _date(r.decided_at, locale, tz) if r.decided_at else "",
                        "by": r.decided_by_name or r.manager_name,
                        "note": r.decision_note,
                    }
                    for r in mine.requests
                ],
            },
            locale=locale,
        )

    @get("/catalogue/{course_id:int}", name="course-page")
    async def course_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, course_id: int
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        return await self._course(request, db_session, principal, course_id)

    @post("/catalogue/{course_id:int}/testimonial", name="testimonial-form")
    async def write_testimonial(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        course_id: int,
        data: Annotated[TestimonialForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        text = data.text.replace("\x00", "").strip()
        error = None
        if len(text) < testimonials.MIN_LENGTH:
            error = N_("Write at least 10 characters.")
        elif len(text) > testimonials.MAX_LENGTH:
            error = N_("Keep it under 1000 characters.")
        if error is not None:
            return await self._course(
                request, db_session, principal, course_id, draft=text, error=error, status_code=400
            )
        scope = OrgScope(db_session, principal)
        try:
            saved = await testimonials.write_testimonial(scope, course_id, text, source="pwa")
        except NotFoundException:
            return not_found_page(request, choose_locale(request, principal))
        outcome = f"xp={saved.xp}" if saved.created else "updated=1"
        suffix = _lang_suffix(request)
        return Redirect(f"/catalogue/{course_id}?{outcome}{suffix}#testimonials", status_code=303)

    @post("/catalogue/{course_id:int}/request", name="training-request-form")
    async def request_training(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, course_id: int
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        scope = OrgScope(db_session, principal)
        try:
            await budgets.request_training(scope, course_id)
        except NotFoundException:
            return not_found_page(request, choose_locale(request, principal))
        except ClientException:
            return await self._course(
                request,
                db_session,
                principal,
                course_id,
                request_error=N_("This course is free: just start, no request needed."),
                status_code=400,
            )
        suffix = _lang_suffix(request)
        return Redirect(f"/catalogue/{course_id}?requested=1{suffix}#budget", status_code=303)

    async def _course(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        course_id: int,
        *,
        draft: str | None = None,
        error: str | None = None,
        request_error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        locale = choose_locale(request, principal)
        set_locale(locale)
        scope = OrgScope(db_session, principal)
        # four statements: the frame, the course (with "completed" and the budget totals),
        # its testimonials and my budget request for it
        frame = await learner_page.read_frame(scope)
        try:
            view = await learner_page.read_course(scope, frame, course_id)
        except NotFoundException:
            return not_found_page(request, locale)
        course, completed, budget = view.course, view.completed, view.budget
        organisation = frame.organisation
        rules = org_rules(organisation).xp
        approval_needed = testimonials.need_approval_in(organisation)
        said = await testimonials.list_testimonials(
            scope, course_id, approval_needed=approval_needed, course_checked=True
        )
        asked = await budgets.my_request(scope, course_id)
        mine = next((t for t in said if t.mine), None)
        params = request.query_params
        saved_xp = _small_int(params.get("xp"))
        return render(
            request,
            "course.html",
            {
                "course": _card(course, locale),
                "back_url": _back_to_catalogue(request),
                "completed": completed,
                "completion_xp": completion_xp(organisation, course, principal.timezone),
                "testimonial_xp": rules.testimonial_xp,
                "testimonials": [
                    {
                        "name": t.display_name,
                        "text": t.text,
                        "mine": t.mine,
                        # the author's own: "waiting for approval" / "hidden by L&D" (only to them)
                        "status": t.status.value,
                        "date": _date(t.created_at, locale, principal.timezone),
                    }
                    for t in said
                ],
                "mine": mine,
                "need_approval": approval_needed,
                "draft": draft if draft is not None else (mine.text if mine else ""),
                "error": gettext(error) if error else None,
                "saved_xp": saved_xp,
                "updated": params.get("updated") == "1",
                "budget_left": euros(budget.left_cents, locale),
                "fits_budget": course.cost_cents <= budget.left_cents,
                "asked": {
                    "status": asked.status,
                    "date": _date(asked.created_at, locale, principal.timezone),
                    "note": asked.decision_note,
                    "completed": completed and asked.status == "approved",
                }
                if asked
                else None,
                "budget_committed": euros(budget.committed_cents, locale),
                "budget_spent": euros(budget.spent_cents, locale),
                "just_requested": params.get("requested") == "1",
                "request_error": gettext(request_error) if request_error else None,
            },
            locale=locale,
            status_code=status_code,
        )


def _back_to_catalogue(request: Request[Any, Any, Any]) -> str:
    """The catalogue view the learner came from (its search, filters and page), else the
    catalogue itself; only ever a path of this app's catalogue."""
    came_from = urlsplit(request.headers.get("referer", ""))
    same_site = came_from.netloc in ("", request.headers.get("host", ""))
    if came_from.path == "/catalogue" and came_from.query and same_site:
        return f"/catalogue?{came_from.query}"
    return "/catalogue"


def _lang_suffix(request: Request[Any, Any, Any]) -> str:
    """Keeps an explicit ``?lang=`` across a form's redirect back to the course."""
    lang = request.query_params.get("lang")
    return f"&lang={lang}" if lang in ("nl", "en") else ""


def _date(value: datetime, locale: str, timezone: str) -> str:
    return format_date(local_day(value, timezone), format="medium", locale=locale)
