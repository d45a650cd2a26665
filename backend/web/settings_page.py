"""The settings page: language, timezone, weekly goal, leaderboard opt-in and my data.

Plain forms that work without JavaScript: each posts ``section`` with its own fields to
``POST /settings``, and a saved change redirects back with a notice (post/redirect/get).
Bad input renders the page again with the error, and nothing is saved.
"""

from typing import Annotated, Any
from zoneinfo import available_timezones

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.accounts import services as accounts
from backend.accounts.privacy import LastAdminError, delete_me
from backend.accounts.schemas import MeUpdate
from backend.progress import services as progress
from backend.progress.schemas import MAX_WEEKLY_GOAL_MINUTES
from backend.tenancy import OrgScope
from backend.web.pages import choose_locale, render, signed_in
from pwa.i18n import N_, SUPPORTED_LOCALES, gettext, set_locale

COMMON_TIMEZONES = (
    "Europe/Amsterdam",
    "Europe/Brussels",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Warsaw",
    "Europe/Athens",
    "Europe/Istanbul",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "UTC",
)
LANGUAGES = (("nl", "Nederlands"), ("en", "English"))
SECTIONS = ("language", "timezone", "goal", "leaderboard", "delete")
# the word to type before an account is deleted, in the page's language
CONFIRM_WORDS = {"nl": "VERWIJDER", "en": "DELETE"}


class SettingsForm(BaseModel):
    section: str = ""
    locale: str = ""
    timezone: str = ""
    weekly_goal: str = ""
    leaderboard_opt_in: str = ""  # a checkbox: present ("on") when ticked
    confirm: str = ""


class SettingsPageController(Controller):
    include_in_schema = False

    @get("/settings", name="settings-page")
    async def settings_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        saved = request.query_params.get("saved") in SECTIONS
        return await self._render(request, OrgScope(db_session, principal), saved=saved)

    @post("/settings", name="settings-form")
    async def save(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        data: Annotated[SettingsForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        org = OrgScope(db_session, principal)
        section = data.section
        if section == "language":
            if data.locale not in SUPPORTED_LOCALES:
                return await self._error(request, org, section, N_("Choose a language."))
            await accounts.update_me(org, MeUpdate.model_validate({"locale": data.locale}))
        elif section == "timezone":
            zone = data.timezone.strip()
            if zone not in available_timezones():
                return await self._error(request, org, section, N_("Choose a timezone."))
            await accounts.update_me(org, MeUpdate(timezone=zone))
        elif section == "goal":
            value = data.weekly_goal.strip()
            if not value.isdigit() or not 0 <= int(value) <= MAX_WEEKLY_GOAL_MINUTES:
                message = N_("Choose a weekly goal between 0 and 1200 minutes.")
                return await self._error(request, org, section, message)
            await progress.set_weekly_goal(org, int(value))
        elif section == "leaderboard":
            opt_in = data.leaderboard_opt_in in ("on", "true", "1")
            await accounts.update_me(org, MeUpdate(leaderboard_opt_in=opt_in))
        elif section == "delete":
            return await self._delete(request, org, data.confirm)
        else:
            return await self._error(request, org, "form", N_("Something went wrong."))
        return Redirect(f"/settings?saved={section}", status_code=303)

    async def _delete(
        self, request: Request[Any, Any, Any], org: OrgScope, confirm: str
    ) -> Template | Redirect:
        locale = choose_locale(request, org.principal)
        word = CONFIRM_WORDS.get(locale, CONFIRM_WORDS["en"])
        if confirm.strip() != word:
            set_locale(locale)
            message = gettext("Type %(word)s to confirm.") % {"word": word}
            return await self._error(request, org, "delete", message, translated=True)
        try:
            await delete_me(org)
        except LastAdminError:
            message = N_(
                "You are the last L&D admin of your organisation. Give someone else the "
                "L&D admin role first."
            )
            return await self._error(request, org, "delete", message, status_code=409)
        request.clear_session()
        return Redirect(f"/?goodbye=1&lang={locale}", status_code=303)

    async def _error(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        section: str,
        message: str,
        *,
        status_code: int = 400,
        translated: bool = False,
    ) -> Template:
        return await self._render(
            request,
            org,
            errors={section: message},
            translated=translated,
            status_code=status_code,
        )

    async def _render(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        *,
        saved: bool = False,
        errors: dict[str, str] | None = None,
        translated: bool = False,
        status_code: int = 200,
    ) -> Template:
        principal = org.principal
        assert principal.user_id is not None
        locale = choose_locale(request, principal)
        set_locale(locale)
        profile = await accounts.me(org.session, principal.user_id, org.organisation_id)
        goals = await progress.my_goals(org)
        zones = list(COMMON_TIMEZONES)
        if profile.timezone not in zones:
            zones.insert(0, profile.timezone)
        return render(
            request,
            "settings.html",
            {
                "profile": profile,
                "weekly_goal": goals.weekly.target_minutes,
                "max_weekly_goal": MAX_WEEKLY_GOAL_MINUTES,
                "languages": LANGUAGES,
                "timezones": zones,
                "confirm_word": CONFIRM_WORDS.get(locale, CONFIRM_WORDS["en"]),
                "saved": saved,
                "errors": {
                    key: text if translated else gettext(text)
                    for key, text in (errors or {}).items()
                },
            },
            locale=locale,
            status_code=status_code,
        )
