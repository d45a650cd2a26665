"""The learner app's "not for me" on a recommended course (a plain form, CSRF-checked)."""

from typing import Annotated, Any

from litestar import Controller, Request, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.recommendations import services
from backend.tenancy import OrgScope
from backend.web.controllers import safe_next
from backend.web.pages import signed_in


class DismissForm(BaseModel):
    # where to go back to (Today, or the catalogue in its "For you" order)
    next: str = ""


class RecommendationPageController(Controller):
    include_in_schema = False

    @post("/recommendations/{course_id:int}/dismiss", name="recommendation-dismiss")
    async def dismiss(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        course_id: Annotated[int, Parameter(ge=1)],
        data: Annotated[DismissForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect:
        principal = signed_in(request)
        if principal is None:
            return Redirect("/", status_code=303)
        await services.dismiss(OrgScope(db_session, principal), course_id)
        return Redirect(safe_next(data.next) or "/#next-steps", status_code=303)
