from datetime import date, timedelta
from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.guards import requires_ld_admin
from backend.auth.principal import Principal
from backend.db.types import utcnow
from backend.deps import provide_scope
from backend.insights.privacy import group_for
from backend.nudges import governance, services
from backend.nudges.schemas import (
    LocaleName,
    NudgeInsights,
    NudgeRulesPublic,
    NudgeRulesUpdate,
    NudgeVariantCreate,
    NudgeVariantList,
    NudgeVariantPublic,
    NudgeVariantUpdate,
    SentToMe,
)
from backend.tenancy import OrgScope
from gamification.nudges import NudgeType

_SCOPE = {"org": Provide(provide_scope, sync_to_thread=False)}
_VARIANT = "/nudge-variants/{kind:str}/{locale:str}/{variant:str}"


class NudgeController(Controller):
    path = "/api/v1"
    tags = ["nudges"]

    @post(
        "/nudges/{nudge_id:str}/click",
        summary="The learner opened a push notification (reported by the service worker)",
        opt={"exclude_from_csrf": True, "public": True},
        status_code=204,
    )
    async def click(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, nudge_id: str
    ) -> None:
        principal = request.scope.get("user")
        organisation_id = principal.organisation_id if isinstance(principal, Principal) else None
        await services.record_click(db_session, nudge_id, organisation_id)

    @get(
        "/insights/nudges",
        guards=[requires_ld_admin],
        dependencies={"org": Provide(provide_scope, sync_to_thread=False)},
        summary="Nudges per kind and text variant: sent, clicked, learned within 24 h (L&D)",
        opt={"aggregate": True},
    )
    async def nudge_insights(
        self,
        org: OrgScope,
        since: date | None = Parameter(
            default=None, description="first UTC day counted (default: 30 days ago)"
        ),
        team: int | None = Parameter(
            default=None, description="a team's id; without it the organisation"
        ),
    ) -> NudgeInsights:
        group = await group_for(org, team_id=team)
        return await services.insights(org, group, since or utcnow().date() - timedelta(days=30))

    # --- governance (L&D): rules, text variants, a preview on one's own phone ----------------

    @get(
        "/nudge-rules",
        guards=[requires_ld_admin],
        dependencies=_SCOPE,
        summary="The organisation's nudge rules: quiet hours, weekends, caps, kinds on (L&D)",
    )
    async def nudge_rules(self, org: OrgScope) -> NudgeRulesPublic:
        return await governance.get_rules(org)

    @patch(
        "/nudge-rules",
        guards=[requires_ld_admin],
        dependencies=_SCOPE,
        summary="Change the nudge rules; fields left out stay (L&D)",
    )
    async def update_nudge_rules(self, org: OrgScope, data: NudgeRulesUpdate) -> NudgeRulesPublic:
        return await governance.update_rules(org, data)

    @get(
        "/nudge-variants",
        guards=[requires_ld_admin],
        dependencies=_SCOPE,
        summary="Every nudge text variant with its sent / opened / learned counts (L&D)",
    )
    async def nudge_variants(
        self,
        org: OrgScope,
        kind: NudgeType | None = Parameter(default=None, description="one nudge kind"),
        locale: LocaleName | None = Parameter(default=None, description="nl or en"),
        since: date | None = Parameter(
            default=None, description="first UTC day measured (default: 30 days ago)"
        ),
        until: date | None = Parameter(
            default=None, description="last UTC day measured (default: today)"
        ),
    ) -> NudgeVariantList:
        today = utcnow().date()
        return await governance.measured_variants(
            org,
            since or today - timedelta(days=29),
            until or today,
            kind=kind.value if kind else None,
            locale=locale,
        )

    @post(
        "/nudge-variants",
        guards=[requires_ld_admin],
        dependencies=_SCOPE,
        summary="Add a text variant of a nudge kind in one language (L&D)",
    )
    async def create_nudge_variant(
        self, org: OrgScope, data: NudgeVariantCreate
    ) -> NudgeVariantPublic:
        return await governance.create_variant(org, data)

    @get(
        _VARIANT,
        guards=[requires_ld_admin],
        dependencies=_SCOPE,
        summary="One nudge text variant (L&D)",
    )
    async def nudge_variant(
        self, org: OrgScope, kind: str, locale: str, variant: str
    ) -> NudgeVariantPublic:
        return await governance.get_variant(org, kind, locale, variant)

    @patch(
        _VARIANT,
        guards=[requires_ld_admin],
        dependencies=_SCOPE,
        summary="Change a variant's title and body; a built-in one gets the organisation's own",
    )
    async def update_nudge_variant(
        self, org: OrgScope, kind: str, locale: str, variant: str, data: NudgeVariantUpdate
    ) -> NudgeVariantPublic:
        return await governance.update_variant(org, kind, locale, variant, data)

    @delete(
        _VARIANT,
        guards=[requires_ld_admin],
        dependencies=_SCOPE,
        status_code=200,
        summary="Reset a built-in variant to its default text and send it again (L&D)",
    )
    async def reset_nudge_variant(
        self, org: OrgScope, kind: str, locale: str, variant: str
    ) -> NudgeVariantPublic:
        return await governance.reset_variant(org, kind, locale, variant)

    @post(
        _VARIANT + "/retire",
        guards=[requires_ld_admin],
        dependencies=_SCOPE,
        status_code=200,
        summary="Retire a variant: no longer sent, its measurements stay (L&D)",
    )
    async def retire_nudge_variant(
        self, org: OrgScope, kind: str, locale: str, variant: str
    ) -> NudgeVariantPublic:
        return await governance.retire_variant(org, kind, locale, variant)

    @post(
        _VARIANT + "/restore",
        guards=[requires_ld_admin],
        dependencies=_SCOPE,
        status_code=200,
        summary="Send a retired variant again (L&D)",
    )
    async def restore_nudge_variant(
        self, org: OrgScope, kind: str, locale: str, variant: str
    ) -> NudgeVariantPublic:
        return await governance.restore_variant(org, kind, locale, variant)

    @post(
        _VARIANT + "/send-to-me",
        guards=[requires_ld_admin],
        dependencies=_SCOPE,
        status_code=202,
        summary="Push this variant, with example values, to the caller's own devices (L&D)",
    )
    async def send_nudge_variant_to_me(
        self, org: OrgScope, kind: str, locale: str, variant: str
    ) -> SentToMe:
        return await governance.send_to_me(org, kind, locale, variant)
