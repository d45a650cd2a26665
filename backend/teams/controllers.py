from litestar import Controller, delete, get, post, put
from litestar.di import Provide
from litestar.exceptions import ClientException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from backend.accounts.schemas import Schema
from backend.auth.guards import requires_ld_admin, requires_user
from backend.db.models import Role, Team, TeamMembership, User
from backend.deps import provide_scope
from backend.tenancy import OrgScope
from backend.validation import Name


class TeamCreate(Schema):
    name: Name
    manager_ids: list[int] = Field(default_factory=list, max_length=20)


class MembershipUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    is_manager: bool = False


class TeamMember(BaseModel):
    user_id: int
    display_name: str
    is_manager: bool


class TeamPublic(BaseModel):
    id: int
    name: str
    member_count: int
    managers: list[str]


class TeamDetail(TeamPublic):
    members: list[TeamMember]


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


async def _grant_manager_role(org: OrgScope, user: User) -> None:
    if Role.manager.value not in user.roles:
        user.roles = sorted({*user.roles, Role.manager.value})
        org.session.add(user)


class TeamController(Controller):
    path = "/api/v1/teams"
    tags = ["teams"]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", guards=[requires_user], summary="Teams in my organisation")
    async def list_teams(self, org: OrgScope) -> list[TeamPublic]:
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

    @get("/{team_id:int}", guards=[requires_user], summary="A team and its members")
    async def get_team(self, org: OrgScope, team_id: int) -> TeamDetail:
        return await _detail(org, await org.get(Team, team_id, what="team"))

    @post("/", guards=[requires_ld_admin], summary="Create a team (L&D admin)")
    async def create_team(self, org: OrgScope, data: TeamCreate) -> TeamDetail:
        managers = [
            await org.get(User, uid, what="user") for uid in dict.fromkeys(data.manager_ids)
        ]
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
            await _grant_manager_role(org, user)
        await org.session.commit()
        return await _detail(org, team)

    @put(
        "/{team_id:int}/members/{user_id:int}",
        guards=[requires_ld_admin],
        summary="Add or update a team member (L&D admin)",
    )
    async def put_member(
        self, org: OrgScope, team_id: int, user_id: int, data: MembershipUpdate
    ) -> TeamDetail:
        team = await org.get(Team, team_id, what="team")
        user = await org.get(User, user_id, what="user")
        membership = (
            await org.session.exec(
                org.select(TeamMembership).where(
                    TeamMembership.team_id == team_id, TeamMembership.user_id == user_id
                )
            )
        ).first()
        if membership is None:
            membership = org.add(
                TeamMembership(team_id=team_id, user_id=user_id, organisation_id=0)
            )
        membership.is_manager = data.is_manager
        org.session.add(membership)
        if data.is_manager:
            await _grant_manager_role(org, user)
        await org.session.commit()
        return await _detail(org, team)

    @delete(
        "/{team_id:int}/members/{user_id:int}",
        guards=[requires_ld_admin],
        summary="Remove a team member (L&D admin)",
    )
    async def remove_member(self, org: OrgScope, team_id: int, user_id: int) -> None:
        await org.get(Team, team_id, what="team")
        await org.get(User, user_id, what="user")  # also keeps out-of-range ids from the query
        membership = (
            await org.session.exec(
                org.select(TeamMembership).where(
                    TeamMembership.team_id == team_id, TeamMembership.user_id == user_id
                )
            )
        ).first()
        if membership is None:
            raise ClientException(
                f"user {user_id} is not a member of team {team_id}", status_code=404
            )
        await org.session.delete(membership)
        await org.session.commit()
