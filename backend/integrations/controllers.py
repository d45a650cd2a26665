from typing import Literal

from litestar import Controller, delete, get, post
from litestar.datastructures import State
from litestar.di import Provide
from pydantic import BaseModel

from backend.accounts.schemas import Schema
from backend.auth.guards import requires_api_key, requires_ld_admin
from backend.auth.principal import Principal
from backend.deps import app_context, provide_scope
from backend.integrations import services
from backend.integrations.services import (
    ApiKeyCreated,
    ApiKeyPublic,
    WebhookSecretCreated,
    WebhookSecretPublic,
)
from backend.learning import intake_log
from backend.learning.intake_log import IntakeEntry, IntakeEntryDetail
from backend.tenancy import OrgScope
from backend.validation import Name


class ApiKeyCreate(Schema):
    name: Name


class WhoAmI(BaseModel):
    organisation_id: int
    organisation_name: str
    api_key_name: str


class ApiKeyController(Controller):
    path = "/api/v1/api-keys"
    tags = ["integrations"]
    guards = [requires_ld_admin]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", summary="Integration keys of my organisation (L&D admin)")
    async def list_keys(self, org: OrgScope) -> list[ApiKeyPublic]:
        return await services.list_api_keys(org)

    @post("/", summary="Create an integration key; the key is shown only once (L&D admin)")
    async def create_key(
        self, org: OrgScope, principal: Principal, data: ApiKeyCreate
    ) -> ApiKeyCreated:
        return await services.create_api_key(
            org.session, org.organisation_id, data.name, principal.user_id, audit_scope=org
        )

    @delete("/{key_id:int}", summary="Revoke an integration key (L&D admin)")
    async def revoke_key(self, org: OrgScope, key_id: int, state: State) -> None:
        await services.revoke_api_key(org, key_id, app_context(state).api_keys)


class IntegrationController(Controller):
    path = "/api/v1/integration"
    tags = ["integrations"]
    guards = [requires_api_key]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/whoami", summary="Which organisation this API key belongs to")
    async def whoami(self, org: OrgScope, principal: Principal) -> WhoAmI:
        organisation = await org.organisation()
        return WhoAmI(
            organisation_id=organisation.id or 0,
            organisation_name=organisation.name,
            api_key_name=principal.display_name,
        )


class WebhookSecretCreate(Schema):
    name: Name


class WebhookSecretController(Controller):
    path = "/api/v1/webhook-secrets"
    tags = ["integrations"]
    guards = [requires_ld_admin]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", summary="Secrets LMSs sign webhooks with (L&D admin)")
    async def list_secrets(self, org: OrgScope) -> list[WebhookSecretPublic]:
        return await services.list_webhook_secrets(org)

    @post("/", summary="Create a webhook secret; it is shown only once (L&D admin)")
    async def create_secret(
        self, org: OrgScope, state: State, data: WebhookSecretCreate
    ) -> WebhookSecretCreated:
        return await services.create_webhook_secret(
            org.session,
            app_context(state).settings,
            org.organisation_id,
            data.name,
            audit_scope=org,
        )

    @delete("/{secret_id:int}", summary="Revoke a webhook secret (L&D admin)")
    async def revoke_secret(self, org: OrgScope, secret_id: int) -> None:
        await services.revoke_webhook_secret(org, secret_id)


IntakeOutcome = Literal[
    "accepted", "duplicate", "conflict", "rejected", "unknown_learner", "voided"
]
IntakeSource = Literal["xapi", "webhook", "api"]


class IntakeLogController(Controller):
    path = "/api/v1/integrations/intake"
    tags = ["integrations"]
    guards = [requires_ld_admin]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get(
        "/",
        summary=(
            "The newest 200 statements and events integrations sent, with their outcome, "
            "newest first; filter by outcome and source (L&D admin)"
        ),
    )
    async def recent(
        self,
        org: OrgScope,
        state: State,
        outcome: IntakeOutcome | None = None,
        source: IntakeSource | None = None,
    ) -> list[IntakeEntry]:
        return await intake_log.recent(
            org, app_context(state).engine, outcome=outcome or "", source=source or ""
        )

    @get(
        "/{log_id:int}/{index:int}",
        summary="One statement or event of the intake log, with what was sent (L&D admin)",
    )
    async def entry(
        self, org: OrgScope, state: State, log_id: int, index: int
    ) -> IntakeEntryDetail:
        return await intake_log.detail(org, app_context(state).engine, log_id, index)
