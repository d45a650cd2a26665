"""First run, "what's in it for me": a goal and a reminder time, what the organisation offers,
and only then an explained opt-in for notifications.

Three steps on ``/welcome?step=N``, each a plain page with plain forms (no JavaScript needed
except for the notification button itself, which never appears before step 3). Today offers
the introduction while ``onboarded_at`` is empty; "Skip" and "Done" set it. The page stays
reachable afterwards (Settings links to it).
"""

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.accounts import services as accounts
from backend.accounts.schemas import MeUpdate
from backend.budgets import services as budgets
from backend.catalogue import services as catalogue
from backend.progress import services as progress
from backend.progress.schemas import MAX_WEEKLY_GOAL_MINUTES
from backend.tenancy import OrgScope
from backend.web.catalogue_pages import euros
from backend.web.pages import choose_locale, render, signed_in
from backend.web.settings_page import CLOCK
from pwa.i18n import N_, gettext, set_locale

STEPS = 3
GOAL_CHOICES = (30, 60, 90, 120)
HOT_SHOWN = 4


class WelcomeForm(BaseModel):
    action: str = ""
    weekly_goal: str = ""
    reminder_time: str = ""


class WelcomePageController(Controller):
    include_in_schema = False

    @get("/welcome", name="welcome-page")
    async def welcome(
        self, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        raw = request.query_params.get("step", "1")
        step = int(raw) if raw in ("1", "2", "3") else 1
        return await self._render(request, OrgScope(db_session, principal), step)

    @post("/welcome", name="welcome-form")
    async def save(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        data: Annotated[WelcomeForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        scope = OrgScope(db_session, principal)
        if data.action == "goal":
            goal, reminder = data.weekly_goal.strip(), data.reminder_time.strip()
            if not goal.isdigit() or not 0 <= int(goal) <= MAX_WEEKLY_GOAL_MINUTES:
                message = N_("Choose a weekly goal between 0 and 1200 minutes.")
                return await self._render(request, scope, 1, error=message, status_code=400)
            if reminder and not CLOCK.match(reminder):
                message = N_("Choose a time like 08:30.")
                return await self._render(request, scope, 1, error=message, status_code=400)
            await progress.set_weekly_goal(scope, int(goal))
            await accounts.update_me(scope, MeUpdate(reminder_time=reminder or None))
            return Redirect("/welcome?step=2", status_code=303)
        if data.action in ("skip", "done"):
            await accounts.finish_onboarding(scope)
            return Redirect("/", status_code=303)
        return Redirect("/welcome", status_code=303)

    async def _render(
        self,
        request: Request[Any, Any, Any],
        scope: OrgScope,
        step: int,
        *,
        error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        principal = scope.principal
        assert principal.user_id is not None
        locale = choose_locale(request, principal)
        set_locale(locale)
        context: dict[str, Any] = {
            "step": step,
            "steps": STEPS,
            "error": gettext(error) if error else None,
            "first_name": principal.display_name.split(" ")[0],
        }
        if step == 1:
            profile = await accounts.me(scope.session, principal.user_id, scope.organisation_id)
            goals = await progress.my_goals(scope)
            context |= {
                "weekly_goal": goals.weekly.target_minutes,
                "goal_choices": GOAL_CHOICES,
                "reminder_time": profile.reminder_time or "",
            }
        elif step == 2:
            organisation = await scope.organisation()
            # the person's own yearly budget, as the budget rules count it
            budget = (await budgets.my_budget(scope, organisation)).yearly_cents
            hot = await catalogue.list_courses(scope, hot_skill=True, limit=HOT_SHOWN)
            every = await catalogue.list_courses(scope, limit=200)
            skills = sorted({c.name for course in hot for c in course.competencies})
            context |= {
                "organisation_name": organisation.name,
                "budget": euros(budget, locale) if budget else None,
                "hot_courses": hot,
                "hot_skills": skills,
                "course_count": len(every),
            }
        return render(request, "welcome.html", context, locale=locale, status_code=status_code)
