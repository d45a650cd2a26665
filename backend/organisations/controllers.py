from litestar import Controller, get, patch
from litestar.di import Provide

from backend.auth.guards import requires_ld_admin, requires_signed_in
from backend.deps import provide_scope
from backend.organisations import services
from backend.organisations.schemas import OrganisationPublic, OrganisationUpdate
from backend.tenancy import OrgScope


class OrganisationController(Controller):
    path = "/api/v1/organisation"
    tags = ["organisation"]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", guards=[requires_signed_in], summary="My organisation and its settings")
    async def get_organisation(self, org: OrgScope) -> OrganisationPublic:
        return await services.get_organisation(org)

    @patch(
        "/",
        guards=[requires_ld_admin],
        summary="Change the organisation's name, defaults or settings (L&D admin)",
    )
    async def update_organisation(
        self, org: OrgScope, data: OrganisationUpdate
    ) -> OrganisationPublic:
        return await services.update_organisation(org, data)
