"""The learner's goals page (``/goals``): open dated goals with their pace in words, a form
for a new one (a competency or a set of courses by a date), changing and finishing a goal,
and the goals finished so far.

Plain forms that work without JavaScript (post/redirect/get, with the CSRF token like every
learner form). Every change goes through ``backend.progress.services``, as the API's does;
bad input renders the page again with a message next to the form, and nothing is saved.
"""

import re
from datetime import date
from typing import Annotated, Any

from babel.dates import format_date
from babel.numbers import format_decimal
from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel, ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.catalogue.services import course_refs, list_competencies
from backend.progress import services as progress
from backend.progress.schemas import (
    MAX_GOAL_COUNT,
    DatedGoalChange,
    DatedGoalIn,
    DatedGoalOut,
    FinishedGoalOut,
)
from backend.tenancy import OrgScope
from backend.web.pages import choose_locale, local_now, render, signed_in
from gamification.goals import MAX_GOAL_COURSES
from pwa.i18n import N_, gettext, ngettext, set_locale

GOAL_ID = re.compile(r"^[0-9a-f]{1,40}$")
SAVED = {
    "created": N_("Your goal is set. Good luck!"),
    "changed": N_("Your goal is changed."),
    "reached": N_("Well done! Your goal is in your finished goals."),
    "stopped": N_("Your goal is closed and kept in your finished goals."),
}
# the pace in a word (the badge) and in a sentence (under the goal)
PACE_WORDS = {
    "ahead": N_("Ahead"),
    "on_track": N_("On track"),
    "behind": N_("Behind"),
    "done": N_("Done"),
    "missed": N_("Missed"),
}
PACE_SENTENCES = {
    "ahead": N_("You are ahead of schedule. Keep it up!"),
    "on_track": N_("You are on track."),
    "behind": N_("You are behind schedule: a little learning each day gets you there."),
    "done": N_("Reached! Finish it to keep it with your finished goals."),
    "missed": N_("Its date has passed. Give it a new date, or finish it."),
}


class GoalForm(BaseModel):
    kind: str = ""
    competency_id: str = ""
    count: str = ""
    # one "course_ids" field per ticked box (a list when several)
    course_ids: list[str] | str = []
    due_on: str = ""


class FormError(Exception):
    """A message for the learner about one form (``where``: "new" or a goal id)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


def _ids(value: list[str] | str) -> list[int]:
    raw = [value] if isinstance(value, str) else value
    ids: list[int] = []
    for item in raw:
        item = item.strip()
        if item:
            if not item.isdigit() or not 0 < int(item) < 2**31:
                raise ValueError(item)
            if int(item) not in ids:
                ids.append(int(item))
    return ids


def _due(value: str, where: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise FormError(where, N_("Choose the date you want to reach your goal by.")) from None


def _count(value: str, where: str) -> int:
    text = value.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_GOAL_COUNT:
        raise FormError(where, N_("Choose how many times: a number from 1 to 1000."))
    return int(text)


def _courses(value: list[str] | str, where: str) -> list[int]:
    try:
        ids = _ids(value)
    except ValueError:
        raise FormError(where, N_("Choose courses from the list.")) from None
    if not ids:
        raise FormError(where, N_("Choose at least one course."))
    if len(ids) > MAX_GOAL_COURSES:
        raise FormError(where, N_("Choose at most 10 courses for one goal."))
    return ids


def _new_goal(data: GoalForm) -> DatedGoalIn:
    due_on = _due(data.due_on, "new")
    try:
        if data.kind == "courses":
            return DatedGoalIn(
                kind="courses", course_ids=_courses(data.course_ids, "new"), due_on=due_on
            )
        if data.kind == "competency":
            competency = _ids(data.competency_id)
            if len(competency) != 1:
                raise FormError("new", N_("Choose a competency."))
            count = _count(data.count, "new")
            return DatedGoalIn(
                kind="competency_events",
                competency_id=competency[0],
                count=count,
                due_on=due_on,
            )
    except ValidationError:
        raise FormError("new", N_("This does not fit this goal.")) from None
    except ValueError:
        raise FormError("new", N_("Choose a competency.")) from None
    raise FormError("new", N_("Choose what your goal is about: a competency or courses."))


def _problem(exc: ClientException, where: str) -> FormError:
    """The service's refusal in the learner's words."""
    detail = str(exc.detail)
    if isinstance(exc, NotFoundException):
        if "course" in detail:
            return FormError(where, N_("One of these courses is not in your catalogue."))
        if "competency" in detail:
            return FormError(where, N_("This competency is not in your catalogue."))
        return FormError(where, N_("This goal does not exist (any more)."))
    if detail.startswith("due_on"):
        if "two years" in detail:
            return FormError(where, N_("Choose a date within two years."))
        return FormError(where, N_("Choose a date from today on: the past is done."))
    if exc.status_code == 409 and "reached" in detail:
        return FormError(where, N_("This goal is reached: finish it and set a new one."))
    if exc.status_code == 409:
        return FormError(where, N_("You have 20 open goals. Finish one first."))
    return FormError(where, N_("This does not fit this goal."))


class GoalsPageController(Controller):
    include_in_schema = False

    @get("/goals", name="goals-page")
    async def goals_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        saved = request.query_params.get("saved")
        return await self._render(request, OrgScope(db_session, principal), saved=saved)

    @post("/goals", name="goal-new-form")
    async def add(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        data: Annotated[GoalForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        org = OrgScope(db_session, principal)
        try:
            goal = await _guarded("new", progress.add_dated_goal(org, _new_goal(data)))
        except FormError as problem:
            return await self._render(request, org, problem=problem, draft=data)
        return Redirect(f"/goals?saved=created#goal-{goal.id}", status_code=303)

    @post("/goals/{goal_id:str}/change", name="goal-change-form")
    async def change(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        goal_id: str,
        data: Annotated[GoalForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        org = OrgScope(db_session, principal)
        try:
            _known(goal_id)
            change = DatedGoalChange(
                due_on=_due(data.due_on, goal_id),
                count=_count(data.count, goal_id) if data.kind == "competency_events" else None,
                course_ids=_courses(data.course_ids, goal_id) if data.kind == "courses" else None,
            )
            await _guarded(goal_id, progress.change_dated_goal(org, goal_id, change))
        except FormError as problem:
            return await self._render(request, org, problem=problem)
        return Redirect(f"/goals?saved=changed#goal-{goal_id}", status_code=303)

    @post("/goals/{goal_id:str}/finish", name="goal-finish-form")
    async def finish(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, goal_id: str
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        org = OrgScope(db_session, principal)
        try:
            _known(goal_id)
            finished = await _guarded(goal_id, progress.finish_dated_goal(org, goal_id))
        except FormError as problem:
            return await self._render(request, org, problem=problem)
        saved = "reached" if finished.outcome == "reached" else "stopped"
        return Redirect(f"/goals?saved={saved}#finished-title", status_code=303)

    async def _render(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        *,
        saved: str | None = None,
        problem: FormError | None = None,
        draft: GoalForm | None = None,
    ) -> Template:
        principal = org.principal
        locale = choose_locale(request, principal)
        set_locale(locale)
        goals = await progress.my_goals(org)
        courses = await course_refs(org)
        competencies = await list_competencies(org)
        today = local_now(principal.timezone).date()
        draft = draft or GoalForm(kind="competency", count="3")
        chosen = set(_ids_or_none(draft.course_ids))

        def num(value: int) -> str:
            return format_decimal(value, locale=locale)

        def when(day: date) -> str:
            return format_date(
                day, "d MMMM yyyy" if day.year != today.year else "d MMMM", locale=locale
            )

        return render(
            request,
            "goals.html",
            {
                "weekly": goals.weekly,
                "open": [_open_view(g, today, when, num) for g in goals.dated],
                "finished": [_finished_view(g, when, num) for g in goals.finished],
                "courses": [(c.id, c.title) for c in courses],
                "chosen": chosen,
                "competencies": [(c.id, c.name) for c in competencies],
                "draft": draft,
                "saved": gettext(SAVED[saved]) if saved in SAVED else "",
                "problem": _where(problem, goals.dated),
                "today_iso": today.isoformat(),
                "max_courses": MAX_GOAL_COURSES,
                "num": num,
            },
            locale=locale,
            status_code=400 if problem else 200,
        )


def _known(goal_id: str) -> None:
    if not GOAL_ID.match(goal_id):
        raise FormError("form", N_("This goal does not exist (any more)."))


async def _guarded(where: str, action: Any) -> Any:
    """Await a service call; its 4xx refusal becomes a message for the form ``where``."""
    try:
        return await action
    except ClientException as exc:
        raise _problem(exc, where) from None


def _where(problem: FormError | None, open_goals: list[DatedGoalOut]) -> dict[str, str]:
    """The message by the form it is about (a goal no longer open: the page's top)."""
    if problem is None:
        return {}
    where = problem.where
    if where != "new" and all(g.id != where for g in open_goals):
        where = "form"
    return {where: gettext(problem.message)}


def _ids_or_none(value: list[str] | str) -> list[int]:
    try:
        return _ids(value)
    except ValueError:
        return []


def _title(kind: str, course_title: str | None, competency: str | None, target: int) -> str:
    if kind == "finish_course":
        return gettext("Finish %(course)s") % {"course": course_title or gettext("a course")}
    if kind == "courses":
        return ngettext("Finish %(num)d course", "Finish %(num)d courses", target) % {"num": target}
    return gettext("%(count)s moments on %(competency)s") % {
        "count": target,
        "competency": competency or gettext("a competency"),
    }


def _days_left(goal: DatedGoalOut, today: date) -> str:
    days = (goal.due_on - today).days
    if goal.pace == "done":
        return ""
    if days < 0:
        return gettext("The date has passed")
    if days == 0:
        return gettext("Last day today")
    return ngettext("%(num)d day left", "%(num)d days left", days) % {"num": days}


def _open_view(goal: DatedGoalOut, today: date, when: Any, num: Any) -> dict[str, Any]:
    return {
        "goal": goal,
        "title": _title(goal.kind, goal.course_title, goal.competency_name, goal.target),
        "pace_word": gettext(PACE_WORDS[goal.pace]),
        "pace_sentence": gettext(PACE_SENTENCES[goal.pace]),
        "due": gettext("By %(date)s") % {"date": when(goal.due_on)},
        "days_left": _days_left(goal, today),
        "done": gettext("%(done)s of %(target)s")
        % {"done": num(goal.done), "target": num(goal.target)},
        "percent": round(goal.fraction * 100),
        "reached": goal.reached_on is not None,
        "course_ids": {c.id for c in goal.courses},
    }


def _finished_view(goal: FinishedGoalOut, when: Any, num: Any) -> dict[str, Any]:
    if goal.outcome == "reached" and goal.reached_on is not None:
        how = gettext("Reached on %(date)s") % {"date": when(goal.reached_on)}
    else:
        how = gettext("Closed on %(date)s with %(done)s of %(target)s") % {
            "date": when(goal.finished_on),
            "done": num(goal.done),
            "target": num(goal.target),
        }
    return {
        "goal": goal,
        "title": _title(goal.kind, goal.course_title, goal.competency_name, goal.target),
        "how": how,
        "reached": goal.outcome == "reached",
    }
