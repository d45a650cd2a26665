"""The "log a learning moment" page: a 30-second form that also works without JavaScript.

With JavaScript (pwa/static/js/log.js) the form posts JSON to ``POST /api/v1/me/moments`` and
queues moments offline; without it, the browser posts the form here. Both paths use a client
id (a hidden field generated with the page), so a double submit or a retry counts once.
"""

import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.db.models import Competency, Organisation, TeamMembership, User
from backend.db.types import utcnow
from backend.kudos.service import thank_for_moment
from backend.learning.model import ConflictingEvents, IncomingEvent
from backend.learning.schemas import MomentIn
from backend.learning.service import record_events
from backend.tenancy import OrgScope
from backend.web.pages import choose_locale, render, signed_in
from pwa.i18n import N_, gettext, set_locale

QUICK_MINUTES = (5, 10, 15, 30, 60)
DEFAULT_MINUTES = 15


class LogForm(BaseModel):
    client_id: str = ""
    what: str = ""
    minutes: str = ""  # one of the quick-pick chips
    minutes_other: str = ""  # the number field; wins when filled in
    competency_id: str = ""
    colleague_id: str = ""


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
        if len(form.what) < 2:
            form.errors["what"] = N_("Write down in a few words what you learned.")
        if form.minutes is None or not 1 <= form.minutes <= 480:
            form.errors["minutes"] = N_("Choose how many minutes: between 1 and 480.")
        competencies, colleagues = await _choices(db_session, principal)
        if form.competency_id is not None and form.competency_id not in {
            c.id for c in competencies
        }:
            form.errors["competency_id"] = N_("Choose a competency from the list.")
        if form.colleague_id is not None and form.colleague_id not in {c.id for c in colleagues}:
            form.errors["colleague_id"] = N_("Choose a colleague from the list.")
        if form.errors:
            return await self._render(
                request, db_session, principal, form, (competencies, colleagues), status_code=400
            )

        moment = MomentIn(
            client_id=uuid.UUID(form.client_id),
            what=form.what,
            minutes=form.minutes or 0,
            **{
                key: value
                for key, value in (
                    ("competency_id", form.competency_id),
                    ("colleague_id", form.colleague_id),
                )
                if value is not None
            },
        )
        event = IncomingEvent(
            key=f"pwa:{moment.client_id}",
            user_id=principal.user_id,
            kind="informal",
            source="pwa",
            occurred_at=utcnow(),
            minutes=moment.minutes,
            competency_id=moment.competency_id,
            title=moment.what,
            text=moment.what,
            # the same payload the JSON API stores, so both paths agree on what a duplicate is
            payload=moment.model_dump(mode="json", exclude_unset=True),
        )
        organisation = (
            await db_session.exec(
                select(Organisation).where(Organisation.id == principal.organisation_id)
            )
        ).one()
        try:
            [result] = await record_events(db_session, organisation, [event], atomic=True)
        except ConflictingEvents:
            form.client_id = str(uuid.uuid4())
            form.errors["what"] = N_("This moment was already logged with other details.")
            return await self._render(request, db_session, principal, form, status_code=409)
        # the colleague it names hears about it (once, even when the form is sent twice)
        await thank_for_moment(
            OrgScope(db_session, principal), moment.colleague_id, result.event_id
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
