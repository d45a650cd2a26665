"""Test data built through the real models (no mocks): two organisations with every role."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.auth.passwords import hash_password
from backend.context import AppContext
from backend.db.models import (
    Competency,
    Course,
    CourseCompetency,
    LearnerState,
    Organisation,
    Team,
    TeamMembership,
    User,
)
from backend.integrations.services import create_api_key

PASSWORD = "correct horse battery"
# Globex's Sam shares Acme's Sam's address but not the password, so signing in as
# sam@example.com with PASSWORD is Acme's Sam (tests/api/test_auth.py gives both the same
# password to test the choice of organisation)
GLOBEX_SAM_PASSWORD = "globex sam's passphrase"


@dataclass
class Org:
    id: int
    name: str
    users: dict[str, User] = field(default_factory=dict)  # by role: employee, manager, ld_admin
    team_id: int = 0
    competency_id: int = 0
    course_id: int = 0
    api_key: str = ""
    api_key_id: int = 0


@dataclass
class World:
    a: Org
    b: Org

    def email(self, org: str, role: str) -> str:
        return getattr(self, org).users[role].email


async def build_org(ctx: AppContext, name: str, slug: str) -> Org:
    pw_hash = hash_password(PASSWORD, ctx.settings.password_cost)
    async with ctx.sessionmaker() as session:
        org = Organisation(name=name, slug=slug)
        session.add(org)
        await session.flush()
        assert org.id is not None
        result = Org(id=org.id, name=name)
        # the same e-mail address for the employee in both organisations, on purpose
        people = {
            "employee": User(
                organisation_id=org.id,
                email="sam@example.com",
                display_name=f"Sam {name}",
                password_hash=pw_hash
                if slug == "acme"
                else hash_password(GLOBEX_SAM_PASSWORD, ctx.settings.password_cost),
                roles=["employee"],
            ),
            "manager": User(
                organisation_id=org.id,
                email=f"manager@{slug}.example",
                display_name=f"Mia {name}",
                password_hash=pw_hash,
                roles=["employee", "manager"],
            ),
            "ld_admin": User(
                organisation_id=org.id,
                email=f"ld@{slug}.example",
                display_name=f"Lou {name}",
                password_hash=pw_hash,
                roles=["employee", "ld_admin"],
            ),
        }
        session.add_all(people.values())
        team = Team(organisation_id=org.id, name=f"{name} Support")
        competency = Competency(organisation_id=org.id, name="Communicatie")
        course = Course(
            organisation_id=org.id,
            title=f"Feedback geven ({name})",
            duration_minutes=45,
            xapi_activity_id=f"https://lms.{slug}.example/courses/feedback",
        )
        session.add_all([team, competency, course])
        await session.flush()
        assert team.id and competency.id and course.id
        session.add(
            CourseCompetency(
                course_id=course.id, competency_id=competency.id, organisation_id=org.id
            )
        )
        for role, user in people.items():
            assert user.id is not None
            if role in ("employee", "manager"):
                session.add(
                    TeamMembership(
                        team_id=team.id,
                        user_id=user.id,
                        organisation_id=org.id,
                        is_manager=role == "manager",
                    )
                )
            session.add(LearnerState(user_id=user.id, organisation_id=org.id))
        await session.commit()
        result.users = people
        result.team_id, result.competency_id, result.course_id = team.id, competency.id, course.id
        key = await create_api_key(session, org.id, f"{name} LMS", None)
        result.api_key, result.api_key_id = key.key, key.id
    return result


async def build_world(ctx: AppContext) -> World:
    return World(a=await build_org(ctx, "Acme", "acme"), b=await build_org(ctx, "Globex", "globex"))


async def sign_in(
    client: AsyncTestClient[Litestar], email: str, password: str = PASSWORD
) -> dict[str, object]:
    """Sign in like the browser does: fetch a page for the CSRF cookie, then post the login."""
    await client.get("/")
    token = client.cookies.get("learnloop_csrf")
    assert token, "the first page view sets a CSRF cookie"
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": password},
        headers={"x-csrf-token": token},
    )
    assert response.status_code == 200, response.text
    client.headers["x-csrf-token"] = token
    body: dict[str, object] = response.json()
    return body


@asynccontextmanager
async def signed_in_client(
    app: Litestar, email: str, password: str = PASSWORD
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, email, password)
        yield client
