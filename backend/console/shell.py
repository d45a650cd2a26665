"""The console's frame: who may enter, the sidebar, rendering, flash notices and listings.

Every console page is a ``ConsoleController`` route: its guard lets only L&D admins in
(anonymous visitors are sent to sign in, everyone else sees a 403 page); the pages managers
use too (their team, budget requests, insights) are ``ManagerConsoleController`` routes. And
``console_page`` renders a template inside ``console/base.html`` with the sidebar.
Pages are plain HTML forms over the same services the JSON API calls; a POST redirects
back (303) with a flash notice, or re-renders the form with its errors (400).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect, Template
from pydantic import ValidationError

from backend.auth.principal import Principal
from backend.deps import provide_scope
from backend.insights.privacy import GroupTooSmall
from backend.web.pages import choose_locale, render
from pwa.i18n import N_, gettext, set_locale

FLASH_KEY = "console_flash"


@dataclass(frozen=True)
class Section:
    key: str
    label: str  # marked with N_, translated when shown
    href: str
    icon: str  # the name of an icon in console/_icons.html
    managers: bool = False  # also shown to managers (L&D admins see every section)


# The sidebar: first what leaders look at, then in the order an L&D team sets up a programme.
SECTIONS: tuple[Section, ...] = (
    Section("home", N_("Overview"), "/console", "home"),
    Section("team", N_("Team view"), "/console/team", "team", managers=True),
    Section("budget", N_("Budget"), "/console/budget", "wallet", managers=True),
    Section("insights", N_("Insights"), "/console/insights", "chart", managers=True),
    Section("people", N_("People"), "/console/people", "people"),
    Section("teams", N_("Teams"), "/console/teams", "teams"),
    Section("courses", N_("Courses"), "/console/courses", "book"),
    Section("competencies", N_("Competencies"), "/console/competencies", "grid"),
    Section("import", N_("Import"), "/console/import", "upload"),
    Section("game", N_("Game design"), "/console/game", "sliders"),
    Section("badges", N_("Badges"), "/console/badges", "medal"),
    Section("challenges", N_("Challenges"), "/console/challenges", "flag"),
    Section("nudges", N_("Nudges"), "/console/nudges", "bell"),
    Section("testimonials", N_("Testimonials"), "/console/testimonials", "quote"),
    Section("integrations", N_("Integrations"), "/console/integrations", "plug"),
    Section("audit", N_("Audit log"), "/console/audit", "list"),
)


async def requires_console(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """L&D admins only; ``console_exception`` turns these into a sign-in redirect or a page."""
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal) or principal.user_id is None:
        raise NotAuthorizedException("sign in to use the console")
    if not principal.is_ld_admin:
        raise PermissionDeniedException("the console is for L&D admins")


async def requires_leader(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """L&D admins and managers (what they see of a team is checked per team)."""
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal) or principal.user_id is None:
        raise NotAuthorizedException("sign in to use the console")
    if not (principal.is_ld_admin or principal.is_manager):
        raise PermissionDeniedException("this part of the console is for managers and L&D")


class ConsoleController(Controller):
    """Base of every console page controller (HTML, not in the OpenAPI document)."""

    include_in_schema = False
    guards = [requires_console]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}


class ManagerConsoleController(ConsoleController):
    """A console page managers use too (for the teams they manage)."""

    guards = [requires_leader]


def sections_for(principal: Principal) -> tuple[Section, ...]:
    """The sidebar a person sees: all of it for L&D admins, the leaders' part for managers."""
    if principal.is_ld_admin:
        return SECTIONS
    return tuple(s for s in SECTIONS if s.managers)


def floor_page(
    request: Request[Any, Any, Any], error: GroupTooSmall, *, section: str, title: str
) -> Template:
    """The page instead of figures about a group below the privacy floor (403)."""
    return console_page(
        request,
        "console/_privacy_floor.html",
        {"floor": error.floor, "group_label": error.label},
        section=section,
        title=title,
        status_code=403,
    )


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    principal: Principal = request.scope["user"]
    return principal


def flash(request: Request[Any, Any, Any], message: str, kind: str = "success") -> None:
    """A notice shown once on the next console page (after a redirect)."""
    session = dict(request.session or {})
    session[FLASH_KEY] = {"message": message, "kind": kind}
    request.set_session(session)


def _take_flash(request: Request[Any, Any, Any]) -> dict[str, str] | None:
    session = request.session or {}
    notice = session.get(FLASH_KEY)
    if notice is None:
        return None
    rest = {k: v for k, v in session.items() if k != FLASH_KEY}
    request.set_session(rest)
    return notice if isinstance(notice, dict) else None


def console_page(
    request: Request[Any, Any, Any],
    template: str,
    context: Mapping[str, Any],
    *,
    section: str,
    title: str,
    status_code: int = 200,
) -> Template:
    """Render ``template`` (extending console/base.html) with the sidebar and any notice.

    ``title`` is already translated (call ``gettext`` after ``use_locale``).
    """
    principal = principal_of(request)
    locale = choose_locale(request, principal)
    return render(
        request,
        template,
        {
            "sections": sections_for(principal),
            "section": section,
            "page_title": title,
            "principal": principal,
            "flash": _take_flash(request),
            **context,
        },
        locale=locale,
        status_code=status_code,
    )


def use_locale(request: Request[Any, Any, Any]) -> str:
    """Set the request's language before translating texts outside a template."""
    locale = choose_locale(request, request.scope.get("user"))
    set_locale(locale)
    return locale


def redirect(path: str, **query: Any) -> Redirect:
    """303 to ``path`` (after a POST), keeping the given query parameters."""
    kept = {k: v for k, v in query.items() if v not in (None, "")}
    return Redirect(path + (f"?{urlencode(kept)}" if kept else ""), status_code=303)


# --- forms -------------------------------------------------------------------------------

_PYDANTIC_MESSAGES = {
    "missing": N_("This field is required."),
    "string_too_short": N_("This field is required."),
    "string_too_long": N_("This is too long."),
    "int_parsing": N_("Enter a whole number."),
    "float_parsing": N_("Enter a number."),
    "greater_than_equal": N_("This number is too small."),
    "greater_than": N_("This number is too small."),
    "less_than_equal": N_("This number is too large."),
    "less_than": N_("This number is too large."),
    "enum": N_("Choose one of the options."),
    "literal_error": N_("Choose one of the options."),
    "date_from_datetime_parsing": N_("Enter a date."),
    "date_parsing": N_("Enter a date."),
    "url_parsing": N_("Enter a web address starting with https://"),
    "url_scheme": N_("Enter a web address starting with https://"),
    "value_error": N_("This value is not valid."),
}


def form_errors(error: ValidationError) -> dict[str, str]:
    """Per field, one translated message for a form (the first problem of each field).

    Messages a schema raises itself (``ValueError("...")``) are kept as they are written.
    """
    errors: dict[str, str] = {}
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "__all__"
        if name in errors:
            continue
        kind = problem["type"]
        shortest = problem.get("ctx", {}).get("min_length", 1)
        if kind == "string_too_short" and shortest > 1:
            errors[name] = gettext(N_("Use at least %(num)d characters.")) % {"num": shortest}
        elif kind == "value_error":
            errors[name] = str(problem.get("ctx", {}).get("error", problem["msg"]))
        else:
            errors[name] = gettext(_PYDANTIC_MESSAGES.get(kind, N_("This value is not valid.")))
    return errors


def form_values(form: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The submitted values of ``names`` (to refill a form that had errors)."""
    return {name: form.get(name, "") for name in names}


# --- listings ------------------------------------------------------------------------------


@dataclass
class Listing:
    """Search, sorting and paging of a console table, read from and written to the URL."""

    q: str = ""
    sort: str = ""
    descending: bool = False
    page: int = 1
    per_page: int = 25
    total: int = 0
    filters: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_request(
        cls,
        request: Request[Any, Any, Any],
        *,
        sorts: Iterable[str],
        default_sort: str,
        filters: Iterable[str] = (),
        per_page: int = 25,
    ) -> "Listing":
        params = request.query_params
        sort = params.get("sort") or default_sort
        page = params.get("page") or "1"
        return cls(
            q=(params.get("q") or "").replace("\x00", "").strip()[:100],
            sort=sort if sort in set(sorts) else default_sort,
            descending=params.get("dir") == "desc",
            page=int(page) if page.isdigit() and 0 < len(page) < 6 else 1,
            per_page=per_page,
            filters={
                name: (params.get(name) or "").replace("\x00", "").strip()[:100] for name in filters
            },
        )

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def url(self, **changes: Any) -> str:
        """This listing's URL query with ``changes`` (e.g. ``page=2``, ``sort="title"``)."""
        values: dict[str, Any] = {
            "q": self.q,
            "sort": self.sort,
            "dir": "desc" if self.descending else "",
            "page": self.page if self.page > 1 else "",
            **self.filters,
        }
        values.update(changes)
        kept = {k: v for k, v in values.items() if v not in (None, "") and (k, v) != ("page", 1)}
        return "?" + urlencode(kept) if kept else "?"

    def sort_url(self, column: str) -> str:
        """Sort by ``column``; again on the same column flips the direction."""
        flip = column == self.sort and not self.descending
        return self.url(sort=column, dir="desc" if flip else "", page="")

    def aria_sort(self, column: str) -> str:
        if column != self.sort:
            return "none"
        return "descending" if self.descending else "ascending"


def console_exception_response(
    request: Request[Any, Any, Any], exc: HTTPException
) -> Redirect | Template | None:
    """The HTML answer to a 401/403 on a console page (None: not a console page); figures
    about a group below the privacy floor get the floor's page, whichever page asked."""
    path = request.url.path
    status_code = exc.status_code
    if not (path == "/console" or path.startswith("/console/")):
        return None
    if isinstance(exc, GroupTooSmall):
        use_locale(request)
        section = path.removeprefix("/console").strip("/").split("/")[0] or "home"
        return floor_page(
            request, exc, section=section, title=gettext(N_("Too few people to show figures"))
        )
    if status_code == 401:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return Redirect("/login?" + urlencode({"next": target}), status_code=303)
    if status_code == 403:
        principal = request.scope.get("user")
        locale = choose_locale(request, principal)
        set_locale(locale)
        return render(
            request,
            "error.html",
            {
                "title": gettext("Only for L&D admins")
                if isinstance(principal, Principal) and principal.is_manager
                else gettext("Only for managers and L&D admins"),
                "message": gettext(
                    "The console is where L&D teams set up learning and managers follow "
                    "their teams. Ask an L&D admin of your organisation if you need access."
                ),
            },
            locale=locale,
            status_code=403,
        )
    return None
