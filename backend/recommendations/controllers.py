"""The learner's recommendations: the list, and "not for me"."""

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import Parameter

from backend.auth.guards import requires_user
from backend.auth.principal import Principal
from backend.deps import provide_scope
from backend.recommendations import services
from backend.recommendations.schemas import DismissalOut, RecommendationOut
from backend.tenancy import OrgScope


class MyRecommendationsController(Controller):
    path = "/api/v1/me/recommendations"
    tags = ["me"]
    guards = [requires_user]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", summary="My recommended next courses, best first, each with a one-line reason")
    async def list_recommendations(
        self,
        org: OrgScope,
        principal: Principal,
        limit: Annotated[int, Parameter(ge=1, le=50, description="At most this many")] = 3,
    ) -> list[RecommendationOut]:
        assert principal.user_id is not None
        return await services.recommendations_for(
            org.session, org.organisation_id, principal.user_id, limit=limit
        )

    @post(
        "/{course_id:int}/dismiss",
        summary='"Not for me": never recommend this course to me again',
        status_code=200,
    )
    async def dismiss(
        self, org: OrgScope, course_id: Annotated[int, Parameter(ge=1)]
    ) -> DismissalOut:
        return await services.dismiss(org, course_id)
