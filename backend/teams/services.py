"""Teams: who belongs to which team and who manages it.

Every change to a team or its members goes through one function here, whoever asks
(the API today; a console page or an import tomorrow).
"""

from litestar.exceptions import ClientException
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from backend.db.models import Role, Team, TeamMembership, User
from backend.teams.schemas import MembershipUpdate, TeamCreate, TeamDetail, TeamMember, TeamPublic
from backend.tenancy import OrgScope


async def _members(org: OrgScope, team_id: int) -> list[TeamMember]:
    rows = (
        await org.session.exec(
            select(TeamMembership, User.display_name)
            .join(User, col(User.id) == col(TeamMembership.user_id))
            .where(org.owns(TeamMembership), col(TeamMembership.team_id) == team_id)
            .order_by(col(User.display_name))
        )
    ).all()
    return [
        TeamMember(user_id=m.user_id, display_name=name, is_manager=m.is_manager)
        for m, name in rows
    ]


async def _detail(org: OrgScope, team: Team) -> TeamDetail:
    assert team.id is not None
    members = await _members(org, team.id)
    return TeamDetail(
        id=team.id,
        name=team.name,
        member_count=len(members),
        managers=[m.display_name for m in members if m.is_manager],
        members=members,
    )


async def _membership(org: OrgScope, team_id: int, user_id: int) -> TeamMembership | None:
    query = org.select(TeamMembership).where(
        TeamMembership.team_id == team_id, TeamMembership.user_id == user_id
    )
    return (await org.session.exec(query)).first()


def grant_manager_role(org: OrgScope, user: User) -> None:
    """Whoever manages a team has the manager role (staged; the caller's commit saves it)."""
    if Role.manager.value not in user.roles:
        user.roles = sorted({*user.roles, Role.manager.value})
        org.session.add(user)


async def list_teams(org: OrgScope) -> list[TeamPublic]:
    teams = await org.all(org.select(Team).order_by(col(Team.name)))
    counts = dict(
        (
            await org.session.exec(
                select(TeamMembership.team_id, func.count())
                .where(org.owns(TeamMembership))
                .group_by(col(TeamMembership.team_id))
            )
        ).all()
    )
    manager_rows = (
        await org.session.exec(
            select(TeamMembership.team_id, User.display_name)
            .join(User, col(User.id) == col(TeamMembership.user_id))
            .where(org.owns(TeamMembership), col(TeamMembership.is_manager).is_(True))
            .order_by(col(User.display_name))
        )
    ).all()
    managers: dict[int, list[str]] = {}
    for team_id, name in manager_rows:
        managers.setdefault(team_id, []).append(name)
    return [
        TeamPublic(
            id=t.id or 0,
            name=t.name,
            member_count=counts.get(t.id or 0, 0),
            managers=managers.get(t.id or 0, []),
        )
        for t in teams
    ]


async def get_team(org: OrgScope, team_id: int) -> TeamDetail:
    return await _detail(org, await org.get(Team, team_id, what="team"))


async def create_team(org: OrgScope, data: TeamCreate) -> TeamDetail:
    """A new team whose first members are its managers (each given the manager role)."""
    managers = [await org.get(User, uid, what="user") for uid in dict.fromkeys(data.manager_ids)]
    team = org.add(Team(organisation_id=org.organisation_id, name=data.name))
    try:
        await org.session.flush()
    except IntegrityError as exc:
        await org.session.rollback()
        raise ClientException(
            f"a team named {data.name!r} already exists", status_code=409
        ) from exc
    assert team.id is not None
    for user in managers:
        assert user.id is not None
        org.add(
            TeamMembership(team_id=team.id, user_id=user.id, organisation_id=0, is_manager=True)
        )
        grant_manager_role(org, user)
    await org.session.commit()
    return await _detail(org, team)


async def set_member(
    org: OrgScope, team_id: int, user_id: int, data: MembershipUpdate
) -> TeamDetail:
    """Add a member to a team, or change whether they manage it."""
    team = await org.get(Team, team_id, what="team")
    user = await org.get(User, user_id, what="user")
    membership = await _membership(org, team_id, user_id)
    if membership is None:
        membership = org.add(TeamMembership(team_id=team_id, user_id=user_id, organisation_id=0))
    membership.is_manager = data.is_manager
    org.session.add(membership)
    if data.is_manager:
        grant_manager_role(org, user)
    await org.session.commit()
    return await _detail(org, team)


async def remove_member(org: OrgScope, team_id: int, user_id: int) -> None:
    """Take someone off a team (their roles stay: they may manage another team)."""
    await org.get(Team, team_id, what="team")
    await org.get(User, user_id, what="user")  # also keeps out-of-range ids from the query
    membership = await _membership(org, team_id, user_id)
    if membership is None:
        raise ClientException(f"user {user_id} is not a member of team {team_id}", status_code=404)
    await org.session.delete(membership)
    await org.session.commit()
