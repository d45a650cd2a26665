"""Rendering pages: picks the language and hands templates what every page needs."""

from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from litestar import Request
from litestar.response import Template
from litestar.utils.scope.state import ScopeState

from backend.auth.principal import Principal
from pwa.i18n import SUPPORTED_LOCALES, gettext, negotiate, set_locale

LANG_COOKIE = "learnloop_lang"


def choose_locale(request: Request[Any, Any, Any], principal: Principal | None) -> str:
    wanted = request.query_params.get("lang")
    if wanted in SUPPORTED_LOCALES:
        return str(wanted)
    if principal is not None and principal.user_id is not None:
        return principal.locale
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in SUPPORTED_LOCALES:
        return str(cookie)
    return negotiate(request.headers.get("accept-language"))


def render(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    *,
    locale: str,
    status_code: int = 200,
) -> Template:
    set_locale(locale)
    csrf = ScopeState.from_scope(request.scope).csrf_token or ""
    response = Template(
        template_name=template,
        context={"locale": locale, "csrf_token": csrf, **context},
        status_code=status_code,
    )
    if request.query_params.get("lang") in SUPPORTED_LOCALES:
        response.set_cookie(
            LANG_COOKIE, locale, max_age=365 * 24 * 3600, samesite="lax", httponly=True
        )
    return response


def greeting_for(now: datetime) -> str:
    hour = now.hour
    if hour < 12:
        return gettext("Good morning")
    if hour < 18:
        return gettext("Good afternoon")
    return gettext("Good evening")


def local_now(timezone: str) -> datetime:
    return datetime.now(ZoneInfo(timezone))


def long_date(value: datetime, locale: str) -> str:
    return day_text(value.date(), "full", locale)


@lru_cache(maxsize=4096)
def day_text(day: date, length: str, locale: str) -> str:
    """Babel's ``format_date(day, length, locale)`` (``length``: a length such as "medium" or a
    pattern such as "d MMM"), kept per process: Babel parses the locale and applies the
    pattern on every call (~30 us), and pages name the same few days."""
    return format_date(day, format=length, locale=locale)


def signed_in(request: Request[Any, Any, Any]) -> Principal | None:
    """The signed-in person behind a page request (an API key is nobody here)."""
    principal: Principal | None = request.scope.get("user")
    if principal is None or principal.user_id is None:
        return None
    return principal


def not_found_page(request: Request[Any, Any, Any], locale: str) -> Template:
    return render(
        request,
        "error.html",
        {
            "title": gettext("Page not found"),
            "message": gettext("This page does not exist (any more)."),
        },
        locale=locale,
        status_code=404,
    )
