"""The catalogue: competencies (the organisation's framework) and courses."""

from litestar.exceptions import ClientException
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select

from backend.catalogue.schemas import (
    CompetencyCreate,
    CompetencyPublic,
    CompetencyRef,
    CourseCreate,
    CoursePublic,
    CourseUpdate,
)
from backend.db.models import Competency, Course, CourseCompetency
from backend.tenancy import OrgScope


async def list_competencies(scope: OrgScope) -> list[CompetencyPublic]:
    rows = await scope.all(scope.select(Competency).order_by(col(Competency.name)))
    return [CompetencyPublic(id=c.id or 0, name=c.name, description=c.description) for c in rows]


async def create_competency(scope: OrgScope, data: CompetencyCreate) -> CompetencyPublic:
    row = scope.add(Competency(organisation_id=0, name=data.name, description=data.description))
    try:
        await scope.session.commit()
    except IntegrityError as exc:
        await scope.session.rollback()
        raise ClientException(
            f"a competency named {data.name!r} already exists", status_code=409
        ) from exc
    return CompetencyPublic(id=row.id or 0, name=row.name, description=row.description)


async def _competency_refs(
    scope: OrgScope, course_ids: list[int]
) -> dict[int, list[CompetencyRef]]:
    if not course_ids:
        return {}
    rows = (
        await scope.session.exec(
            select(CourseCompetency, Competency.name)
            .join(Competency, col(Competency.id) == col(CourseCompetency.competency_id))
            .where(scope.owns(CourseCompetency), col(CourseCompetency.course_id).in_(course_ids))
            .order_by(col(Competency.name))
        )
    ).all()
    refs: dict[int, list[CompetencyRef]] = {}
    for link, name in rows:
        refs.setdefault(link.course_id, []).append(CompetencyRef(id=link.competency_id, name=name))
    return refs


def _public(course: Course, refs: list[CompetencyRef]) -> CoursePublic:
    assert course.id is not None
    return CoursePublic(
        id=course.id,
        title=course.title,
        description=course.description,
        provider=course.provider,
        format=course.format,
        duration_minutes=course.duration_minutes,
        cost_cents=course.cost_cents,
        url=course.url,
        external_id=course.external_id,
        xapi_activity_id=course.xapi_activity_id,
        hot_skill=course.hot_skill,
        competencies=refs,
    )


async def list_courses(
    scope: OrgScope,
    *,
    q: str | None = None,
    competency_id: int | None = None,
    hot_skill: bool | None = None,
    course_format: str | None = None,
    max_minutes: int | None = None,
    max_cost_cents: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[CoursePublic]:
    stmt = scope.select(Course)
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(
            or_(
                col(Course.title).ilike(like),
                col(Course.description).ilike(like),
                col(Course.provider).ilike(like),
            )
        )
    if competency_id is not None:
        stmt = stmt.where(
            col(Course.id).in_(
                scope.select(CourseCompetency)
                .with_only_columns(col(CourseCompetency.course_id))
                .where(col(CourseCompetency.competency_id) == competency_id)
            )
        )
    if hot_skill is not None:
        stmt = stmt.where(col(Course.hot_skill).is_(hot_skill))
    if course_format is not None:
        stmt = stmt.where(Course.format == course_format)
    if max_minutes is not None:
        stmt = stmt.where(col(Course.duration_minutes) <= max_minutes)
    if max_cost_cents is not None:
        stmt = stmt.where(col(Course.cost_cents) <= max_cost_cents)
    courses = await scope.all(
        stmt.order_by(col(Course.hot_skill).desc(), col(Course.title), col(Course.id))
        .limit(limit)
        .offset(offset)
    )
    refs = await _competency_refs(scope, [c.id for c in courses if c.id is not None])
    return [_public(c, refs.get(c.id or 0, [])) for c in courses]


async def get_course(scope: OrgScope, course_id: int) -> CoursePublic:
    course = await scope.get(Course, course_id, what="course")
    refs = await _competency_refs(scope, [course_id])
    return _public(course, refs.get(course_id, []))


async def _set_competencies(scope: OrgScope, course_id: int, competency_ids: list[int]) -> None:
    wanted = list(dict.fromkeys(competency_ids))
    for cid in wanted:
        await scope.get(Competency, cid, what="competency")
    existing = await scope.all(
        scope.select(CourseCompetency).where(CourseCompetency.course_id == course_id)
    )
    for link in existing:
        if link.competency_id not in wanted:
            await scope.session.delete(link)
    have = {link.competency_id for link in existing}
    for cid in wanted:
        if cid not in have:
            scope.add(CourseCompetency(course_id=course_id, competency_id=cid, organisation_id=0))


async def create_course(scope: OrgScope, data: CourseCreate) -> CoursePublic:
    fields = data.model_dump(exclude={"competency_ids", "url"})
    course = scope.add(Course(organisation_id=0, url=str(data.url) if data.url else None, **fields))
    try:
        await scope.session.flush()
    except IntegrityError as exc:
        await scope.session.rollback()
        raise ClientException(
            "a course with this external_id or xapi_activity_id already exists", status_code=409
        ) from exc
    assert course.id is not None
    await _set_competencies(scope, course.id, data.competency_ids)
    await scope.session.commit()
    return await get_course(scope, course.id)


async def update_course(scope: OrgScope, course_id: int, data: CourseUpdate) -> CoursePublic:
    course = await scope.get(Course, course_id, what="course")
    changes = data.model_dump(exclude_unset=True, exclude={"competency_ids"})
    if "url" in changes:
        changes["url"] = str(data.url) if data.url else None
    for field, value in changes.items():
        if value is not None or field == "url":
            setattr(course, field, value)
    scope.session.add(course)
    if data.competency_ids is not None:
        await _set_competencies(scope, course_id, data.competency_ids)
    await scope.session.commit()
    return await get_course(scope, course_id)
