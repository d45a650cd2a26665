"""Shared by the challenge tests: the organisation's day and extra team members."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime

import pytest

from backend.auth.passwords import hash_password
from backend.context import AppContext
from backend.db.models import TeamMembership, User
from gamification import local_day
from tests.factories import PASSWORD, World

NewMember = Callable[[str], Awaitable[User]]


@pytest.fixture
def today() -> date:
    """The organisations' local day (both default to Europe/Amsterdam)."""
    return local_day(datetime.now(UTC), "Europe/Amsterdam")


@pytest.fixture
def new_member(ctx: AppContext, world: World) -> NewMember:
    """A fresh employee of org A in ``world.a``'s team who can sign in with the usual password."""

    async def make(name: str) -> User:
        async with ctx.sessionmaker() as session:
            user = User(
                organisation_id=world.a.id,
                email=f"{name.lower()}-{uuid.uuid4().hex[:6]}@acme.example",
                display_name=name,
                password_hash=hash_password(PASSWORD, ctx.settings.password_cost),
                roles=["employee"],
            )
            session.add(user)
            await session.flush()
            assert user.id is not None
            session.add(
                TeamMembership(team_id=world.a.team_id, user_id=user.id, organisation_id=world.a.id)
            )
            await session.commit()
            return user

    return make
