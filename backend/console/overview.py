"""The console's start page: where the programme stands, and what to set up next."""

from dataclasses import dataclass
from typing import Any

from litestar import Request, get
from litestar.response import Template
from sqlmodel import col, func, select

from backend.console.shell import ConsoleController, console_page, use_locale
from backend.db.models import (
    ApiKey,
    BadgeDefinition,
    Challenge,
    Course,
    LearningEvent,
    Team,
    User,
    WebhookSecret,
)
from backend.tenancy import OrgScope
from pwa.i18n import N_, gettext


@dataclass(frozen=True)
class Step:
    title: str
    text: str
    href: str
    done: bool


async def _count(org: OrgScope, model: Any, *conditions: Any) -> int:
    stmt = select(func.count()).select_from(model).where(org.owns(model), *conditions)
    return int((await org.session.exec(stmt)).one())


class ConsoleOverviewController(ConsoleController):
    path = "/console"

    @get("/", name="console:overview")
    async def overview(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        use_locale(request)
        people = await _count(org, User, col(User.is_active).is_(True))
        teams = await _count(org, Team)
        courses = await _count(org, Course)
        badges = await _count(org, BadgeDefinition, col(BadgeDefinition.is_active).is_(True))
        challenges = await _count(org, Challenge, Challenge.kind == "individual")
        keys = await _count(org, ApiKey, col(ApiKey.revoked_at).is_(None))
        secrets = await _count(org, WebhookSecret, col(WebhookSecret.revoked_at).is_(None))
        # a voided statement's event is no learning (backend.learning.voiding)
        learned = await _count(org, LearningEvent, col(LearningEvent.voided).is_(False))
        steps = [
            Step(
                gettext(N_("Add your people")),
                gettext(N_("Invite colleagues one by one or import them from a CSV file.")),
                "/console/people",
                people > 1,
            ),
            Step(
                gettext(N_("Put them in teams")),
                gettext(N_("Teams get their own challenges; managers see how their team does.")),
                "/console/teams",
                teams > 0,
            ),
            Step(
                gettext(N_("Fill the catalogue")),
                gettext(N_("All trainings in one place: add courses or import your LMS export.")),
                "/console/courses",
                courses > 0,
            ),
            Step(
                gettext(N_("Design badges")),
                gettext(N_("Reward what matters to your organisation.")),
                "/console/badges",
                badges > 0,
            ),
            Step(
                gettext(N_("Start a kick-off challenge")),
                gettext(N_("A few weeks with a shared goal gets the habit going.")),
                "/console/challenges",
                challenges > 0,
            ),
            Step(
                gettext(N_("Connect your LMS")),
                gettext(N_("Create a key so completions arrive by themselves.")),
                "/console/integrations",
                keys + secrets > 0,
            ),
        ]
        # nudges work from the first day with the defaults: a step to revisit, not to tick
        steps.insert(
            5,
            Step(
                gettext(N_("Tune the nudges")),
                gettext(N_("Quiet hours, weekends and the words of each reminder.")),
                "/console/nudges",
                all(step.done for step in steps[:5]),
            ),
        )
        stats = [
            (gettext(N_("Active people")), people, "/console/people"),
            (gettext(N_("Teams")), teams, "/console/teams"),
            (gettext(N_("Courses")), courses, "/console/courses"),
            (gettext(N_("Active badges")), badges, "/console/badges"),
            (gettext(N_("Learning activities recorded")), learned, "/console/integrations"),
        ]
        return console_page(
            request,
            "console/overview.html",
            {"steps": steps, "stats": stats, "open_steps": sum(not s.done for s in steps)},
            section="home",
            title=gettext(N_("Overview")),
        )


CONTROLLERS = [ConsoleOverviewController]
