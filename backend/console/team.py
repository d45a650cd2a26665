"""Console pages for leaders: my team at a glance, sponsoring a team challenge, kudos.

Managers see the teams they manage, L&D admins every team (``teams_i_lead``). The team
view shows aggregates only, all through ``backend.insights.privacy.group_for``: below the
privacy floor the page says so (403) instead of showing figures. Sponsoring and closing a
challenge and sending kudos go through the same services as the JSON API.
"""

from contextlib import suppress
from datetime import date, timedelta
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from litestar import Request, get, post
from litestar.exceptions import ClientException, NotFoundException, ValidationException
from litestar.response import Redirect, Template
from pydantic import ValidationError

from backend.challenges import services as challenges
from backend.challenges.schemas import ChallengePublic, TeamChallengeClose, TeamChallengeCreate
from backend.console.challenges import period_text
from backend.console.shell import (
    ManagerConsoleController,
    console_page,
    flash,
    floor_page,
    form_errors,
    redirect,
    use_locale,
)
from backend.db.models import Challenge
from backend.insights.privacy import GroupTooSmall, floor_of, group_for
from backend.kudos import service as kudos
from backend.kudos.schemas import MAX_MESSAGE, KudosIn
from backend.teams.overview import (
    TeamOverview,
    WeekPoint,
    default_team,
    open_challenge,
    team_overview,
)
from backend.teams.services import teams_i_lead
from backend.tenancy import OrgScope
from gamification.periods import next_week_start
from pwa.i18n import N_, gettext, ngettext

SECTION = "team"
FIELDS = (
    "title",
    "description",
    "target_kind",
    "minutes",
    "share_percent",
    "days_per_week",
    "weeks",
    "starts_on",
    "ends_on",
    "pledge",
    "message",
)
TARGET_KINDS = (
    ("team_minutes", N_("Minutes of learning together")),
    ("participation", N_("Taking part: the team learns every week")),
)
STREAK_LABELS = {
    "none": N_("No streak"),
    "1-2": N_("1–2"),
    "3-6": N_("3–6"),
    "7-13": N_("7–13"),
    "14+": N_("14 or more"),
}
# the 12-week chart: bars in a 240 x 64 box
CHART_WIDTH, CHART_HEIGHT, BAR_GAP = 240, 64, 4


def _team_param(request: Request[Any, Any, Any]) -> int | None:
    raw = request.query_params.get("team")
    if raw is None or raw == "":
        return None
    if not raw.isdecimal() or len(raw) > 9:
        raise NotFoundException(f"team {raw[:20]} not found")
    return int(raw)


async def _teams(
    request: Request[Any, Any, Any], org: OrgScope
) -> tuple[list[tuple[int, str]], int | None]:
    """The teams the caller leads and the chosen one (the asked-for team, else the first);
    whether they may see an asked-for team is for ``group_for`` to say."""
    led = await teams_i_lead(org)
    wanted = _team_param(request)
    if wanted is not None:
        return led, wanted
    return led, await default_team(org, led)


def _bars(weeks: list[WeekPoint], locale: str) -> list[dict[str, Any]]:
    """The 12-week chart's bars (share of the team active), heights in the SVG's units."""
    width = (CHART_WIDTH - BAR_GAP * (len(weeks) - 1)) / len(weeks)
    bars = []
    for i, point in enumerate(weeks):
        height = round(point.active_share * (CHART_HEIGHT - 2), 1)
        bars.append(
            {
                "x": round(i * (width + BAR_GAP), 1),
                "y": round(CHART_HEIGHT - height, 1),
                "width": round(width, 1),
                "height": max(height, 1),
                "current": i == len(weeks) - 1,
                "label": format_date(point.week, "d MMM", locale=locale),
            }
        )
    return bars


def goal_sentence(challenge: ChallengePublic, locale: str) -> str:
    """What the team aims for, in words (as the learner's team page says it)."""
    team = challenge.team
    assert team is not None
    if team.target_kind == "participation":
        return gettext("Goal: %(share)s of the team learns on %(days)s days a week") % {
            "share": format_percent(team.member_share or 0, locale=locale),
            "days": team.days_per_week,
        }
    return gettext("Goal: %(minutes)s minutes of learning together") % {
        "minutes": format_decimal(team.target_minutes or 0, locale=locale)
    }


def figure_sentence(challenge: ChallengePublic, locale: str) -> str:
    team = challenge.team
    assert team is not None
    if team.target_kind == "participation":
        return gettext(N_("%(done)s of %(target)s weeks reached")) % {
            "done": team.weeks_reached or 0,
            "target": team.weeks or 0,
        }
    return gettext(N_("%(done)s of %(goal)s minutes")) % {
        "done": format_decimal(team.team_minutes or 0, locale=locale),
        "goal": format_decimal(team.target_minutes or 0, locale=locale),
    }


def _challenge_card(challenge: ChallengePublic, locale: str) -> dict[str, Any]:
    team = challenge.team
    assert team is not None
    return {
        "c": challenge,
        "closed": team.closed_at is not None,
        "percent": round(min(challenge.progress or 0.0, 1.0) * 100),
        "figures": team.figures_shown and challenge.progress is not None,
        "period": period_text(challenge.starts_on, challenge.ends_on, locale),
        "starts": format_date(challenge.starts_on, "EEEE d MMMM", locale=locale),
        "goal": goal_sentence(challenge, locale),
        "figure": figure_sentence(challenge, locale),
    }


def _defaults(today: date, members: int) -> dict[str, Any]:
    monday = next_week_start(today)
    return {
        "target_kind": "team_minutes",
        "minutes": str(max(members, 1) * 120),
        "share_percent": "80",
        "days_per_week": "2",
        "weeks": "2",
        "starts_on": monday.isoformat(),
        "ends_on": (monday + timedelta(days=13)).isoformat(),
    }


def _document(values: dict[str, str]) -> dict[str, Any]:
    """The API document of the sponsor form (strings left for the schema to check)."""
    target: dict[str, Any]
    if values.get("target_kind") == "participation":
        share = values.get("share_percent") or ""
        target = {
            "kind": "participation",
            "member_share": int(share) / 100 if share.isdecimal() else share or None,
            "days_per_week": values.get("days_per_week") or None,
            "weeks": values.get("weeks") or None,
        }
    else:
        target = {"kind": "team_minutes", "minutes": values.get("minutes") or None}
    return {
        "title": values.get("title", ""),
        "description": values.get("description", ""),
        "pledge": values.get("pledge", ""),
        "message": values.get("message", ""),
        "starts_on": values.get("starts_on") or None,
        "ends_on": values.get("ends_on") or None,
        "target": target,
    }


def _schema_errors(error: ValidationError) -> dict[str, str]:
    """Per form field; a target problem is marked on the target's field it is about."""
    errors = form_errors(error)
    if "target" in errors:
        loc = next(
            (
                [str(p) for p in problem["loc"]]
                for problem in error.errors()
                if problem["loc"][0] == "target"
            ),
            [],
        )
        name = loc[-1] if len(loc) > 2 else "minutes"
        errors[{"member_share": "share_percent"}.get(name, name)] = errors.pop("target")
    return errors


def _service_errors(exc: ValidationException | ClientException, floor: int) -> dict[str, str]:
    problems = exc.extra if isinstance(exc.extra, list) else []
    errors: dict[str, str] = {}
    for problem in problems:
        key = str(problem.get("key", "")) if isinstance(problem, dict) else ""
        message = str(problem.get("message", "")) if isinstance(problem, dict) else ""
        if key == "starts_on" and "past" in message:
            errors[key] = gettext(N_("A challenge cannot start in the past."))
        elif key == "starts_on":
            errors[key] = gettext(N_("A challenge starts at most a year ahead."))
        elif key == "ends_on" and "after" in message:
            errors[key] = gettext(N_("The end must be after the start."))
        elif key == "ends_on":
            errors[key] = gettext(N_("A challenge lasts at most 90 days."))
        elif key == "target.weeks":
            errors["weeks"] = gettext(
                N_("The period holds fewer full weeks (Monday to Sunday) than that.")
            )
        elif key == "team":
            errors["__all__"] = _too_small(floor)
    if not errors:
        errors["__all__"] = str(exc.detail)
    return errors


def _too_small(floor: int) -> str:
    return gettext(
        N_(
            "This team has fewer than %(floor)s members who take part. A team challenge "
            "shows the team's progress, and in a smaller team that would show one "
            "colleague's learning, so it needs at least %(floor)s people."
        )
    ) % {"floor": floor}


class ConsoleTeamController(ManagerConsoleController):
    path = "/console/team"

    async def _overview_page(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        *,
        kudos_values: dict[str, Any] | None = None,
        kudos_error: str = "",
        status_code: int = 200,
    ) -> Template:
        locale = use_locale(request)
        title = gettext(N_("Team view"))
        led, team_id = await _teams(request, org)
        if team_id is None:
            return console_page(
                request,
                "console/team/overview.html",
                {"overview": None, "teams": led},
                section=SECTION,
                title=title,
            )
        try:
            overview: TeamOverview = await team_overview(org, team_id)
        except GroupTooSmall as exc:
            return floor_page(request, exc, section=SECTION, title=title)
        size = overview.members
        return console_page(
            request,
            "console/team/overview.html",
            {
                "overview": overview,
                "teams": led,
                "team_id": team_id,
                "bars": _bars(overview.weeks, locale),
                "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT},
                "weeks": [
                    {
                        "label": format_date(w.week, "d MMM", locale=locale),
                        "active": w.active,
                        "share": format_percent(w.active_share, locale=locale),
                        "minutes": format_decimal(w.minutes, locale=locale)
                        if w.minutes is not None
                        else gettext(N_("fewer than %(floor)s")) % {"floor": overview.floor},
                    }
                    for w in overview.weeks
                ],
                "streaks": [
                    {"label": gettext(STREAK_LABELS[b.key]), "learners": b.learners}
                    for b in overview.streaks
                ],
                "streak_unit": gettext(N_("weeks in a row"))
                if overview.streak_mode == "weekly"
                else gettext(N_("days in a row")),
                "pct": lambda share: format_percent(share, locale=locale),
                "num": lambda value: format_decimal(value, locale=locale),
                "size": size,
                "cards": [_challenge_card(c, locale) for c in overview.challenges if c.team],
                "kudos_to": await kudos.teammates(org, team_id),
                "kudos_values": kudos_values or {},
                "kudos_error": kudos_error,
                "max_message": MAX_MESSAGE,
                "members_text": ngettext(
                    "%(num)d member takes part", "%(num)d members take part", size
                )
                % {"num": size},
            },
            section=SECTION,
            title=title,
            status_code=status_code,
        )

    @get("/", name="console:team-view", opt={"aggregate": True})
    async def team_view(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        return await self._overview_page(request, org)

    # --- kudos ---------------------------------------------------------------------------

    @post("/kudos", name="console:team-view:kudos")
    async def send_kudos(
        self, request: Request[Any, Any, Any], org: OrgScope
    ) -> Template | Redirect:
        use_locale(request)
        team_id = _team_param(request)
        if team_id is None:
            raise NotFoundException("choose a team (team=…)")
        if team_id not in {tid for tid, _ in await teams_i_lead(org)}:
            await group_for(org, team_id=team_id)  # says 403 or 404 as for the figures
            raise NotFoundException(f"team {team_id} not found")
        form = await request.form()
        to_user = str(form.get("to_user_id", "")).strip()
        message = str(form.get("message", "")).strip()
        allowed = {uid for uid, _ in await kudos.teammates(org, team_id)}
        error = ""
        status = 400
        if not to_user.isdecimal() or int(to_user) not in allowed:
            error = gettext("Choose a teammate.")
        elif not message:
            error = gettext("Write a short message.")
        elif len(message) > MAX_MESSAGE:
            error = gettext("Keep it short: at most 280 characters.")
        else:
            try:
                sent = await kudos.send_kudos(
                    org, KudosIn(to_user_id=int(to_user), message=message)
                )
            except ClientException as exc:
                if exc.status_code != 429:
                    raise
                error = gettext("You sent a lot of kudos today. Try again tomorrow.")
                status = 429
            else:
                flash(request, gettext(N_("Kudos sent to %(name)s.")) % {"name": sent.to_name})
                return redirect("/console/team", team=team_id)
        return await self._overview_page(
            request,
            org,
            kudos_values={"to_user_id": to_user, "message": message[:MAX_MESSAGE]},
            kudos_error=error,
            status_code=status,
        )

    # --- sponsoring a challenge ----------------------------------------------------------

    async def _form(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        team_id: int,
        *,
        values: dict[str, Any],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        use_locale(request)
        led = await teams_i_lead(org)
        names = dict(led)
        if team_id not in names:
            await group_for(org, team_id=team_id)  # 403/404 for a team I do not lead
            raise NotFoundException(f"team {team_id} not found")
        organisation = await org.organisation()
        floor = floor_of(organisation)
        too_small = ""
        try:
            await group_for(org, team_id=team_id)
        except GroupTooSmall:
            too_small = _too_small(floor)
        return console_page(
            request,
            "console/team/challenge_form.html",
            {
                "team_id": team_id,
                "team_name": names[team_id],
                "values": values,
                "errors": errors,
                "too_small": too_small,
                "target_kinds": [(k, gettext(label)) for k, label in TARGET_KINDS],
            },
            section=SECTION,
            title=gettext(N_("Sponsor a team challenge")),
            status_code=status_code,
        )

    @get("/challenges/new", name="console:team-view:challenge-new")
    async def new_challenge(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        use_locale(request)
        _, team_id = await _teams(request, org)
        if team_id is None:
            raise NotFoundException("you lead no team")
        today = challenges._org_today(await org.organisation())
        members = 0
        with suppress(GroupTooSmall):
            members = (await group_for(org, team_id=team_id)).size
        return await self._form(request, org, team_id, values=_defaults(today, members), errors={})

    @post("/challenges/new", name="console:team-view:challenge-create")
    async def create_challenge(
        self, request: Request[Any, Any, Any], org: OrgScope
    ) -> Template | Redirect:
        use_locale(request)
        team_id = _team_param(request)
        if team_id is None:
            raise NotFoundException("choose a team (team=…)")
        form = await request.form()
        values = {name: str(form.get(name, "")).strip() for name in FIELDS}
        floor = floor_of(await org.organisation())
        try:
            data = TeamChallengeCreate.model_validate(_document(values))
            created = await challenges.create_team_challenge(org, team_id, data)
        except ValidationError as exc:
            errors = _schema_errors(exc)
        except (ValidationException, ClientException) as exc:
            if exc.status_code in (403, 404):
                raise
            errors = _service_errors(exc, floor)
        else:
            flash(
                request,
                gettext(N_("“%(title)s” is sponsored; the team has been told."))
                % {"title": created.title},
            )
            return redirect(f"/console/team/challenges/{created.id}")
        await org.session.rollback()
        return await self._form(
            request, org, team_id, values=values, errors=errors, status_code=400
        )

    # --- one challenge -------------------------------------------------------------------

    async def _challenge_page(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        challenge_id: int,
        *,
        close_value: str = "",
        close_error: str = "",
        status_code: int = 200,
    ) -> Template:
        locale = use_locale(request)
        try:
            row: Challenge = await open_challenge(org, challenge_id)
        except GroupTooSmall as exc:
            return floor_page(request, exc, section=SECTION, title=gettext(N_("Team view")))
        shown = await challenges.get_challenge(org, challenge_id)
        today = challenges._org_today(await org.organisation())
        card = _challenge_card(shown, locale)
        return console_page(
            request,
            "console/team/challenge.html",
            {
                "card": card,
                "c": shown,
                "t": shown.team,
                "team_id": row.team_id,
                "can_close": row.closed_at is None and row.starts_on <= today,
                "ends_early": row.ends_on > today,
                "close_value": close_value,
                "close_error": close_error,
                "num": lambda value: format_decimal(value, locale=locale),
            },
            section=SECTION,
            title=shown.title,
            status_code=status_code,
        )

    @get("/challenges/{challenge_id:int}", name="console:team-view:challenge")
    async def challenge_page(
        self, request: Request[Any, Any, Any], org: OrgScope, challenge_id: int
    ) -> Template:
        return await self._challenge_page(request, org, challenge_id)

    @post("/challenges/{challenge_id:int}/close", name="console:team-view:challenge-close")
    async def close_challenge(
        self, request: Request[Any, Any, Any], org: OrgScope, challenge_id: int
    ) -> Template | Redirect:
        use_locale(request)
        row = await open_challenge(org, challenge_id)
        form = await request.form()
        message = str(form.get("message", "")).strip()
        error = ""
        try:
            data = TeamChallengeClose.model_validate({"message": message})
            await challenges.close_team_challenge(org, challenge_id, data)
        except ValidationError as exc:
            error = next(iter(form_errors(exc).values()))
        except ClientException as exc:
            if exc.status_code != 409:
                raise
            error = gettext(
                N_("Only a challenge that has started and is not closed yet can be closed.")
            )
        else:
            flash(request, gettext(N_("Closed. The team gets your message.")))
            return redirect("/console/team", team=row.team_id)
        await org.session.rollback()
        return await self._challenge_page(
            request, org, challenge_id, close_value=message, close_error=error, status_code=400
        )


CONTROLLERS = [ConsoleTeamController]
