from typing import Annotated

from litestar import Controller, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter

from backend.auth.guards import requires_ld_admin, requires_signed_in
from backend.catalogue import services
from backend.catalogue.schemas import (
    CompetencyCreate,
    CompetencyPublic,
    CourseCreate,
    CoursePublic,
    CourseUpdate,
)
from backend.db.models import CourseFormat
from backend.deps import provide_scope
from backend.tenancy import OrgScope

# PostgreSQL cannot compare text with U+0000 in it: refuse it as a bad request
NO_NUL = r"^[^\x00]*$"


class CompetencyController(Controller):
    path = "/api/v1/competencies"
    tags = ["catalogue"]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", guards=[requires_signed_in], summary="The organisation's competency framework")
    async def list_competencies(self, org: OrgScope) -> list[CompetencyPublic]:
        return await services.list_competencies(org)

    @post("/", guards=[requires_ld_admin], summary="Add a competency (L&D admin)")
    async def create_competency(self, org: OrgScope, data: CompetencyCreate) -> CompetencyPublic:
        return await services.create_competency(org, data)


class CourseController(Controller):
    path = "/api/v1/courses"
    tags = ["catalogue"]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", guards=[requires_signed_in], summary="Search the catalogue")
    async def list_courses(
        self,
        org: OrgScope,
        q: Annotated[str | None, Parameter(max_length=100, pattern=NO_NUL)] = None,
        competency_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
        hot_skill: bool | None = None,
        course_format: Annotated[CourseFormat | None, Parameter(query="format")] = None,
        max_minutes: Annotated[int | None, Parameter(ge=0, le=100_000)] = None,
        max_cost_cents: Annotated[int | None, Parameter(ge=0, le=100_000_000)] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
    ) -> list[CoursePublic]:
        return await services.list_courses(
            org,
            q=q,
            competency_id=competency_id,
            hot_skill=hot_skill,
            course_format=course_format.value if course_format else None,
            max_minutes=max_minutes,
            max_cost_cents=max_cost_cents,
            limit=limit,
            offset=offset,
        )

    @get("/{course_id:int}", guards=[requires_signed_in], summary="One course")
    async def get_course(self, org: OrgScope, course_id: int) -> CoursePublic:
        return await services.get_course(org, course_id)

    @post("/", guards=[requires_ld_admin], summary="Add a course to the catalogue (L&D admin)")
    async def create_course(self, org: OrgScope, data: CourseCreate) -> CoursePublic:
        return await services.create_course(org, data)

    @patch("/{course_id:int}", guards=[requires_ld_admin], summary="Change a course (L&D admin)")
    async def update_course(
        self, org: OrgScope, course_id: int, data: CourseUpdate
    ) -> CoursePublic:
        return await services.update_course(org, course_id, data)
