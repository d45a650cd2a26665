from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.datastructures import ResponseHeader
from litestar.di import Provide
from litestar.exceptions import PermissionDeniedException
from litestar.params import Parameter
from litestar.response import Response

from backend.auth.guards import requires_ld_admin, requires_signed_in
from backend.catalogue import services
from backend.catalogue.schemas import (
    CompetencyCreate,
    CompetencyMerge,
    CompetencyPublic,
    CompetencyUpdate,
    CompetencyUsage,
    CourseCreate,
    CoursePublic,
    CourseUpdate,
    SeasonCreate,
    SeasonPublic,
    SeasonUpdate,
)
from backend.catalogue.services import CourseSort
from backend.db.models import CourseFormat
from backend.deps import provide_scope
from backend.tenancy import OrgScope

# PostgreSQL cannot compare text with U+0000 in it: refuse it as a bad request
NO_NUL = r"^[^\x00]*$"
DbId = Annotated[int, Parameter(ge=1, le=2**31 - 1)]


class CompetencyController(Controller):
    path = "/api/v1/competencies"
    tags = ["catalogue"]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", guards=[requires_signed_in], summary="The organisation's competency framework")
    async def list_competencies(self, org: OrgScope) -> list[CompetencyPublic]:
        return await services.list_competencies(org)

    @get(
        "/usage",
        guards=[requires_ld_admin],
        summary="Competencies with the courses, events, badges, challenges and seasons using "
        "each (L&D admin)",
    )
    async def competency_usage(
        self, org: OrgScope, q: Annotated[str, Parameter(max_length=100, pattern=NO_NUL)] = ""
    ) -> list[CompetencyUsage]:
        return await services.competency_usage(org, q)

    @post("/", guards=[requires_ld_admin], summary="Add a competency (L&D admin)")
    async def create_competency(self, org: OrgScope, data: CompetencyCreate) -> CompetencyPublic:
        return await services.create_competency(org, data)

    @patch(
        "/{competency_id:int}",
        guards=[requires_ld_admin],
        summary="Rename a competency or change its description (L&D admin)",
    )
    async def update_competency(
        self, org: OrgScope, competency_id: int, data: CompetencyUpdate
    ) -> CompetencyPublic:
        return await services.update_competency(org, competency_id, data)

    @post(
        "/{competency_id:int}/merge",
        guards=[requires_ld_admin],
        status_code=200,
        summary="Merge a competency into another: courses, learning events, badges, "
        "challenges, seasons and goals move to into_id (L&D admin)",
    )
    async def merge_competency(
        self, org: OrgScope, competency_id: int, data: CompetencyMerge
    ) -> CompetencyUsage:
        return await services.merge_competencies(org, competency_id, data.into_id)

    @delete(
        "/{competency_id:int}",
        guards=[requires_ld_admin],
        summary="Delete a competency nothing uses; 409 says what uses it (L&D admin)",
    )
    async def delete_competency(self, org: OrgScope, competency_id: int) -> None:
        await services.delete_competency(org, competency_id)


class CourseController(Controller):
    path = "/api/v1/courses"
    tags = ["catalogue"]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get(
        "/",
        guards=[requires_signed_in],
        summary="Search the catalogue (active courses; L&D may ask for archived ones)",
        description="A page of at most `limit` courses from `offset`; the X-Total-Count "
        "header says how many match in all.",
        response_headers=[
            ResponseHeader(
                name="X-Total-Count",
                description="How many courses match the filters in all.",
                documentation_only=True,
            )
        ],
    )
    async def list_courses(
        self,
        org: OrgScope,
        q: Annotated[str | None, Parameter(max_length=100, pattern=NO_NUL)] = None,
        competency_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
        hot_skill: Annotated[
            bool | None, Parameter(description="Hot today: own flag or a running season.")
        ] = None,
        course_format: Annotated[CourseFormat | None, Parameter(query="format")] = None,
        max_minutes: Annotated[int | None, Parameter(ge=0, le=100_000)] = None,
        max_cost_cents: Annotated[int | None, Parameter(ge=0, le=100_000_000)] = None,
        archived: Annotated[
            bool | None,
            Parameter(
                description="L&D admins: true for archived courses only, false (the "
                "default) for active ones."
            ),
        ] = None,
        sort: CourseSort | None = None,
        descending: bool = False,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
    ) -> Response[list[CoursePublic]]:
        if archived and not org.principal.is_ld_admin:
            raise PermissionDeniedException("only L&D admins (ld_admin) see archived courses")
        courses, total = await services.search_courses(
            org,
            q=q,
            competency_id=competency_id,
            hot_skill=hot_skill,
            course_format=course_format.value if course_format else None,
            max_minutes=max_minutes,
            max_cost_cents=max_cost_cents,
            archived=bool(archived),
            sort=sort,
            descending=descending,
            limit=limit,
            offset=offset,
        )
        return Response(courses, headers={"X-Total-Count": str(total)})

    @get("/{course_id:int}", guards=[requires_signed_in], summary="One course")
    async def get_course(self, org: OrgScope, course_id: int) -> CoursePublic:
        return await services.get_course(org, course_id)

    @post(
        "/",
        guards=[requires_ld_admin],
        summary="Add a course to the catalogue; title, format and duration_minutes are "
        "required (L&D admin)",
    )
    async def create_course(self, org: OrgScope, data: CourseCreate) -> CoursePublic:
        return await services.create_course(org, data)

    @patch("/{course_id:int}", guards=[requires_ld_admin], summary="Change a course (L&D admin)")
    async def update_course(
        self, org: OrgScope, course_id: int, data: CourseUpdate
    ) -> CoursePublic:
        return await services.update_course(org, course_id, data)

    @post(
        "/{course_id:int}/archive",
        guards=[requires_ld_admin],
        status_code=200,
        summary="Archive a course: it leaves the catalogue; history, XP and badges stay "
        "(L&D admin)",
    )
    async def archive_course(self, org: OrgScope, course_id: int) -> CoursePublic:
        return await services.archive_course(org, course_id)

    @post(
        "/{course_id:int}/restore",
        guards=[requires_ld_admin],
        status_code=200,
        summary="Put an archived course back in the catalogue (L&D admin)",
    )
    async def restore_course(self, org: OrgScope, course_id: int) -> CoursePublic:
        return await services.restore_course(org, course_id)


class HotSkillSeasonController(Controller):
    path = "/api/v1/hot-skill-seasons"
    tags = ["catalogue"]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}
    guards = [requires_ld_admin]

    @get("/", summary="Hot-skill seasons: running and upcoming, then ended (L&D admin)")
    async def list_seasons(self, org: OrgScope) -> list[SeasonPublic]:
        return await services.list_seasons(org)

    @post(
        "/",
        summary="Make competencies and courses hot skills from starts_on to ends_on (L&D admin)",
    )
    async def create_season(self, org: OrgScope, data: SeasonCreate) -> SeasonPublic:
        return await services.create_season(org, data)

    @get("/{season_id:int}", summary="One hot-skill season (L&D admin)")
    async def get_season(self, org: OrgScope, season_id: int) -> SeasonPublic:
        return await services.get_season(org, season_id)

    @patch("/{season_id:int}", summary="Change a hot-skill season (L&D admin)")
    async def update_season(
        self, org: OrgScope, season_id: int, data: SeasonUpdate
    ) -> SeasonPublic:
        return await services.update_season(org, season_id, data)

    @post(
        "/{season_id:int}/end",
        status_code=200,
        summary="End a running season: yesterday becomes its last day (L&D admin)",
    )
    async def end_season(self, org: OrgScope, season_id: int) -> SeasonPublic:
        return await services.end_season(org, season_id)

    @delete("/{season_id:int}", summary="Delete a hot-skill season (L&D admin)")
    async def delete_season(self, org: OrgScope, season_id: int) -> None:
        await services.delete_season(org, season_id)
