"""The settings page: reminders, quiet hours, nudge kinds, notifications, weekly goal,
language, timezone and leaderboard opt-in in one form with one Save; planned pauses and
deleting the account are actions of their own; my data is a download.

Plain forms that work without JavaScript: the preferences post ``section=preferences`` with
every field to ``POST /settings``, and a saved change redirects back to a "Saved." notice that
takes the focus, so a screen reader reads it (post/redirect/get). Bad input renders the page
again with each error next to its field and the learner's choices kept, and nothing is saved.
A page from before the single form (a service worker's copy) posts one group at a time, as
``section=<group>``; that still works.
"""

import re
from datetime import date
from typing import Annotated, Any
from zoneinfo import available_timezones

from babel.dates import format_date
from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.accounts import services as accounts
from backend.accounts.privacy import LastAdminError, delete_me
from backend.accounts.schemas import MeUpdate
from backend.progress import services as progress
from backend.progress.schemas import MAX_WEEKLY_GOAL_MINUTES, PauseIn
from backend.tenancy import OrgScope
from backend.web.pages import choose_locale, local_now, render, signed_in
from gamification.nudges import NudgeCategory
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
# the groups of the preferences form, in the order the page shows them; each can also be
# posted on its own (section=<group>) by a page from before the single form
GROUPS = ("reminders", "nudges", "goal", "language", "timezone", "leaderboard")
PREFERENCES = "preferences"
SECTIONS = (PREFERENCES, *GROUPS, "pause_add", "pause_remove", "delete")
CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
# what each nudge category means to a learner, in the order Settings lists them
NUDGE_LABELS: dict[NudgeCategory, str] = {
    NudgeCategory.REMINDER: N_("A reminder to learn"),
    NudgeCategory.STREAK_AT_RISK: N_("When my streak is at risk"),
    NudgeCategory.GOAL: N_("Progress on my goals"),
    NudgeCategory.CHALLENGE: N_("Challenges"),
    NudgeCategory.BADGE: N_("Badges I earn"),
    NudgeCategory.KUDOS: N_("Kudos from colleagues"),
    NudgeCategory.BUDGET: N_("My learning budget"),
    # new hot-skill courses and "your next step" (the top recommendation)
    NudgeCategory.NEW_COURSE: N_("New courses and suggestions for me"),
    NudgeCategory.TESTIMONIAL_REQUEST: N_("Asking what I thought of a course"),
}
# the word to type before an account is deleted, in the page's language
CONFIRM_WORDS = {"nl": "VERWIJDER", "en": "DELETE"}


class SettingsForm(BaseModel):
    section: str = ""
    locale: str = ""
    timezone: str = ""
    weekly_goal: str = ""
    leaderboard_opt_in: str = ""  # a checkbox: present ("on") when ticked
    confirm: str = ""
    reminder_time: str = ""
    quiet_hours_start: str = ""
    quiet_hours_end: str = ""
    # the nudge kinds I want: one "kinds" field per ticked box (a list when several)
    kinds: list[str] | str = []
    start_date: str = ""
    end_date: str = ""


def _ticked(box: str) -> bool:
    """A ticked checkbox posts "on"; an unticked one posts nothing at all."""
    return box in ("on", "true", "1")


def _wanted_kinds(data: SettingsForm) -> set[str]:
    return {data.kinds} if isinstance(data.kinds, str) else set(data.kinds)


def read_preferences(
    data: SettingsForm, groups: tuple[str, ...]
) -> tuple[dict[str, Any], int | None, dict[str, str]]:
    """What the posted groups change (fields of ``MeUpdate``, and the weekly goal), or what
    is wrong with them: an untranslated message per group, shown next to its field."""
    changes: dict[str, Any] = {}
    weekly_goal: int | None = None
    errors: dict[str, str] = {}
    for group in groups:
        if group == "reminders":
            reminder = data.reminder_time.strip()
            start, end = data.quiet_hours_start.strip(), data.quiet_hours_end.strip()
            if reminder and not CLOCK.match(reminder):
                errors[group] = N_("Choose a time like 08:30.")
            elif not CLOCK.match(start) or not CLOCK.match(end):
                errors[group] = N_("Choose when quiet hours start and end, like 21:00 and 08:00.")
            elif accounts.parse_clock(start) == accounts.parse_clock(end):
                errors[group] = N_(
                    "Quiet hours need a start and an end that differ, like 21:00 and 08:00."
                )
            else:
                changes |= {
                    "reminder_time": reminder or None,
                    "quiet_hours_start": start,
                    "quiet_hours_end": end,
                }
        elif group == "nudges":
            wanted = _wanted_kinds(data)
            changes["nudge_kinds_off"] = [c.value for c in NudgeCategory if c.value not in wanted]
        elif group == "goal":
            value = data.weekly_goal.strip()
            if not value.isdigit() or not 0 <= int(value) <= MAX_WEEKLY_GOAL_MINUTES:
                errors[group] = N_("Choose a weekly goal between 0 and 1200 minutes.")
            else:
                weekly_goal = int(value)
        elif group == "language":
            if data.locale not in SUPPORTED_LOCALES:
                errors[group] = N_("Choose a language.")
            else:
                changes["locale"] = data.locale
        elif group == "timezone":
            zone = data.timezone.strip()
            if zone not in available_timezones():
                errors[group] = N_("Choose a timezone.")
            else:
                changes["timezone"] = zone
        elif group == "leaderboard":
            changes["leaderboard_opt_in"] = _ticked(data.leaderboard_opt_in)
    return changes, weekly_goal, errors


class SettingsPageController(Controller):
    include_in_schema = False

    @get("/settings", name="settings-page")
    async def settings_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        saved = request.query_params.get("saved", "")
        return await self._render(
            request, OrgScope(db_session, principal), saved=saved if saved in SECTIONS else ""
        )

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
        if section == "pause_add":
            return await self._add_pause(request, org, data.start_date, data.end_date)
        if section == "pause_remove":
            return await self._remove_pause(request, org, data.start_date)
        if section == "delete":
            return await self._delete(request, org, data.confirm)
        if section == PREFERENCES:
            groups: tuple[str, ...] = GROUPS
        elif section in GROUPS:
            groups = (section,)
        else:
            return await self._error(request, org, "form", N_("Something went wrong."))
        changes, weekly_goal, errors = read_preferences(data, groups)
        if errors:
            submitted = data if section == PREFERENCES else None
            return await self._render(
                request, org, errors=errors, submitted=submitted, status_code=400
            )
        if changes:
            await accounts.update_me(org, MeUpdate.model_validate(changes))
        if weekly_goal is not None:
            await progress.set_weekly_goal(org, weekly_goal)
        return Redirect(f"/settings?saved={section}#saved", status_code=303)

    async def _add_pause(
        self, request: Request[Any, Any, Any], org: OrgScope, start: str, end: str
    ) -> Template | Redirect:
        try:
            pause = PauseIn(start_date=date.fromisoformat(start), end_date=date.fromisoformat(end))
        except ValueError:
            return await self._error(
                request, org, "pause", N_("Choose the first and the last day of your pause.")
            )
        if pause.end_date < pause.start_date:
            message = N_("The last day comes on or after the first day.")
            return await self._error(request, org, "pause", message)
        try:
            await progress.plan_pause(org, pause)
        except ClientException:
            message = N_(
                "This pause cannot be planned: it must start today or later, last at most "
                "60 days and not overlap another pause."
            )
            return await self._error(request, org, "pause", message)
        return Redirect("/settings?saved=pause_add#pauses-title", status_code=303)

    async def _remove_pause(
        self, request: Request[Any, Any, Any], org: OrgScope, start: str
    ) -> Template | Redirect:
        try:
            await progress.cancel_pause(org, date.fromisoformat(start))
        except (ValueError, ClientException):
            message = N_("Only a pause that has not started yet can be removed.")
            return await self._error(request, org, "pause", message)
        return Redirect("/settings?saved=pause_remove#pauses-title", status_code=303)

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
        saved: str = "",
        errors: dict[str, str] | None = None,
        submitted: SettingsForm | None = None,
        translated: bool = False,
        status_code: int = 200,
    ) -> Template:
        principal = org.principal
        assert principal.user_id is not None
        locale = choose_locale(request, principal)
        set_locale(locale)
        profile = await accounts.me(org.session, principal.user_id, org.organisation_id)
        goals = await progress.my_goals(org)
        pauses = [p for p in await progress.my_pauses(org) if p.status != "past"]
        zones = list(COMMON_TIMEZONES)
        if profile.timezone not in zones:
            zones.insert(0, profile.timezone)
        # what the form shows: the stored choices, or, after an error, what was just chosen
        prefs: dict[str, Any] = {
            "reminder_time": profile.reminder_time or "",
            "quiet_hours_start": profile.quiet_hours_start,
            "quiet_hours_end": profile.quiet_hours_end,
            "kinds_off": set(profile.nudge_kinds_off),
            "weekly_goal": goals.weekly.target_minutes,
            "locale": profile.locale,
            "timezone": profile.timezone,
            "leaderboard_opt_in": profile.leaderboard_opt_in,
        }
        if submitted is not None:
            wanted = _wanted_kinds(submitted)
            prefs |= {
                "reminder_time": submitted.reminder_time.strip(),
                "quiet_hours_start": submitted.quiet_hours_start.strip(),
                "quiet_hours_end": submitted.quiet_hours_end.strip(),
                "kinds_off": {c.value for c in NudgeCategory if c.value not in wanted},
                "weekly_goal": submitted.weekly_goal.strip(),
                "locale": submitted.locale,
                "timezone": submitted.timezone.strip(),
                "leaderboard_opt_in": _ticked(submitted.leaderboard_opt_in),
            }
        return render(
            request,
            "settings.html",
            {
                "profile": profile,
                "prefs": prefs,
                "nudge_kinds": [
                    (category.value, gettext(label), category.value not in prefs["kinds_off"])
                    for category, label in NUDGE_LABELS.items()
                ],
                "pauses": [
                    {
                        "start": p.start_date.isoformat(),
                        "label": gettext("%(start)s to %(end)s")
                        % {
                            "start": format_date(p.start_date, format="medium", locale=locale),
                            "end": format_date(p.end_date, format="medium", locale=locale),
                        },
                        "days": p.days,
                        "removable": p.status == "upcoming",
                    }
                    for p in pauses
                ],
                "today_iso": local_now(profile.timezone).date().isoformat(),
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
