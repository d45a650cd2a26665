from typing import Any, Literal

from litestar import Controller, get, patch
from litestar.di import Provide
from litestar.exceptions import ValidationException
from pydantic import BaseModel, ValidationError

from backend.accounts.schemas import Schema
from backend.auth.guards import requires_ld_admin, requires_signed_in
from backend.db.models import Organisation
from backend.deps import provide_scope
from backend.organisations.settings import OrganisationSettings, organisation_settings
from backend.tenancy import OrgScope
from backend.validation import Name, TimezoneName


class OrganisationPublic(BaseModel):
    id: int
    name: str
    default_timezone: str
    default_locale: str
    settings: OrganisationSettings


class OrganisationUpdate(Schema):
    name: Name | None = None
    default_timezone: TimezoneName | None = None
    default_locale: Literal["nl", "en"] | None = None
    settings: dict[str, Any] | None = None


def _public(organisation: Organisation) -> OrganisationPublic:
    assert organisation.id is not None
    return OrganisationPublic(
        id=organisation.id,
        name=organisation.name,
        default_timezone=organisation.default_timezone,
        default_locale=organisation.default_locale,
        settings=organisation_settings(organisation),
    )


class OrganisationController(Controller):
    path = "/api/v1/organisation"
    tags = ["organisation"]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    async def _load(self, org: OrgScope) -> Organisation:
        return await org.organisation()

    @get("/", guards=[requires_signed_in], summary="My organisation and its settings")
    async def get_organisation(self, org: OrgScope) -> OrganisationPublic:
        return _public(await self._load(org))

    @patch(
        "/",
        guards=[requires_ld_admin],
        summary="Change the organisation's name, defaults or settings (L&D admin)",
    )
    async def update_organisation(
        self, org: OrgScope, data: OrganisationUpdate
    ) -> OrganisationPublic:
        organisation = await self._load(org)
        if data.settings is not None:
            # validate the merged document so a partial update can't store a broken setting
            merged = organisation_settings(organisation).model_dump() | data.settings
            try:
                organisation.settings = OrganisationSettings.model_validate(merged).model_dump()
            except ValidationError as exc:
                raise ValidationException(
                    "invalid organisation settings",
                    extra=[
                        {"key": f"settings.{'.'.join(map(str, e['loc']))}", "message": e["msg"]}
                        for e in exc.errors()
                    ],
                ) from exc
        for field in ("name", "default_timezone", "default_locale"):
            value = getattr(data, field)
            if value is not None:
                setattr(organisation, field, value)
        org.session.add(organisation)
        await org.session.commit()
        return _public(organisation)
