"""The "log a learning moment" page: a 30-second form that also works without JavaScript.

With JavaScript (pwa/static/js/log.js) the form posts JSON to ``POST /api/v1/me/moments`` and
queues moments offline; without it, the browser posts the form here. Both paths use a client
id (a hidden field generated with the page), so a double submit or a retry counts once, and
both check a moment the same way (the ``MomentIn`` schema) and log it the same way
(``service.record_moment``).
"""

import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel, ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.db.models import Competency, TeamMembership, User
from backend.db.types import utcnow
from backend.learning.adapters import RefusedMoment
from backend.learning.model import ConflictingEvents
from backend.learning.schemas import MomentIn
from backend.learning.service import record_moment
from backend.tenancy import OrgScope
from backend.web.pages import choose_locale, render, signed_in
from pwa.i18n import N_, gettext, set_locale

QUICK_MINUTES = (5, 10, 15, 30, 60)
DEFAULT_MINUTES = 15
# what the form says about a field that ``MomentIn`` refuses
FIELD_ERRORS = {
    "what": N_("Write down in a few words what you learned."),
    "minutes": N_("Choose how many minutes: between 1 and 480."),
    "competency_id": N_("Choose a competency from the list."),
    "colleague_id": N_("Choose a colleague from the list."),
    "occurred_at": N_("Give the time of the moment as a date, time and timezone."),
}


class LogForm(BaseModel):
    client_id: str = ""
    what: str = ""
    minutes: str = ""  # one of the quick-pick chips
    minutes_other: str = ""  # the number field; wins when filled in
    competency_id: str = ""
    colleague_id: str = ""
    occurred_at: str = ""  # ISO 8601 with an offset, as the JSON route takes it; empty: now


@dataclass
class FormState:
    client_id: str
    what: str = ""
    minutes: int | None = DEFAULT_MINUTES
    minutes_other: str = ""
    competency_id: int | None = None
    colleague_id: int | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _int_or_none(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() and len(value) < 10 else None


def _moment(form: FormState, occurred_at: str) -> MomentIn | None:
    """The moment the form describes, checked by the schema the JSON route uses; None (and
    the form's errors set) when the schema refuses it."""
    fields: dict[str, Any] = {"client_id": form.client_id, "what": form.what}
    for name, value in (
        ("minutes", form.minutes),
        ("competency_id", form.competency_id),
        ("colleague_id", form.colleague_id),
        ("occurred_at", occurred_at or None),
    ):
        if value is not None:
            fields[name] = value
    try:
        return MomentIn.model_validate(fields)
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "what"
            form.errors.setdefault(field, FIELD_ERRORS.get(field, FIELD_ERRORS["what"]))
        return None


async def _choices(
    session: AsyncSession, principal: Principal
) -> tuple[list[Competency], list[User]]:
    org_id = principal.organisation_id
    competencies = (
        await session.exec(
            select(Competency)
            .where(Competency.organisation_id == org_id)
            .order_by(col(Competency.name))
        )
    ).all()
    my_teams = select(TeamMembership.team_id).where(
        TeamMembership.user_id == principal.user_id, TeamMembership.organisation_id == org_id
    )
    colleague_ids = select(TeamMembership.user_id).where(
        TeamMembership.organisation_id == org_id, col(TeamMembership.team_id).in_(my_teams)
    )
    colleagues = (
        await session.exec(
            select(User)
            .where(
                User.organisation_id == org_id,
                col(User.is_active).is_(True),
                User.id != principal.user_id,
                col(User.id).in_(colleague_ids),
            )
            .order_by(col(User.display_name))
        )
    ).all()
    return list(competencies), list(colleagues)


class LogPageController(Controller):
    include_in_schema = False

    @get("/log", name="log-page")
    async def log_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        return await self._render(request, db_session, principal, FormState(str(uuid.uuid4())))

    @post("/log", name="log-moment-form")
    async def log_moment(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        data: Annotated[LogForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        assert principal.user_id is not None
        form = FormState(
            client_id=data.client_id.strip()[:36] or str(uuid.uuid4()),
            what=data.what.strip()[:300],
            minutes=_int_or_none(data.minutes_other) or _int_or_none(data.minutes),
            minutes_other=data.minutes_other.strip()[:3],
            competency_id=_int_or_none(data.competency_id),
            colleague_id=_int_or_none(data.colleague_id),
        )
        try:
            uuid.UUID(form.client_id)
        except ValueError:
            form.client_id = str(uuid.uuid4())
        moment = _moment(form, data.occurred_at.strip())
        competencies, colleagues = await _choices(db_session, principal)
        if form.competency_id is not None and form.competency_id not in {
            c.id for c in competencies
        }:
            form.errors["competency_id"] = FIELD_ERRORS["competency_id"]
        if form.colleague_id is not None and form.colleague_id not in {c.id for c in colleagues}:
            form.errors["colleague_id"] = FIELD_ERRORS["colleague_id"]
        result = None
        if moment is not None and not form.errors:
            try:
                # the colleague it names hears about it (once, even when the form is sent twice)
                result = await record_moment(OrgScope(db_session, principal), moment, utcnow())
            except RefusedMoment as exc:
                form.errors[exc.field] = exc.message
            except ConflictingEvents:
                form.client_id = str(uuid.uuid4())
                form.errors["what"] = N_("This moment was already logged with other details.")
                # the rollback expired the choices read above: _render reads them again
                return await self._render(request, db_session, principal, form, status_code=409)
        if result is None:
            return await self._render(
                request, db_session, principal, form, (competencies, colleagues), status_code=400
            )
        return Redirect(f"/?logged={result.xp}", status_code=303)

    async def _render(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        form: FormState,
        choices: tuple[list[Competency], list[User]] | None = None,
        *,
        status_code: int = 200,
    ) -> Template:
        locale = choose_locale(request, principal)
        set_locale(locale)
        competencies, colleagues = choices or await _choices(db_session, principal)
        return render(
            request,
            "log.html",
            {
                "form": form,
                "quick_minutes": QUICK_MINUTES,
                "competencies": competencies,
                "colleagues": colleagues,
                "user_id": principal.user_id,
                "errors": {key: gettext(text) for key, text in form.errors.items()},
            },
            locale=locale,
            status_code=status_code,
        )
