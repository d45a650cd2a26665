"""Server-rendered pages: sign-in and the learner's Today page."""

from datetime import timedelta
from typing import Annotated, Any

from babel.dates import format_date
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.accounts import services as accounts
from backend.accounts.controllers import client_address
from backend.auth.middleware import (
    SESSION_ORG,
    SESSION_PASSWORD_VERSION,
    SESSION_USER,
    password_version,
)
from backend.auth.principal import Principal
from backend.db.models import LearningEvent, Organisation, Role, User
from backend.deps import app_context
from backend.learning.today import today_for
from backend.web.pages import choose_locale, greeting_for, local_now, long_date, render
from pwa.i18n import gettext, set_locale


class LoginForm(BaseModel):
    email: str = ""
    password: str = ""
    next: str = ""


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never another host)."""
    target = (target or "").strip()
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    return target[:500]


class WebController(Controller):
    include_in_schema = False

    @get("/", name="home")
    async def home(self, request: Request[Any, Any, Any], db_session: AsyncSession) -> Template:
        principal: Principal | None = request.scope.get("user")
        locale = choose_locale(request, principal)
        if principal is None or principal.user_id is None:
            return render(request, "login.html", {"error": None, "email": ""}, locale=locale)
        return await self._today(request, db_session, principal, locale)

    @get("/login", name="login-page")
    async def login_page(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        """The sign-in form; ``?next=/console/...`` is where it leads afterwards."""
        target = safe_next(request.query_params.get("next"))
        principal: Principal | None = request.scope.get("user")
        if principal is not None and principal.user_id is not None:
            return Redirect(target or "/", status_code=303)
        locale = choose_locale(request, None)
        return render(
            request, "login.html", {"error": None, "email": "", "next": target}, locale=locale
        )

    async def _today(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        locale: str,
    ) -> Template:
        assert principal.user_id is not None
        set_locale(locale)  # the greeting below is translated before render() sets it
        org = (
            await db_session.exec(
                select(Organisation).where(Organisation.id == principal.organisation_id)
            )
        ).one()
        user = (
            await db_session.exec(
                select(User).where(
                    User.id == principal.user_id, User.organisation_id == principal.organisation_id
                )
            )
        ).one()
        summary = await today_for(db_session, org, user)
        now = local_now(principal.timezone)
        today = now.date()
        recent_rows = (
            await db_session.exec(
                select(LearningEvent)
                .where(
                    LearningEvent.user_id == principal.user_id,
                    LearningEvent.organisation_id == principal.organisation_id,
                    col(LearningEvent.local_date) >= today - timedelta(days=30),
                )
                .order_by(col(LearningEvent.occurred_at).desc())
                .limit(5)
            )
        ).all()
        recent = [
            {
                "title": e.title or gettext("Learning moment"),
                "minutes": e.minutes,
                "date": format_date(e.local_date, format="medium", locale=locale),
            }
            for e in recent_rows
        ]
        return render(
            request,
            "today.html",
            {
                "greeting": greeting_for(now),
                "first_name": principal.display_name.split(" ")[0],
                "today_label": long_date(now, locale),
                "organisation_name": org.name,
                "today": summary,
                "level_percent": round(summary.level.fraction * 100),
                "recent": recent,
                "needs_intro": user.onboarded_at is None,
            },
            locale=locale,
        )

    @post("/login", name="login")
    async def login(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        locale = choose_locale(request, None)
        ctx = app_context(state)
        target = safe_next(data.next)
        email = data.email.strip()[:254]
        if not email or not data.password:
            return render(
                request,
                "login.html",
                {
                    "error": _msg("Fill in your e-mail address and password.", locale),
                    "email": email,
                    "next": target,
                },
                locale=locale,
                status_code=400,
            )
        try:
            user = await accounts.authenticate(
                ctx, db_session, email, data.password[:256], client_address(request)
            )
        except TooManyRequestsException:
            message = _msg("Too many attempts. Wait a few minutes and try again.", locale)
            return render(
                request,
                "login.html",
                {"error": message, "email": email, "next": target},
                locale=locale,
                status_code=429,
            )
        except NotAuthorizedException:
            message = _msg("That e-mail address and password don't match.", locale)
            return render(
                request,
                "login.html",
                {"error": message, "email": email, "next": target},
                locale=locale,
                status_code=401,
            )
        assert user.id is not None
        request.set_session(
            {
                SESSION_USER: user.id,
                SESSION_ORG: user.organisation_id,
                SESSION_PASSWORD_VERSION: password_version(user),
            }
        )
        if not target and Role.ld_admin.value in user.roles:
            target = "/console"  # L&D admins start where they set things up
        return Redirect(target or "/", status_code=303)

    @post("/logout", name="logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/", status_code=303)


def _msg(text: str, locale: str) -> str:
    set_locale(locale)
    return gettext(text)
