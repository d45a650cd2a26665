"""The learner's "My team" page: the team's active challenges and its weekly leaderboard.

Read-only. Privacy as in the API: a challenge shows team aggregates and my own contribution,
never another member's numbers; the leaderboard lists only colleagues who opted in, and my
own place always.
"""

from dataclasses import dataclass
from typing import Any

from babel.numbers import format_decimal, format_percent
from litestar import Controller, Request, get
from litestar.response import Redirect, Template
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.challenges.schemas import ChallengePublic
from backend.challenges.services import list_challenges
from backend.db.models import Team, TeamMembership
from backend.progress.schemas import LeaderboardOut
from backend.progress.services import team_leaderboard
from backend.tenancy import OrgScope
from backend.web.pages import choose_locale, not_found_page, render, signed_in
from pwa.i18n import gettext, set_locale

LEADERBOARD_SIZE = 10


@dataclass(frozen=True)
class MyTeam:
    id: int
    name: str
    current: bool


@dataclass(frozen=True)
class TeamChallengeView:
    challenge: ChallengePublic
    percent: int
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
    return TeamChallengeView(challenge, round(min(challenge.progress, 1.0) * 100), goal)


class TeamPageController(Controller):
    include_in_schema = False

    @get("/team", name="team-page")
    async def team_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        locale = choose_locale(request, principal)
        set_locale(locale)
        scope = OrgScope(db_session, principal)
        teams = await my_teams(scope)

        wanted = request.query_params.get("team")
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
            rows = await list_challenges(scope, ["active"], team_id=current)
            challenges = [_view(c, locale) for c in rows if c.team is not None]
            board = await team_leaderboard(scope, current, None, LEADERBOARD_SIZE)
        return render(
            request,
            "team.html",
            {
                "teams": [MyTeam(team_id, name, team_id == current) for team_id, name in teams],
                "team_name": next((name for team_id, name in teams if team_id == current), ""),
                "challenges": challenges,
                "board": board,
                "others_on_board": bool(board and any(not e.is_me for e in board.entries)),
                "num": lambda value: format_decimal(value, locale=locale),
            },
            locale=locale,
        )
