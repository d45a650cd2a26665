"""A team big enough for figures: a manager, a second team's manager and counted members."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from backend.auth.passwords import hash_password
from backend.context import AppContext
from backend.db.models import Team, TeamMembership, User
from gamification import local_day
from tests.factories import PASSWORD, World


@dataclass
class TeamWorld:
    team_id: int
    manager_email: str  # manages this team (and, as the world's manager, Acme Support)
    other_manager_email: str  # manages only another team
    member_ids: list[int] = field(default_factory=list)
    member_emails: list[str] = field(default_factory=list)


def org_today() -> date:
    return local_day(datetime.now(UTC), "Europe/Amsterdam")


async def build_team(
    ctx: AppContext, world: World, size: int = 6, *, name: str = "Acme Sales", org: str = "a"
) -> TeamWorld:
    """Team ``name`` in ``org`` with ``size`` counted members (member0@…), managed by the
    world's manager; a second manager leads a team of their own."""
    organisation = getattr(world, org)
    slug = name.lower().replace(" ", "-")
    pw_hash = hash_password(PASSWORD, ctx.settings.password_cost)
    async with ctx.sessionmaker() as session:
        team = Team(organisation_id=organisation.id, name=name)
        elsewhere = Team(organisation_id=organisation.id, name=f"{name} elsewhere")
        session.add_all([team, elsewhere])
        members = [
            User(
                organisation_id=organisation.id,
                email=f"member{i}@{slug}.example",
                display_name=f"Member {i} of {name}",
                password_hash=pw_hash,
                locale="en" if i == 1 else "nl",
            )
            for i in range(size)
        ]
        other = User(
            organisation_id=organisation.id,
            email=f"lead@{slug}-elsewhere.example",
            display_name=f"Lead elsewhere {name}",
            password_hash=pw_hash,
            roles=["employee", "manager"],
        )
        session.add_all([*members, other])
        await session.flush()
        assert team.id and elsewhere.id and other.id
        manager = organisation.users["manager"]
        rows = [
            TeamMembership(
                team_id=team.id, user_id=manager.id, organisation_id=organisation.id,
                is_manager=True,
            ),
            TeamMembership(
                team_id=elsewhere.id, user_id=other.id, organisation_id=organisation.id,
                is_manager=True,
            ),
        ]  # fmt: skip
        rows += [
            TeamMembership(team_id=team.id, user_id=m.id or 0, organisation_id=organisation.id)
            for m in members
        ]
        session.add_all(rows)
        await session.commit()
        return TeamWorld(
            team_id=team.id,
            manager_email=manager.email,
            other_manager_email=other.email,
            member_ids=[m.id or 0 for m in members],
            member_emails=[m.email for m in members],
        )


async def learned(
    client: AsyncTestClient[Litestar],
    world: World,
    email: str,
    *,
    days_ago: int = 0,
    minutes: int = 20,
    org: str = "a",
    **extra: Any,
) -> None:
    """An informal learning event (or ``extra``'s kind and course) through the events API."""
    occurred = datetime.now(UTC) - timedelta(days=days_ago, minutes=1)
    body = {
        "id": f"e-{uuid.uuid4()}",
        "learner": {"email": email},
        "kind": "informal",
        "minutes": minutes,
        "occurred_at": occurred.isoformat(),
        **extra,
    }
    response = await client.post(
        "/api/v1/events",
        json=body,
        headers={"Authorization": f"Bearer {getattr(world, org).api_key}"},
    )
    assert response.status_code == 201, response.text


async def fill_team(ctx: AppContext, organisation_id: int, team_id: int, up_to: int = 5) -> None:
    """Quiet members (they never learn or sign in) until ``team_id`` counts ``up_to`` members:
    a team challenge is sponsored only for a team at the privacy floor."""
    async with ctx.sessionmaker() as session:
        counted = len(
            (
                await session.exec(
                    select(TeamMembership.user_id).where(
                        TeamMembership.team_id == team_id,
                        col(TeamMembership.is_manager).is_(False),
                    )
                )
            ).all()
        )
        for _ in range(up_to - counted):
            quiet = User(
                organisation_id=organisation_id,
                email=f"quiet-{uuid.uuid4().hex[:8]}@example.org",
                display_name=f"Quiet {uuid.uuid4().hex[:4]}",
            )
            session.add(quiet)
            await session.flush()
            session.add(
                TeamMembership(
                    team_id=team_id, user_id=quiet.id or 0, organisation_id=organisation_id
                )
            )
        await session.commit()
