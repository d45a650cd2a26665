"""Console: people (add, invite, roles, team, deactivate, password reset) and teams.

Every form goes through the same service functions as ``/api/v1/users`` and
``/api/v1/teams`` (backend/accounts/services.py, backend/teams/services.py), which write the
audit entries. An invitation or reset link that could not be mailed is shown to the admin
once, on the person's page after the redirect, and kept nowhere else.
"""

from datetime import datetime
from typing import Annotated, Any, cast
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import ValidationError
from sqlmodel import col

from backend.accounts import services as accounts
from backend.accounts.schemas import TeamMove, UserCreate, UserPublic, UserUpdate
from backend.console.shell import (
    ConsoleController,
    Listing,
    console_page,
    flash,
    form_errors,
    form_values,
    principal_of,
    redirect,
    use_locale,
)
from backend.db.models import Role, SignInLink, Team, User
from backend.db.types import utcnow
from backend.deps import app_context
from backend.teams import services as teams
from backend.teams.schemas import MembershipUpdate, TeamCreate, TeamUpdate
from backend.tenancy import OrgScope
from pwa.i18n import N_, gettext

PEOPLE = "/console/people"
TEAMS = "/console/teams"
LINK_KEY = "console_people_link"  # a link that could not be mailed, shown once
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]

ROLE_LABELS = {
    Role.employee.value: N_("Employee"),
    Role.manager.value: N_("Manager"),
    Role.ld_admin.value: N_("L&D admin"),
}
STATUS_LABELS = {
    "active": N_("Active"),
    "invited": N_("Not signed in yet"),
    "deactivated": N_("Deactivated"),
}
STATUS_PILLS = {"active": "pill-green", "invited": "pill-amber", "deactivated": "pill-red"}
LOCALE_LABELS = (("nl", "Nederlands"), ("en", "English"))


def status_of(person: UserPublic) -> str:
    if not person.is_active:
        return "deactivated"
    return "active" if person.has_password else "invited"


def _roles_from(form: dict[str, str]) -> list[str]:
    """Everyone is an employee (a learner); the checkboxes add manager and L&D admin."""
    return [Role.employee.value] + [
        role for role in (Role.manager.value, Role.ld_admin.value) if form.get(f"role_{role}")
    ]


def _int_or_none(value: str | None) -> int | str | None:
    value = (value or "").strip()
    if not value:
        return None
    return int(value) if value.isdigit() and len(value) < 10 else value


def _problem(exc: ClientException) -> str:
    """A service refusal as a console message (the API's English detail as a fallback)."""
    detail = str(exc.detail)
    known = {
        "already exists": N_("Someone in your organisation already has this e-mail address."),
        "you cannot": N_(
            "You cannot deactivate yourself or take away your own L&D admin role. "
            "Ask another L&D admin."
        ),
        "is deactivated": N_("Reactivate this person first."),
    }
    for fragment, message in known.items():
        if fragment in detail:
            return gettext(message)
    return detail


async def _team_options(org: OrgScope) -> list[tuple[int, str]]:
    rows = await org.all(org.select(Team).order_by(col(Team.name)))
    return [(t.id or 0, t.name) for t in rows]


def _date(value: datetime | None, locale: str, timezone: str) -> str:
    if value is None:
        return ""
    return format_date(value.astimezone(ZoneInfo(timezone)).date(), format="medium", locale=locale)


# --- people ------------------------------------------------------------------------------


class PeopleConsoleController(ConsoleController):
    path = PEOPLE

    @get("/", name="console:people")
    async def index(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        locale = use_locale(request)
        listing = Listing.from_request(
            request,
            sorts=accounts.PEOPLE_SORTS,
            default_sort="name",
            filters=("team", "role", "status"),
            per_page=25,
        )
        team_options = await _team_options(org)
        team_id = _int_or_none(listing.filters["team"])
        if not isinstance(team_id, int) or team_id not in dict(team_options):
            listing.filters["team"], team_id = "", None
        if listing.filters["role"] not in ROLE_LABELS:
            listing.filters["role"] = ""
        if listing.filters["status"] not in STATUS_LABELS:
            listing.filters["status"] = ""
        query = accounts.PeopleQuery(
            q=listing.q,
            team_id=team_id if isinstance(team_id, int) else None,
            role=Role(listing.filters["role"]) if listing.filters["role"] else None,
            status=cast(accounts.PeopleStatus | None, listing.filters["status"] or None),
            sort=listing.sort,
            descending=listing.descending,
            limit=listing.per_page,
            offset=listing.offset,
        )
        people, listing.total = await accounts.list_people(org, query)
        principal = principal_of(request)
        filtered = bool(listing.q or any(listing.filters.values()))
        return console_page(
            request,
            "console/people/index.html",
            {
                "listing": listing,
                "filtered": filtered,
                "people": [
                    {
                        "p": p,
                        "status": status_of(p),
                        "status_label": gettext(STATUS_LABELS[status_of(p)]),
                        "pill": STATUS_PILLS[status_of(p)],
                        "roles": [gettext(ROLE_LABELS[r]) for r in p.roles if r != "employee"],
                        "is_me": p.id == principal.user_id,
                        "added": _date(p.created_at, locale, principal.timezone),
                    }
                    for p in people
                ],
                "team_options": team_options,
                "role_options": [(k, gettext(v)) for k, v in ROLE_LABELS.items()],
                "status_options": [(k, gettext(v)) for k, v in STATUS_LABELS.items()],
                "locale": locale,
            },
            section="people",
            title=gettext("People"),
        )

    @get("/new", name="console:people-new")
    async def new(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        use_locale(request)
        organisation = await org.organisation()
        team = request.query_params.get("team", "")
        return await self._form(
            request,
            org,
            {"locale": organisation.default_locale, "team_id": team, "invite": "1"},
            {},
        )

    async def _form(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        values: dict[str, Any],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        settings = app_context(request.app.state).settings
        return console_page(
            request,
            "console/people/new.html",
            {
                "values": values,
                "errors": errors,
                "team_options": [("", gettext("No team"))]
                + [(str(k), v) for k, v in await _team_options(org)],
                "locale_options": LOCALE_LABELS,
                "job_families": await accounts.job_families(org),
                "mail_configured": settings.mail_configured,
            },
            section="people",
            title=gettext("Add a person"),
            status_code=status_code,
        )

    @post("/new", name="console:people-create")
    async def create(
        self, request: Request[Any, Any, Any], org: OrgScope, state: State, data: Form
    ) -> Template | Redirect:
        use_locale(request)
        values = form_values(
            data,
            (
                "display_name",
                "email",
                "locale",
                "job_family",
                "team_id",
                "role_manager",
                "role_ld_admin",
            ),
        )
        values["invite"] = data.get("invite", "")
        try:
            body = UserCreate.model_validate(
                {
                    "display_name": data.get("display_name", ""),
                    "email": data.get("email", "").strip(),
                    "locale": data.get("locale") or None,
                    "job_family": data.get("job_family", ""),
                    "team_id": _int_or_none(data.get("team_id")),
                    "roles": _roles_from(data),
                }
            )
        except ValidationError as exc:
            errors = form_errors(exc)
            if "email" in errors:
                errors["email"] = gettext("Enter an e-mail address such as name@example.com.")
            return await self._form(request, org, values, errors, 400)
        settings = app_context(state).settings
        try:
            person = await accounts.create_user(org, body, settings.password_cost)
        except ClientException as exc:
            field = "email" if "e-mail" in str(exc.detail) else "team_id"
            return await self._form(request, org, values, {field: _problem(exc)}, 400)
        if data.get("invite"):
            return await _send(request, org, state, person.id, "invite", created=True)
        flash(request, gettext("%(name)s was added.") % {"name": person.display_name})
        return redirect(f"{PEOPLE}/{person.id}")

    @get("/{user_id:int}", name="console:person")
    async def person(
        self, request: Request[Any, Any, Any], org: OrgScope, user_id: int
    ) -> Template:
        use_locale(request)
        person = await accounts.get_person(org, user_id)
        return await self._person_page(request, org, person, {}, {})

    async def _person_page(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        person: UserPublic,
        values: dict[str, Any],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        locale = use_locale(request)
        principal = principal_of(request)
        session = dict(request.session or {})
        shown_link = session.pop(LINK_KEY, None)
        if shown_link is not None:
            request.set_session(session)
            if not isinstance(shown_link, dict) or shown_link.get("user_id") != person.id:
                shown_link = None
        user = await org.get(User, person.id, what="user")
        settings = app_context(request.app.state).settings
        status = status_of(person)
        open_link = (
            await org.session.exec(
                org.select(SignInLink)
                .where(
                    SignInLink.user_id == person.id,
                    col(SignInLink.used_at).is_(None),
                    col(SignInLink.expires_at) > utcnow(),
                )
                .order_by(col(SignInLink.created_at).desc())
            )
        ).first()
        return console_page(
            request,
            "console/people/person.html",
            {
                "p": person,
                "status": status,
                "status_label": gettext(STATUS_LABELS[status]),
                "pill": STATUS_PILLS[status],
                "values": values
                or {
                    "display_name": person.display_name,
                    "locale": person.locale,
                    "job_family": person.job_family or "",
                    "role_manager": Role.manager.value in person.roles,
                    "role_ld_admin": Role.ld_admin.value in person.roles,
                    "team_id": str(person.teams[0].id) if len(person.teams) == 1 else "",
                },
                "errors": errors,
                "is_me": person.id == principal.user_id,
                "added": _date(user.created_at, locale, principal.timezone),
                "start_date": (
                    format_date(person.start_date, format="medium", locale=locale)
                    if person.start_date
                    else ""
                ),
                "team_options": [("", gettext("No team"))]
                + [(str(k), v) for k, v in await _team_options(org)],
                "locale_options": LOCALE_LABELS,
                "job_families": await accounts.job_families(org),
                "link": shown_link,
                "link_until": (
                    format_datetime(
                        datetime.fromisoformat(shown_link["expires_at"]),
                        format="medium",
                        tzinfo=ZoneInfo(principal.timezone),
                        locale=locale,
                    )
                    if shown_link
                    else ""
                ),
                "mail_configured": settings.mail_configured,
                "open_link": open_link,
                "open_link_sent": _date(
                    open_link.created_at if open_link else None, locale, principal.timezone
                ),
                "open_link_until": _date(
                    open_link.expires_at if open_link else None, locale, principal.timezone
                ),
            },
            section="people",
            title=person.display_name,
            status_code=status_code,
        )

    @post("/{user_id:int}", name="console:person-update")
    async def update(
        self, request: Request[Any, Any, Any], org: OrgScope, user_id: int, data: Form
    ) -> Template | Redirect:
        use_locale(request)
        person = await accounts.get_person(org, user_id)
        try:
            body = UserUpdate.model_validate(
                {
                    "display_name": data.get("display_name", ""),
                    "locale": data.get("locale") or None,
                    "job_family": data.get("job_family", ""),
                }
            )
        except ValidationError as exc:
            values = form_values(data, ("display_name", "locale", "job_family"))
            return await self._person_page(request, org, person, values, form_errors(exc), 400)
        await accounts.update_profile(
            org,
            user_id,
            display_name=body.display_name,
            locale=body.locale,
            job_family=body.job_family,
        )
        flash(request, gettext("Saved."))
        return redirect(f"{PEOPLE}/{user_id}")

    @post("/{user_id:int}/roles", name="console:person-roles")
    async def roles(
        self, request: Request[Any, Any, Any], org: OrgScope, user_id: int, data: Form
    ) -> Redirect:
        use_locale(request)
        try:
            person = await accounts.set_roles(org, user_id, _roles_from(data))
        except ClientException as exc:
            flash(request, _problem(exc), "error")
            return redirect(f"{PEOPLE}/{user_id}")
        labels = ", ".join(gettext(ROLE_LABELS[r]) for r in person.roles)
        flash(
            request,
            gettext("Roles of %(name)s: %(roles)s.")
            % {"name": person.display_name, "roles": labels},
        )
        return redirect(f"{PEOPLE}/{user_id}")

    @post("/{user_id:int}/team", name="console:person-team")
    async def team(
        self, request: Request[Any, Any, Any], org: OrgScope, user_id: int, data: Form
    ) -> Template | Redirect:
        use_locale(request)
        try:
            body = TeamMove.model_validate({"team_id": _int_or_none(data.get("team_id"))})
        except ValidationError as exc:
            person = await accounts.get_person(org, user_id)
            values = {"team_id": data.get("team_id", "")}
            return await self._person_page(request, org, person, values, form_errors(exc), 400)
        person = await accounts.move_to_team(org, user_id, body.team_id)
        if person.teams:
            message = gettext("%(name)s is now in team %(team)s.") % {
                "name": person.display_name,
                "team": person.teams[0].name,
            }
        else:
            message = gettext("%(name)s is in no team now.") % {"name": person.display_name}
        flash(request, message)
        return redirect(f"{PEOPLE}/{user_id}")

    @post("/{user_id:int}/invite", name="console:person-invite")
    async def invite(
        self, request: Request[Any, Any, Any], org: OrgScope, state: State, user_id: int
    ) -> Redirect:
        use_locale(request)
        return await _send(request, org, state, user_id, "invite")

    @post("/{user_id:int}/reset", name="console:person-reset")
    async def reset(
        self, request: Request[Any, Any, Any], org: OrgScope, state: State, user_id: int
    ) -> Redirect:
        use_locale(request)
        return await _send(request, org, state, user_id, "reset")

    @post("/{user_id:int}/deactivate", name="console:person-deactivate")
    async def deactivate(
        self, request: Request[Any, Any, Any], org: OrgScope, user_id: int
    ) -> Redirect:
        use_locale(request)
        try:
            person = await accounts.deactivate(org, user_id)
        except ClientException as exc:
            flash(request, _problem(exc), "error")
        else:
            flash(
                request,
                gettext("%(name)s is deactivated and signed out everywhere.")
                % {"name": person.display_name},
            )
        return redirect(f"{PEOPLE}/{user_id}")

    @post("/{user_id:int}/reactivate", name="console:person-reactivate")
    async def reactivate(
        self, request: Request[Any, Any, Any], org: OrgScope, user_id: int
    ) -> Redirect:
        use_locale(request)
        person = await accounts.reactivate(org, user_id)
        flash(request, gettext("%(name)s can sign in again.") % {"name": person.display_name})
        return redirect(f"{PEOPLE}/{user_id}")


async def _send(
    request: Request[Any, Any, Any],
    org: OrgScope,
    state: State,
    user_id: int,
    purpose: Any,
    *,
    created: bool = False,
) -> Redirect:
    """Send an invitation or reset link; an unmailed link is kept for one page view."""
    try:
        sent = await accounts.send_link(org, app_context(state).settings, user_id, purpose)
    except ClientException as exc:
        flash(request, _problem(exc), "error")
        return redirect(f"{PEOPLE}/{user_id}")
    person = await accounts.get_person(org, user_id)
    names = {"name": person.display_name, "email": person.email}
    if sent.mailed:
        if purpose == "invite":
            text = (
                gettext("%(name)s was added and invited by mail at %(email)s.")
                if created
                else gettext("An invitation is on its way to %(email)s.")
            )
        else:
            text = gettext("A link to set a new password is on its way to %(email)s.")
        flash(request, text % names)
    else:
        session = dict(request.session or {})
        session[LINK_KEY] = {
            "user_id": user_id,
            "purpose": purpose,
            "link": sent.link,
            "expires_at": sent.expires_at.isoformat(),
            "mail_failed": sent.mail_error is not None,
        }
        request.set_session(session)
        if created:
            flash(request, gettext("%(name)s was added.") % names)
    return redirect(f"{PEOPLE}/{user_id}")


# --- teams -------------------------------------------------------------------------------


class TeamsConsoleController(ConsoleController):
    path = TEAMS

    @get("/", name="console:teams")
    async def index(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        use_locale(request)
        return await self._index(request, org, {}, {})

    async def _index(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        values: dict[str, Any],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        listing = Listing.from_request(
            request, sorts=("name", "members"), default_sort="name", per_page=50
        )
        rows = await teams.list_teams(org)
        if listing.q:
            rows = [t for t in rows if listing.q.lower() in t.name.lower()]
        if listing.sort == "members":
            rows.sort(key=lambda t: (t.member_count, t.name.lower()), reverse=listing.descending)
        elif listing.descending:
            rows.reverse()
        listing.total = len(rows)
        page = rows[listing.offset : listing.offset + listing.per_page]
        return console_page(
            request,
            "console/people/teams.html",
            {"listing": listing, "teams": page, "values": values, "errors": errors},
            section="teams",
            title=gettext("Teams"),
            status_code=status_code,
        )

    @post("/", name="console:teams-create")
    async def create(
        self, request: Request[Any, Any, Any], org: OrgScope, data: Form
    ) -> Template | Redirect:
        use_locale(request)
        try:
            body = TeamCreate.model_validate({"name": data.get("name", "")})
        except ValidationError as exc:
            return await self._index(request, org, dict(data), form_errors(exc), 400)
        try:
            team = await teams.create_team(org, body)
        except ClientException:
            errors = {"name": gettext("A team with this name already exists.")}
            return await self._index(request, org, dict(data), errors, 400)
        flash(request, gettext("Team %(name)s was created. Add its members.") % {"name": team.name})
        return redirect(f"{TEAMS}/{team.id}")

    @get("/{team_id:int}", name="console:team")
    async def team(self, request: Request[Any, Any, Any], org: OrgScope, team_id: int) -> Template:
        use_locale(request)
        return await self._team_page(request, org, team_id, {}, {})

    async def _team_page(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        team_id: int,
        values: dict[str, Any],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        detail = await teams.get_team(org, team_id)
        members = {m.user_id for m in detail.members}
        # suggestions for "add a member": active people not in the team yet
        others = await org.all(
            org.select(User)
            .where(col(User.is_active).is_(True), col(User.id).not_in(members or {0}))
            .order_by(col(User.display_name))
            .limit(500)
        )
        emails = dict(
            (u.id, u.email)
            for u in await org.all(org.select(User).where(col(User.id).in_(members)))
        )
        return console_page(
            request,
            "console/people/team.html",
            {
                "team": detail,
                "emails": emails,
                "suggestions": others,
                "values": values or {"name": detail.name},
                "errors": errors,
            },
            section="teams",
            title=detail.name,
            status_code=status_code,
        )

    @post("/{team_id:int}", name="console:team-rename")
    async def rename(
        self, request: Request[Any, Any, Any], org: OrgScope, team_id: int, data: Form
    ) -> Template | Redirect:
        use_locale(request)
        try:
            body = TeamUpdate.model_validate({"name": data.get("name", "")})
        except ValidationError as exc:
            return await self._team_page(request, org, team_id, dict(data), form_errors(exc), 400)
        try:
            team = await teams.rename_team(org, team_id, body.name or "")
        except ClientException:
            errors = {"name": gettext("A team with this name already exists.")}
            return await self._team_page(request, org, team_id, dict(data), errors, 400)
        flash(request, gettext("Saved as %(name)s.") % {"name": team.name})
        return redirect(f"{TEAMS}/{team_id}")

    @post("/{team_id:int}/members", name="console:team-add-member")
    async def add_member(
        self, request: Request[Any, Any, Any], org: OrgScope, team_id: int, data: Form
    ) -> Template | Redirect:
        use_locale(request)
        email = accounts.normalise_email(data.get("email", ""))[:254].replace("\x00", "")
        user = (
            (await org.session.exec(org.select(User).where(User.email == email))).first()
            if email
            else None
        )
        if user is None or user.id is None:
            errors = {
                "email": gettext("Nobody in your organisation has this e-mail address.")
                if email
                else gettext("This field is required.")
            }
            values = {"email": data.get("email", "")}
            return await self._team_page(request, org, team_id, values, errors, 400)
        detail = await teams.set_member(
            org, team_id, user.id, MembershipUpdate(is_manager=bool(data.get("is_manager")))
        )
        flash(
            request,
            gettext("%(name)s is now in team %(team)s.")
            % {"name": user.display_name, "team": detail.name},
        )
        return redirect(f"{TEAMS}/{team_id}")

    @post("/{team_id:int}/members/{user_id:int}/manager", name="console:team-manager")
    async def manager(
        self, request: Request[Any, Any, Any], org: OrgScope, team_id: int, user_id: int, data: Form
    ) -> Redirect:
        use_locale(request)
        is_manager = data.get("is_manager") == "1"
        detail = await teams.set_member(
            org, team_id, user_id, MembershipUpdate(is_manager=is_manager)
        )
        name = next((m.display_name for m in detail.members if m.user_id == user_id), "")
        text = (
            gettext("%(name)s manages %(team)s now.")
            if is_manager
            else gettext("%(name)s no longer manages %(team)s.")
        )
        flash(request, text % {"name": name, "team": detail.name})
        return redirect(f"{TEAMS}/{team_id}")

    @post("/{team_id:int}/members/{user_id:int}/remove", name="console:team-remove-member")
    async def remove_member(
        self, request: Request[Any, Any, Any], org: OrgScope, team_id: int, user_id: int
    ) -> Redirect:
        use_locale(request)
        user = await org.get(User, user_id, what="user")
        try:
            await teams.remove_member(org, team_id, user_id)
        except ClientException as exc:
            flash(request, str(exc.detail), "error")
        else:
            flash(request, gettext("%(name)s left the team.") % {"name": user.display_name})
        return redirect(f"{TEAMS}/{team_id}")

    @post("/{team_id:int}/delete", name="console:team-delete")
    async def delete(
        self, request: Request[Any, Any, Any], org: OrgScope, team_id: int
    ) -> Redirect:
        use_locale(request)
        team = await org.get(Team, team_id, what="team")
        try:
            await teams.delete_team(org, team_id)
        except ClientException as exc:
            message = (
                gettext("Move or remove the members of %(name)s first.")
                if "member" in str(exc.detail)
                else gettext("%(name)s has team challenges, so it stays.")
            )
            flash(request, message % {"name": team.name}, "error")
            return redirect(f"{TEAMS}/{team_id}")
        flash(request, gettext("Team %(name)s was deleted.") % {"name": team.name})
        return redirect(TEAMS)


CONTROLLERS = [PeopleConsoleController, TeamsConsoleController]
