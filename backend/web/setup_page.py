"""First run: on an empty database the first visitor sets up their organisation.

``/setup`` exists only while there is no organisation at all. It creates the organisation
and its first L&D admin through the same services as the CLI's ``create-org`` and
``create-user``, signs that person in and opens the console, so a programme can be set up
from the browser alone. Two visitors at once: a transaction-scoped advisory lock makes the
check and the creation one step, and the second one is sent to sign in.
"""

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel, EmailStr, StringConstraints, ValidationError
from sqlalchemy import text
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.accounts.schemas import Schema, UserCreate
from backend.accounts.services import create_user
from backend.auth.principal import Principal
from backend.auth.user_sessions import start_session
from backend.console.shell import form_errors
from backend.db.models import Locale, Organisation, Role, User
from backend.deps import app_context
from backend.organisations.services import create_organisation, slug_for
from backend.tenancy import OrgScope
from backend.validation import Name
from backend.web.pages import choose_locale, render
from pwa.i18n import set_locale

SETUP_LOCK = 0x1EA5_0001  # pg_advisory_xact_lock key of the first-run set-up
FIELDS = ("organisation", "display_name", "email", "password")


class SetupForm(BaseModel):
    organisation: str = ""
    display_name: str = ""
    email: str = ""
    password: str = ""


class Setup(Schema):
    organisation: Name
    display_name: Name
    email: EmailStr
    password: Annotated[str, StringConstraints(min_length=10, max_length=256)]


async def has_organisations(session: AsyncSession) -> bool:
    count = (await session.exec(select(func.count()).select_from(Organisation))).one()
    return int(count) > 0


class SetupPageController(Controller):
    include_in_schema = False

    @get("/setup", name="setup")
    async def setup_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> Template | Redirect:
        if await has_organisations(db_session):
            return Redirect("/", status_code=303)
        locale = choose_locale(request, None)
        return render(request, "setup.html", {"values": {}, "errors": {}}, locale=locale)

    @post("/setup")
    async def set_up(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        data: Annotated[SetupForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        locale = choose_locale(request, None)
        set_locale(locale)
        values = data.model_dump()
        try:
            wanted = Setup.model_validate(values)
        except ValidationError as exc:
            values["password"] = ""
            return render(
                request,
                "setup.html",
                {"values": values, "errors": form_errors(exc)},
                locale=locale,
                status_code=400,
            )
        ctx = app_context(state)
        # the check and the creation are one step: a second visitor waits here, then finds
        # the organisation made and signs in instead
        await db_session.exec(  # type: ignore[call-overload]
            text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=SETUP_LOCK)
        )
        if await has_organisations(db_session):
            await db_session.rollback()
            return Redirect("/", status_code=303)
        organisation = await create_organisation(
            db_session,
            name=wanted.organisation,
            slug=slug_for(wanted.organisation),
            timezone="Europe/Amsterdam",
            locale=locale if locale in (Locale.nl.value, Locale.en.value) else Locale.nl.value,
        )
        assert organisation.id is not None
        first_run = Principal(
            organisation_id=organisation.id,
            user_id=None,
            roles=frozenset(),
            via="cli",
            display_name="first-run set-up",
        )
        created = await create_user(
            OrgScope(db_session, first_run),
            UserCreate(
                email=wanted.email,
                display_name=wanted.display_name,
                password=wanted.password,
                roles=[Role.employee, Role.ld_admin],
                locale=locale,
            ),
            ctx.settings.password_cost,
        )
        user = (await db_session.exec(select(User).where(User.id == created.id))).one()
        await start_session(db_session, request, user)
        return Redirect("/console", status_code=303)
