"""Server-rendered pages: sign-in and the learner's Today page."""

import math
import time
from datetime import timedelta
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.accounts import links
from backend.accounts import services as accounts
from backend.accounts.controllers import client_address
from backend.auth.middleware import (
    password_version,
)
from backend.auth.passwords import MIN_PASSWORD_LENGTH
from backend.auth.principal import Principal
from backend.auth.user_sessions import end_session, start_session
from backend.db.models import EventKind, Organisation, Role, User
from backend.deps import app_context
from backend.learning.today import read_today
from backend.recommendations.services import recommendations_for
from backend.web.pages import (
    choose_locale,
    day_text,
    greeting_for,
    local_now,
    long_date,
    render,
    signed_in,
)
from backend.web.setup_page import has_organisations
from pwa.i18n import gettext, ngettext, set_locale


class LoginForm(BaseModel):
    email: str = ""
    password: str = ""
    next: str = ""


class ChoiceForm(BaseModel):
    organisation: str = ""


class ForgotForm(BaseModel):
    email: str = ""


class PasswordForm(BaseModel):
    password: str = ""
    confirm: str = ""


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
            first_run = not await has_organisations(db_session)
            return render(
                request,
                "login.html",
                {"error": None, "email": "", "first_run": first_run},
                locale=locale,
            )
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
        now = local_now(principal.timezone)
        today = now.date()
        read = await read_today(
            db_session,
            principal.organisation_id,
            principal.user_id,
            recent=5,
            recent_since=today - timedelta(days=30),
            recommend=True,
        )
        summary = read.today
        summary.recommendations = await recommendations_for(
            db_session,
            principal.organisation_id,
            principal.user_id,
            streak_at_risk=summary.streak.at_risk,
            locale=locale,
            learner=read.learner,
        )
        recent = [
            {
                "title": e.title or gettext("Learning moment"),
                "minutes": e.minutes,
                # a testimonial is learning shared, not time spent: no "0 minutes" beside it
                "shared": e.kind == EventKind.testimonial.value,
                "date": day_text(e.local_date, "medium", locale),
            }
            for e in read.recent
        ]
        return render(
            request,
            "today.html",
            {
                "greeting": greeting_for(now),
                "first_name": principal.display_name.split(" ")[0],
                "today_label": long_date(now, locale),
                "organisation_name": read.organisation_name,
                "today": summary,
                "level_percent": round(summary.level.fraction * 100),
                "recent": recent,
                "needs_intro": not read.onboarded,
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

        def again(message: str, status_code: int) -> Template:
            return render(
                request,
                "login.html",
                {"error": _msg(message, locale), "email": email, "next": target},
                locale=locale,
                status_code=status_code,
            )

        def again_after(seconds: int) -> Template:
            """The form again, saying when the next try is allowed (429, Retry-After)."""
            set_locale(locale)
            if seconds < 120:
                text = ngettext(
                    "Too many attempts. Try again in %(num)d second.",
                    "Too many attempts. Try again in %(num)d seconds.",
                    seconds,
                ) % {"num": seconds}
            else:
                minutes = math.ceil(seconds / 60)
                text = ngettext(
                    "Too many attempts. Try again in %(num)d minute.",
                    "Too many attempts. Try again in %(num)d minutes.",
                    minutes,
                ) % {"num": minutes}
            page = render(
                request,
                "login.html",
                {"error": text, "email": email, "next": target},
                locale=locale,
                status_code=429,
            )
            page.headers["Retry-After"] = str(seconds)
            return page

        if not email or not data.password:
            return again("Fill in your e-mail address and password.", 400)
        try:
            user = await accounts.authenticate(
                ctx, db_session, email, data.password[:256], client_address(request)
            )
        except TooManyRequestsException as exc:
            seconds = int((exc.headers or {}).get("Retry-After", "60"))
            return again_after(seconds)
        except NotAuthorizedException:
            return again("That e-mail address and password don't match.", 401)
        except accounts.ChooseOrganisation as choice:
            # the password was right for several accounts: remember them (in the encrypted
            # session cookie) for a few minutes and ask which organisation
            request.set_session(
                {
                    PENDING_CHOICE: {
                        "accounts": [[u.id, password_version(u)] for u, _org in choice.accounts],
                        "next": target,
                        "until": time.time() + CHOICE_SECONDS,
                    }
                }
            )
            return _choice_page(request, locale, [o for _u, o in choice.accounts])
        return await _signed_in(db_session, request, user, target)

    @get("/login/organisation", name="login-organisation-page")
    async def choose_organisation_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> Template | Redirect:
        """The choice again (after a reload); without a sign-in in progress, back to /login."""
        locale = choose_locale(request, None)
        pending = _pending_choice(request)
        if pending is None:
            return Redirect("/login", status_code=303)
        ids = [int(uid) for uid, _pv in pending["accounts"]]
        organisations = (
            await db_session.exec(
                select(Organisation)
                .join(User, col(User.organisation_id) == col(Organisation.id))
                .where(col(User.id).in_(ids))
                .order_by(col(Organisation.name))
            )
        ).all()
        return _choice_page(request, locale, list(organisations))

    @post("/login/organisation", name="login-organisation")
    async def choose_organisation(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        data: Annotated[ChoiceForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect:
        pending = _pending_choice(request)
        if pending is None:
            return Redirect("/login", status_code=303)
        versions = {int(uid): pv for uid, pv in pending["accounts"]}
        user = (
            await db_session.exec(
                select(User)
                .join(Organisation, col(Organisation.id) == col(User.organisation_id))
                .where(
                    col(User.id).in_(list(versions)),
                    Organisation.slug == data.organisation.strip()[:80],
                )
            )
        ).first()
        if (
            user is None
            or not user.is_active
            or versions.get(user.id or 0) != password_version(user)
        ):
            request.clear_session()
            return Redirect("/login", status_code=303)
        return await _signed_in(db_session, request, user, safe_next(pending.get("next")))

    @post("/logout", name="logout")
    async def logout(self, request: Request[Any, Any, Any], state: State) -> Redirect:
        await end_session(app_context(state), request)
        return Redirect("/", status_code=303)

    @get("/forgot-password", name="forgot-password-page")
    async def forgot_password_page(self, request: Request[Any, Any, Any]) -> Template:
        locale = choose_locale(request, None)
        email = (request.query_params.get("email") or "").replace("\x00", "")[:254]
        return render(
            request, "password_forgot.html", {"email": email, "sent": False}, locale=locale
        )

    @post("/forgot-password", name="forgot-password")
    async def forgot_password(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        data: Annotated[ForgotForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:
        locale = choose_locale(request, None)
        email = data.email.strip()[:254]
        if "@" not in email:
            return render(
                request,
                "password_forgot.html",
                {
                    "email": email,
                    "sent": False,
                    "error": _msg("Fill in the e-mail address you sign in with.", locale),
                },
                locale=locale,
                status_code=400,
            )
        await accounts.request_password_reset(
            app_context(state), db_session, email, client_address(request)
        )
        # the same answer whether or not the address has an account
        return render(
            request, "password_forgot.html", {"email": email, "sent": True}, locale=locale
        )

    @get("/password/{token:str}", name="set-password-page")
    async def set_password_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, token: str
    ) -> Template:
        """Opening the link shows the form; only setting the password spends the link."""
        try:
            found = await links.find(db_session, token)
        except links.LinkNotValid:
            return _link_gone(request, choose_locale(request, signed_in(request)))
        locale = found.user.locale
        return render(request, "password_set.html", _set_password_context(found), locale=locale)

    @post("/password/{token:str}", name="set-password")
    async def set_password(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        token: str,
        data: Annotated[PasswordForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        ctx = app_context(state)
        try:
            found = await links.find(db_session, token)
        except links.LinkNotValid:
            return _link_gone(request, choose_locale(request, signed_in(request)))
        locale = found.user.locale
        error = None
        if len(data.password) < MIN_PASSWORD_LENGTH:
            error = _msg("Use at least 10 characters.", locale)
        elif len(data.password) > 256:
            error = _msg("Use at most 256 characters.", locale)
        elif data.password != data.confirm:
            error = _msg("The two passwords are not the same.", locale)
        if error is not None:
            return render(
                request,
                "password_set.html",
                _set_password_context(found) | {"error": error},
                locale=locale,
                status_code=400,
            )
        try:
            user = await links.redeem(db_session, token, data.password, ctx.settings.password_cost)
        except links.LinkNotValid:
            return _link_gone(request, locale)
        return await _signed_in(db_session, request, user, "")


PENDING_CHOICE = "choose"
CHOICE_SECONDS = 600  # how long the organisation choice waits after the password was right


def _pending_choice(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    pending = (request.session or {}).get(PENDING_CHOICE)
    if not isinstance(pending, dict) or not isinstance(pending.get("accounts"), list):
        return None
    if float(pending.get("until", 0)) < time.time():
        return None
    return pending


def _choice_page(
    request: Request[Any, Any, Any], locale: str, organisations: list[Organisation]
) -> Template:
    return render(
        request,
        "login_organisation.html",
        {"organisations": sorted(organisations, key=lambda o: o.name.lower())},
        locale=locale,
    )


async def _signed_in(
    db: AsyncSession, request: Request[Any, Any, Any], user: User, target: str
) -> Redirect:
    """Start the session of ``user`` and go where they wanted (L&D admins: the console,
    managers: their team's page there)."""
    await start_session(db, request, user)
    if not target and Role.ld_admin.value in user.roles:
        target = "/console"  # L&D admins start where they set things up
    elif not target and Role.manager.value in user.roles:
        target = "/console/team"  # managers start with how their team is learning
    return Redirect(target or "/", status_code=303)


def _set_password_context(found: links.OpenLink) -> dict[str, Any]:
    return {
        "first_name": found.user.display_name.split(" ")[0],
        "email": found.user.email,
        "organisation_name": found.organisation.name,
        "purpose": found.link.purpose,
        "error": None,
    }


def _link_gone(request: Request[Any, Any, Any], locale: str) -> Template:
    return render(request, "password_set.html", {"gone": True}, locale=locale, status_code=410)


def _msg(text: str, locale: str) -> str:
    set_locale(locale)
    return gettext(text)
