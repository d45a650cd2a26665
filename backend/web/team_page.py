"""The learner's "My team" page: the team's active challenges, its weekly leaderboard and
the kudos I received, with a plain form to send kudos to a teammate.

Privacy as in the API: a challenge shows team aggregates and my own contribution,
never another member's numbers; the leaderboard lists only colleagues who opted in, and my
own place always.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel, ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.challenges.schemas import ChallengePublic
from backend.challenges.services import list_challenges
from backend.db.models import Team, TeamMembership
from backend.db.types import utcnow
from backend.kudos import service as kudos
from backend.kudos.schemas import MAX_MESSAGE, KudosIn
from backend.kudos.service import teammates
from backend.progress.schemas import LeaderboardOut
from backend.progress.services import team_leaderboard
from backend.tenancy import OrgScope
from backend.web.pages import choose_locale, not_found_page, render, signed_in
from pwa.i18n import N_, gettext, set_locale

LEADERBOARD_SIZE = 10
# a closed challenge's celebration stays on the team page this long
CELEBRATION_SHOWN = timedelta(days=14)
KUDOS_SHOWN = 20


class KudosForm(BaseModel):
    team: str = ""
    to_user_id: str = ""
    message: str = ""


@dataclass(frozen=True)
class MyTeam:
    id: int
    name: str
    current: bool


@dataclass(frozen=True)
class TeamChallengeView:
    challenge: ChallengePublic
    percent: int | None
    goal: str  # what the team aims for, in words


async def my_teams(scope: OrgScope) -> list[tuple[int, str]]:
    """The teams I belong to (as a member or a manager), by name."""
    query = (
        select(Team.id, Team.name)
        .join(TeamMembership, col(TeamMembership.team_id) == col(Team.id))
        .where(
            scope.owns(Team),
            scope.owns(TeamMembership),
            TeamMembership.user_id == scope.principal.user_id,
        )
        .order_by(col(Team.name), col(Team.id))
    )
    return [(team_id, name) for team_id, name in (await scope.session.exec(query)).all() if team_id]


def _view(challenge: ChallengePublic, locale: str) -> TeamChallengeView:
    team = challenge.team
    assert team is not None
    if team.target_kind == "participation":
        goal = gettext("Goal: %(share)s of the team learns on %(days)s days a week") % {
            "share": format_percent(team.member_share or 0, locale=locale),
            "days": team.days_per_week,
        }
    else:
        goal = gettext("Goal: %(minutes)s minutes of learning together") % {
            "minutes": format_decimal(team.target_minutes or 0, locale=locale)
        }
    if challenge.progress is None:  # a team below the privacy floor: no team figures
        return TeamChallengeView(challenge, None, goal)
    return TeamChallengeView(challenge, round(min(challenge.progress, 1.0) * 100), goal)


async def team_challenges_shown(scope: OrgScope, team_id: int) -> list[ChallengePublic]:
    """Running ones, then upcoming ones (a sponsored challenge shows from the day it is set,
    with its start date), then those closed lately with their celebration message."""
    current = await list_challenges(scope, ["active", "upcoming"], team_id=team_id)
    running = [c for c in current if c.status == "active"]
    upcoming = [c for c in current if c.status == "upcoming"]
    finished = await list_challenges(scope, ["finished"], team_id=team_id)
    since = utcnow() - CELEBRATION_SHOWN
    celebrated = [c for c in finished if c.team and c.team.closed_at and c.team.closed_at >= since]
    celebrated.sort(key=lambda c: (c.team.closed_at if c.team else None) or since, reverse=True)
    return running + upcoming + celebrated


class TeamPageController(Controller):
    include_in_schema = False

    @get("/team", name="team-page")
    async def team_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        return await self._render(
            request,
            OrgScope(db_session, principal),
            request.query_params.get("team"),
            sent=request.query_params.get("kudos") == "sent",
        )

    @get("/team/kudos", name="team-kudos-page")
    async def kudos_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        team = request.query_params.get("team")
        return await self._send_page(request, OrgScope(db_session, principal), team, {})

    @post("/team/kudos", name="team-kudos-form")
    async def send_kudos(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        data: Annotated[KudosForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        scope = OrgScope(db_session, principal)
        team = data.team if data.team.isdecimal() else None
        allowed = {
            uid for tid, _ in await my_teams(scope) for uid, _ in await teammates(scope, tid)
        }
        to_user = int(data.to_user_id) if data.to_user_id.isdecimal() else None
        message = data.message.strip()
        error: str | None = None
        status = 400
        if to_user is None or to_user not in allowed:
            error = N_("Choose a teammate.")
        elif not message:
            error = N_("Write a short message.")
        elif len(message) > MAX_MESSAGE:
            error = N_("Keep it short: at most 280 characters.")
        else:
            try:
                await kudos.send_kudos(scope, KudosIn(to_user_id=to_user, message=message))
            except (ValidationError, NotFoundException):
                error = N_("Choose a teammate.")
            except ClientException as exc:
                if exc.status_code != 429:
                    raise
                error = N_("You sent a lot of kudos today. Try again tomorrow.")
                status = 429
        if error is not None:
            form = {"to_user_id": to_user, "message": message[:MAX_MESSAGE], "error": error}
            return await self._send_page(request, scope, team, form, status_code=status)
        suffix = f"team={team}&" if team else ""
        return Redirect(f"/team?{suffix}kudos=sent#kudos-title", status_code=303)

    async def _send_page(
        self,
        request: Request[Any, Any, Any],
        scope: OrgScope,
        wanted: str | None,
        form: dict[str, Any],
        *,
        status_code: int = 200,
    ) -> Template:
        locale = choose_locale(request, scope.principal)
        set_locale(locale)
        teams = await my_teams(scope)
        current = teams[0][0] if teams else None
        if wanted is not None:
            chosen = int(wanted) if wanted.isdecimal() else None
            if chosen not in {team_id for team_id, _ in teams}:
                return not_found_page(request, locale)
            current = chosen
        if form.get("error"):
            form["error"] = gettext(form["error"])
        return render(
            request,
            "kudos_send.html",
            {
                "current_team": current,
                "teammates": await teammates(scope, current) if current is not None else [],
                "kudos_form": form,
                "max_message": MAX_MESSAGE,
            },
            locale=locale,
            status_code=status_code,
        )

    async def _render(
        self,
        request: Request[Any, Any, Any],
        scope: OrgScope,
        wanted: str | None,
        *,
        sent: bool = False,
    ) -> Template:
        principal = scope.principal
        locale = choose_locale(request, principal)
        set_locale(locale)
        teams = await my_teams(scope)

        current: int | None = teams[0][0] if teams else None
        if wanted is not None:
            # only my own teams: another team (of this or another organisation) is not found
            chosen = int(wanted) if wanted.isdecimal() else None
            if chosen not in {team_id for team_id, _ in teams}:
                return not_found_page(request, locale)
            current = chosen

        challenges: list[TeamChallengeView] = []
        board: LeaderboardOut | None = None
        if current is not None:
            rows = await team_challenges_shown(scope, current)
            challenges = [_view(c, locale) for c in rows if c.team is not None]
            board = await team_leaderboard(scope, current, None, LEADERBOARD_SIZE)
        received = await kudos.received(scope, KUDOS_SHOWN)
        zone = ZoneInfo(principal.timezone)
        return render(
            request,
            "team.html",
            {
                "teams": [MyTeam(team_id, name, team_id == current) for team_id, name in teams],
                "current_team": current,
                "team_name": next((name for team_id, name in teams if team_id == current), ""),
                "challenges": challenges,
                "starts": {
                    item.challenge.id: format_date(
                        item.challenge.starts_on, "EEEE d MMMM", locale=locale
                    )
                    for item in challenges
                },
                "board": board,
                "others_on_board": bool(board and any(not e.is_me for e in board.entries)),
                "num": lambda value: format_decimal(value, locale=locale),
                "kudos": [
                    {
                        "from": k.from_name,
                        "message": k.message,
                        "moment": k.moment,
                        "date": format_date(
                            k.created_at.astimezone(zone).date(), format="medium", locale=locale
                        ),
                    }
                    for k in received
                ],
                "kudos_sent": sent,
            },
            locale=locale,
        )
