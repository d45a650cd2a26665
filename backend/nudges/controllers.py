from datetime import date, timedelta
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.guards import requires_ld_admin
from backend.auth.principal import Principal
from backend.db.types import utcnow
from backend.deps import provide_scope
from backend.nudges import services
from backend.nudges.schemas import NudgeInsights
from backend.tenancy import OrgScope


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
    )
    async def nudge_insights(
        self,
        org: OrgScope,
        since: date | None = Parameter(
            default=None, description="first UTC day counted (default: 30 days ago)"
        ),
    ) -> NudgeInsights:
        return await services.insights(org, since or utcnow().date() - timedelta(days=30))
