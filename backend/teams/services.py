"""Teams: who belongs to which team and who manages it.

Every change to a team or its members goes through one function here, whoever asks
(the API, the console's pages, the CSV import), and records an audit entry with it.
A person may be in several teams (``TeamMembership``); ``is_manager`` marks who manages one.
"""

from litestar.exceptions import ClientException
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from backend.audit import services as audit
from backend.db.models import Challenge, Role, Team, TeamMembership, User
from backend.teams.schemas import (
    MembershipUpdate,
    TeamCreate,
    TeamDetail,
    TeamMember,
    TeamPublic,
    TeamUpdate,
)
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


async def is_team_manager(org: OrgScope, team_id: int) -> bool:
    """Whether the caller manages ``team_id`` (TeamMembership.is_manager)."""
    membership = (
        await org.session.exec(
            org.select(TeamMembership).where(
                TeamMembership.team_id == team_id,
                TeamMembership.user_id == org.principal.user_id,
                col(TeamMembership.is_manager).is_(True),
            )
        )
    ).first()
    return membership is not None


async def teams_i_lead(org: OrgScope) -> list[tuple[int, str]]:
    """The teams whose figures the caller may see, by name: every team for an L&D admin,
    the teams they manage for a manager, none for anyone else."""
    query = select(Team.id, Team.name).where(org.owns(Team))
    if not org.principal.is_ld_admin:
        if not org.principal.is_manager:
            return []
        query = query.join(TeamMembership, col(TeamMembership.team_id) == col(Team.id)).where(
            TeamMembership.user_id == org.principal.user_id,
            col(TeamMembership.is_manager).is_(True),
        )
    rows = await org.session.exec(query.order_by(col(Team.name), col(Team.id)))
    return [(team_id, name) for team_id, name in rows.all() if team_id is not None]


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
            f"a team named {data.name!r} already exists", status_code=409, extra={"field": "name"}
        ) from exc
    assert team.id is not None
    for user in managers:
        assert user.id is not None
        org.add(
            TeamMembership(team_id=team.id, user_id=user.id, organisation_id=0, is_manager=True)
        )
        grant_manager_role(org, user)
    audit.record(
        org,
        "team.create",
        target_type="team",
        target_id=team.id,
        summary=f"Created team {team.name}",
        details={"managers": [u.display_name for u in managers]},
    )
    await org.session.commit()
    return await _detail(org, team)


async def _unique_name_flush(org: OrgScope, name: str) -> None:
    try:
        await org.session.flush()
    except IntegrityError as exc:
        await org.session.rollback()
        raise ClientException(
            f"a team named {name!r} already exists", status_code=409, extra={"field": "name"}
        ) from exc


async def rename_team(org: OrgScope, team_id: int, name: str) -> TeamDetail:
    team = await org.get(Team, team_id, what="team")
    if team.name != name:
        before, team.name = team.name, name
        org.session.add(team)
        await _unique_name_flush(org, name)
        audit.record(
            org,
            "team.rename",
            target_type="team",
            target_id=team_id,
            summary=f"Renamed team {before} to {name}",
            details={"before": before, "after": name},
        )
        await org.session.commit()
    return await _detail(org, team)


async def set_managers(org: OrgScope, team_id: int, manager_ids: list[int]) -> TeamDetail:
    """Exactly these people manage the team (added as members if they were not)."""
    team = await org.get(Team, team_id, what="team")
    wanted = {uid: await org.get(User, uid, what="user") for uid in dict.fromkeys(manager_ids)}
    memberships = {
        m.user_id: m
        for m in await org.all(org.select(TeamMembership).where(TeamMembership.team_id == team_id))
    }
    before = sorted(uid for uid, m in memberships.items() if m.is_manager)
    if before == sorted(wanted):
        return await _detail(org, team)
    for uid, membership in memberships.items():
        if membership.is_manager and uid not in wanted:
            membership.is_manager = False
            org.session.add(membership)
    for uid, user in wanted.items():
        membership = memberships.get(uid) or org.add(
            TeamMembership(team_id=team_id, user_id=uid, organisation_id=0)
        )
        membership.is_manager = True
        org.session.add(membership)
        grant_manager_role(org, user)
    names = sorted(u.display_name for u in wanted.values())
    audit.record(
        org,
        "team.managers",
        target_type="team",
        target_id=team_id,
        summary=f"Managers of team {team.name}: {', '.join(names) or 'none'}",
        details={"before": before, "after": sorted(wanted)},
    )
    await org.session.commit()
    return await _detail(org, team)


async def update_team(org: OrgScope, team_id: int, data: TeamUpdate) -> TeamDetail:
    """``PATCH /api/v1/teams/{id}``: rename and/or set the managers."""
    if data.name is not None:
        await rename_team(org, team_id, data.name)
    if data.manager_ids is not None:
        await set_managers(org, team_id, data.manager_ids)
    return await get_team(org, team_id)


async def delete_team(org: OrgScope, team_id: int) -> None:
    """Delete a team that has no members and no challenges (409 otherwise)."""
    team = await org.get(Team, team_id, what="team")
    members = (
        await org.session.exec(
            select(func.count()).where(org.owns(TeamMembership), TeamMembership.team_id == team_id)
        )
    ).one()
    if members:
        raise ClientException(
            f"team {team.name} still has {members} member(s): move or remove them first",
            status_code=409,
        )
    challenges = (
        await org.session.exec(
            select(func.count()).where(org.owns(Challenge), Challenge.team_id == team_id)
        )
    ).one()
    if challenges:
        raise ClientException(
            f"team {team.name} has challenges, which would be deleted with it", status_code=409
        )
    await org.session.delete(team)
    audit.record(
        org,
        "team.delete",
        target_type="team",
        target_id=team_id,
        summary=f"Deleted team {team.name}",
    )
    await org.session.commit()


async def set_member(
    org: OrgScope, team_id: int, user_id: int, data: MembershipUpdate
) -> TeamDetail:
    """Add a member to a team, or change whether they manage it."""
    team = await org.get(Team, team_id, what="team")
    user = await org.get(User, user_id, what="user")
    membership = await _membership(org, team_id, user_id)
    added = membership is None
    if membership is None:
        membership = org.add(TeamMembership(team_id=team_id, user_id=user_id, organisation_id=0))
    elif membership.is_manager == data.is_manager:
        return await _detail(org, team)
    membership.is_manager = data.is_manager
    org.session.add(membership)
    if data.is_manager:
        grant_manager_role(org, user)
    role = "manager" if data.is_manager else "member"
    audit.record(
        org,
        "team.member_add" if added else "team.member_update",
        target_type="team",
        target_id=team_id,
        summary=(
            f"Added {user.display_name} to team {team.name} as {role}"
            if added
            else f"Made {user.display_name} a {role} of team {team.name}"
        ),
        details={"user_id": user_id, "is_manager": data.is_manager},
    )
    await org.session.commit()
    return await _detail(org, team)


async def remove_member(org: OrgScope, team_id: int, user_id: int) -> None:
    """Take someone off a team (their roles stay: they may manage another team)."""
    team = await org.get(Team, team_id, what="team")
    user = await org.get(User, user_id, what="user")  # also keeps out-of-range ids from the query
    membership = await _membership(org, team_id, user_id)
    if membership is None:
        raise ClientException(f"user {user_id} is not a member of team {team_id}", status_code=404)
    await org.session.delete(membership)
    audit.record(
        org,
        "team.member_remove",
        target_type="team",
        target_id=team_id,
        summary=f"Took {user.display_name} off team {team.name}",
        details={"user_id": user_id},
    )
    await org.session.commit()
