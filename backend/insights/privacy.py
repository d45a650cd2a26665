"""The privacy floor: the one place every aggregate about people goes through.

Managers and L&D see learning as aggregates, never one person's activity. An aggregate is
computed over a ``Group`` of learners (the organisation, a team, a job family within them),
and ``group_for`` is the only way to make one: it checks that the caller may see that group
and that it holds at least the organisation's minimum group size ("the floor"). A breakdown
of a group (a row per competency, per challenge) shows a row only when ``visible``: at least
the floor's number of distinct learners are in it.

The floor is the organisation's ``min_group_size`` when L&D set one (never below 3), else
``LEARNLOOP_MIN_GROUP_SIZE`` (default 5).
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, cast

from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy import ColumnElement, func, select, true
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import Organisation, Team, TeamMembership, User
from backend.settings import get_settings
from backend.teams.services import is_team_manager
from backend.tenancy import OrgScope

LOWEST_FLOOR = 3


def floor_of(organisation: Organisation) -> int:
    """The smallest group any figure may be about in ``organisation``."""
    return floor_of_settings(organisation.settings)


def floor_of_settings(settings: dict[str, Any] | None) -> int:
    """The smallest group any figure may be about under an organisation's ``settings``."""
    chosen = (settings or {}).get("min_group_size")
    if isinstance(chosen, int) and not isinstance(chosen, bool):
        return max(chosen, LOWEST_FLOOR)
    return max(get_settings().min_group_size, LOWEST_FLOOR)


class GroupTooSmall(PermissionDeniedException):
    """A 403: the asked-for group has fewer learners than the floor (no figure is shown)."""

    def __init__(self, floor: int, label: str) -> None:
        self.floor = floor
        self.label = label
        super().__init__(
            detail=f"{label} has fewer than {floor} learners: figures are only shown for "
            f"groups of at least {floor} people, so no one's learning can be singled out",
            extra={"min_group_size": floor},
        )


@dataclass(frozen=True)
class Group:
    """Learners an aggregate is about; made only by ``group_for`` (which checks the floor)."""

    organisation_id: int
    team_id: int | None  # None: the whole organisation
    job_family: str | None
    size: int
    floor: int
    label: str  # the team's name, or the organisation's

    def where(self, user_id: Any) -> ColumnElement[bool]:
        """Rows whose ``user_id`` column is one of this group's learners."""
        return cast(ColumnElement[bool], col(user_id).in_(members_query(self)))

    def visible(self, learners: int) -> bool:
        return visible(learners, self)


def visible(learners: int, group: Group) -> bool:
    """Whether a breakdown cell with ``learners`` distinct people in it may be shown."""
    return at_floor(learners, group.floor)


def at_floor(learners: int, floor: int) -> bool:
    """The rule itself: a figure about ``learners`` people may be shown."""
    return learners >= floor


def _counted_members(organisation_id: int, team_ids: Any) -> Any:
    """(team, learner) of the teams ``team_ids`` (a list or a subquery): their active
    members who do not manage the team, as team challenges count them."""
    return (
        select(col(TeamMembership.team_id), col(TeamMembership.user_id))
        .join(User, col(User.id) == col(TeamMembership.user_id))
        .where(
            col(TeamMembership.organisation_id) == organisation_id,
            col(TeamMembership.team_id).in_(team_ids),
            col(TeamMembership.is_manager).is_(False),
            col(User.is_active).is_(True),
        )
    )


def members_query(group: Group) -> Any:
    """SELECT of the group's learners' ids: active people of the organisation; for a team its
    counted members (``_counted_members``)."""
    query = select(col(User.id)).where(
        col(User.organisation_id) == group.organisation_id,
        col(User.is_active).is_(True),
        (col(User.job_family) == group.job_family) if group.job_family else true(),
    )
    if group.team_id is not None:
        counted = _counted_members(group.organisation_id, [group.team_id]).subquery()
        query = query.where(col(User.id).in_(select(counted.c.user_id)))
    return query


async def may_see_team(scope: OrgScope, team_id: int) -> bool:
    """L&D admins see every team; a manager the teams they manage."""
    if scope.principal.is_ld_admin:
        return True
    if not scope.principal.is_manager or scope.principal.user_id is None:
        return False
    return await is_team_manager(scope, team_id)


async def group_for(
    scope: OrgScope, *, team_id: int | None = None, job_family: str | None = None
) -> Group:
    """The group of learners the caller asks figures about, if they may see it and it is at
    least the floor's size; else 403 (``GroupTooSmall`` for a small group) or 404."""
    organisation = await scope.organisation()
    assert organisation.id is not None
    label = organisation.name
    if team_id is None:
        if not scope.principal.is_ld_admin:
            raise PermissionDeniedException("choose one of the teams you manage (team=…)")
    else:
        team = await scope.get(Team, team_id, what="team")
        if not await may_see_team(scope, team_id):
            if scope.principal.is_manager:
                raise PermissionDeniedException(f"you do not manage team {team_id}")
            raise NotFoundException(f"team {team_id} not found")
        label = team.name
    group = Group(
        organisation_id=organisation.id,
        team_id=team_id,
        job_family=job_family or None,
        size=0,
        floor=floor_of(organisation),
        label=label,
    )
    size = await scope.session.scalar(
        select(func.count()).select_from(members_query(group).subquery())
    )
    if (size or 0) < group.floor:
        raise GroupTooSmall(group.floor, label)
    return replace(group, size=int(size or 0))


async def team_sizes(
    session: AsyncSession, organisation_id: int, team_ids: Iterable[int]
) -> dict[int, int]:
    """Counted members (active, not managing it) per team, as ``group_for`` counts them."""
    wanted = list(team_ids)
    if not wanted:
        return {}
    counted = _counted_members(organisation_id, wanted).subquery()
    conn = await session.connection()
    rows = await conn.execute(select(counted.c.team_id, func.count()).group_by(counted.c.team_id))
    return {team_id: int(count) for team_id, count in rows.all()}
