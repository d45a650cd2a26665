"""The catalogue: competencies (the organisation's framework), courses and hot-skill seasons.

Every change goes through one function here (the JSON API, the console, the CSV import and
the CLI call the same ones) and records an audit entry in the same transaction.

A course is *hot* on a day when its own ``hot_skill`` flag is set or a hot-skill season
covering that day names the course or one of its competencies (:func:`hot_on`); ingestion
applies the same rule to each event's own day (``backend.learning.store``).
Archived courses leave the learner catalogue; their events, XP and badges stay.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from litestar.exceptions import ClientException, NotFoundException
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Date,
    Integer,
    String,
    any_,
    bindparam,
    exists,
    func,
    or_,
    text,
)
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from backend.accounts.job_families import move_expected_competency
from backend.audit import services as audit
from backend.catalogue.bulk import CourseWrite, links_of, write_courses
from backend.catalogue.schemas import (
    CompetencyCreate,
    CompetencyPublic,
    CompetencyRef,
    CompetencyUpdate,
    CompetencyUsage,
    CourseCreate,
    CoursePublic,
    CourseRef,
    CourseUpdate,
    SeasonCreate,
    SeasonPublic,
    SeasonUpdate,
)
from backend.db.models import (
    BadgeDefinition,
    Challenge,
    Competency,
    Course,
    CourseCompetency,
    HotSkillSeason,
    LearningEvent,
)
from backend.db.types import utcnow
from backend.insights.rollups import move_competency
from backend.tenancy import OrgScope
from gamification import local_day

CourseSort = Literal["title", "format", "duration", "cost", "created"]
COURSE_SORTS: dict[str, Any] = {
    "title": func.lower(col(Course.title)),
    "format": col(Course.format),
    "duration": col(Course.duration_minutes),
    "cost": col(Course.cost_cents),
    "created": col(Course.created_at),
}

_course = Course.__table__.c  # type: ignore[attr-defined]
_link = CourseCompetency.__table__.c  # type: ignore[attr-defined]
_season = HotSkillSeason.__table__.c  # type: ignore[attr-defined]


async def _run(scope: OrgScope, statement: Any, params: dict[str, Any] | None = None) -> Any:
    """A Core statement (raw SQL or an expression) in the scope's transaction."""
    connection = await scope.session.connection()
    return await connection.execute(statement, params or {})


def today_for(scope: OrgScope) -> date:
    """The caller's local day (a season is hot on the learner's calendar days)."""
    return local_day(utcnow(), scope.principal.timezone)


def hot_on(day: date | ColumnElement[Any]) -> ColumnElement[bool]:
    """The condition "the course row is hot on ``day``" (own flag or a covering season);
    ``day`` may be a bound parameter."""
    season_covers = exists().where(
        _season.organisation_id == _course.organisation_id,
        _season.starts_on <= day,
        _season.ends_on >= day,
        or_(
            _course.id == any_(_season.course_ids),
            exists()
            .where(
                _link.course_id == _course.id,
                _link.competency_id == any_(_season.competency_ids),
            )
            .correlate_except(CourseCompetency.__table__),  # type: ignore[attr-defined]
        ),
    )
    return or_(_course.hot_skill.is_(True), season_covers)


# --- competencies ---------------------------------------------------------------------------


def _quoted(name: str) -> str:
    return f"“{name}”"


def competencies_of(organisation_id: Any) -> Any:
    """The organisation's competencies as one JSON value ([[id, name, description], ...] by
    name), for a statement that reads them beside other things; read with
    :func:`competencies_from`."""
    c = Competency.__table__.c  # type: ignore[attr-defined]
    return (
        sa_select(
            func.coalesce(
                func.json_agg(
                    aggregate_order_by(func.json_build_array(c.id, c.name, c.description), c.name)
                ),
                text("'[]'::json"),
            )
        )
        .where(c.organisation_id == organisation_id)
        .scalar_subquery()
    )


def competencies_from(value: list[list[Any]]) -> list[CompetencyPublic]:
    return [CompetencyPublic(id=cid, name=name, description=about) for cid, name, about in value]


async def list_competencies(scope: OrgScope) -> list[CompetencyPublic]:
    value = (await _run(scope, sa_select(competencies_of(scope.organisation_id)))).scalar()
    return competencies_from(value)


async def _name_taken(scope: OrgScope, name: str, exclude: int | None = None) -> bool:
    stmt = scope.select(Competency).where(func.lower(col(Competency.name)) == name.lower())
    if exclude is not None:
        stmt = stmt.where(col(Competency.id) != exclude)
    return (await scope.session.exec(stmt)).first() is not None


def _name_conflict(name: str) -> ClientException:
    return ClientException(f"a competency named {name!r} already exists", status_code=409)


async def create_competency(scope: OrgScope, data: CompetencyCreate) -> CompetencyPublic:
    if await _name_taken(scope, data.name):
        raise _name_conflict(data.name)
    row = scope.add(Competency(organisation_id=0, name=data.name, description=data.description))
    try:
        await scope.session.flush()
    except IntegrityError as exc:
        await scope.session.rollback()
        raise _name_conflict(data.name) from exc
    audit.record(
        scope,
        "competency.create",
        target_type="competency",
        target_id=row.id,
        summary=f"Added competency {_quoted(row.name)}",
        details={"name": row.name},
    )
    await scope.session.commit()
    return CompetencyPublic(id=row.id or 0, name=row.name, description=row.description)


async def update_competency(
    scope: OrgScope, competency_id: int, data: CompetencyUpdate
) -> CompetencyPublic:
    """Rename a competency or change its description (courses and badges follow the id)."""
    row = await scope.get(Competency, competency_id, what="competency")
    old_name = row.name
    changes: dict[str, Any] = {}
    if data.name is not None and data.name != row.name:
        if await _name_taken(scope, data.name, exclude=competency_id):
            raise _name_conflict(data.name)
        changes["name"] = [row.name, data.name]
        row.name = data.name
    if data.description is not None and data.description != row.description:
        changes["description"] = [row.description, data.description]
        row.description = data.description
    if changes:
        scope.session.add(row)
        summary = (
            f"Renamed competency {_quoted(old_name)} to {_quoted(row.name)}"
            if "name" in changes
            else f"Changed the description of competency {_quoted(row.name)}"
        )
        audit.record(
            scope,
            "competency.rename" if "name" in changes else "competency.update",
            target_type="competency",
            target_id=competency_id,
            summary=summary,
            details=changes,
        )
        try:
            await scope.session.commit()
        except IntegrityError as exc:
            await scope.session.rollback()
            raise _name_conflict(row.name) from exc
    return CompetencyPublic(id=competency_id, name=row.name, description=row.description)


_GOALS_USING = text(
    """SELECT count(*) FROM learner_state ls
        WHERE ls.organisation_id = :org AND json_typeof(ls.data -> 'dated_goals') = 'array'
          AND EXISTS (SELECT 1 FROM json_array_elements(ls.data -> 'dated_goals') g
                       WHERE g ->> 'competency_id' = :cid)"""
)


def _definitions_naming(rows: Iterable[Any], attribute: str, competency_id: int) -> list[Any]:
    """Rows whose JSON document ``attribute`` names ``competency_id``."""
    return [r for r in rows if (getattr(r, attribute) or {}).get("competency_id") == competency_id]


async def competency_usage(
    scope: OrgScope, q: str = "", *, with_goals: bool = False
) -> list[CompetencyUsage]:
    """Every competency with what uses it; learners' dated goals only ``with_goals`` (they
    live in each learner's state document, so counting them reads every state)."""
    org = scope.organisation_id
    stmt = scope.select(Competency).order_by(func.lower(col(Competency.name)))
    if q:
        stmt = stmt.where(col(Competency.name).ilike(f"%{q.strip()}%"))
    rows = await scope.all(stmt)
    courses = dict(
        (
            await scope.session.exec(
                select(CourseCompetency.competency_id, func.count())
                .where(scope.owns(CourseCompetency))
                .group_by(col(CourseCompetency.competency_id))
            )
        ).all()
    )
    # one pass over the organisation's events (no index on competency_id: it would cost
    # every ingested statement a write for the sake of this page)
    events = dict(
        (
            await scope.session.exec(
                select(LearningEvent.competency_id, func.count())
                .where(
                    LearningEvent.organisation_id == org,
                    col(LearningEvent.competency_id).is_not(None),
                )
                .group_by(col(LearningEvent.competency_id))
            )
        ).all()
    )
    badges = await scope.all(scope.select(BadgeDefinition))
    challenges = await scope.all(scope.select(Challenge))
    seasons = await scope.all(scope.select(HotSkillSeason))
    usage = []
    for row in rows:
        cid = row.id or 0
        goals = 0
        if with_goals:
            goals = int(
                (await _run(scope, _GOALS_USING, {"org": org, "cid": str(cid)})).scalar() or 0
            )
        usage.append(
            CompetencyUsage(
                id=cid,
                name=row.name,
                description=row.description,
                courses=int(courses.get(cid, 0)),
                learning_events=int(events.get(cid, 0)),
                badges=sum(
                    1
                    for b in badges
                    if b.competency_id == cid or (b.criterion or {}).get("competency_id") == cid
                ),
                challenges=len(_definitions_naming(challenges, "definition", cid)),
                seasons=sum(1 for s in seasons if cid in (s.competency_ids or [])),
                goals=goals,
            )
        )
    return usage


async def usage_of(scope: OrgScope, competency_id: int) -> CompetencyUsage:
    row = await scope.get(Competency, competency_id, what="competency")
    for usage in await competency_usage(scope, with_goals=True):
        if usage.id == competency_id:
            return usage
    raise NotFoundException(f"competency {row.id} not found")  # pragma: no cover


def describe_usage(usage: CompetencyUsage) -> str:
    """ "3 courses, 12 learning events and 1 badge" (English: the API's message)."""
    parts = [
        f"{n} {word if n == 1 else plural}"
        for n, word, plural in (
            (usage.courses, "course", "courses"),
            (usage.learning_events, "learning event", "learning events"),
            (usage.badges, "badge", "badges"),
            (usage.challenges, "challenge", "challenges"),
            (usage.seasons, "hot-skill season", "hot-skill seasons"),
            (usage.goals, "learner's goal", "learners' goals"),
        )
        if n
    ]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


class CompetencyInUse(ClientException):
    """Deleting a competency that is still used (409); ``usage`` says by what."""

    def __init__(self, usage: CompetencyUsage) -> None:
        self.usage = usage
        super().__init__(
            f"{_quoted(usage.name)} is used by {describe_usage(usage)}; "
            "merge it into another competency instead",
            status_code=409,
        )


async def delete_competency(scope: OrgScope, competency_id: int) -> None:
    """Delete a competency nothing uses (else :class:`CompetencyInUse`, 409)."""
    usage = await usage_of(scope, competency_id)
    if usage.in_use:
        raise CompetencyInUse(usage)
    row = await scope.get(Competency, competency_id, what="competency")
    await scope.session.delete(row)
    audit.record(
        scope,
        "competency.delete",
        target_type="competency",
        target_id=competency_id,
        summary=f"Deleted competency {_quoted(usage.name)}",
        details={"name": usage.name},
    )
    await scope.session.commit()


_MERGE_GOALS = text(
    """UPDATE learner_state ls
          SET data = jsonb_set(ls.data::jsonb, '{dated_goals}', (
                SELECT jsonb_agg(CASE WHEN g ->> 'competency_id' = :source_text
                                      THEN jsonb_set(g, '{competency_id}', to_jsonb(CAST(:into AS integer)))
                                      ELSE g END ORDER BY n)
                  FROM jsonb_array_elements(ls.data::jsonb -> 'dated_goals')
                       WITH ORDINALITY AS x(g, n)))::json,
              version = ls.version + 1
        WHERE ls.organisation_id = :org AND json_typeof(ls.data -> 'dated_goals') = 'array'
          AND EXISTS (SELECT 1 FROM json_array_elements(ls.data -> 'dated_goals') g
                       WHERE g ->> 'competency_id' = :source_text)"""
)


def _renamed(document: dict[str, Any] | None, source: int, into: int) -> dict[str, Any] | None:
    """A copy of a JSON rule document with ``competency_id`` moved, or None if it had none."""
    if not document or document.get("competency_id") != source:
        return None
    return {**document, "competency_id": into}


async def merge_competencies(scope: OrgScope, source_id: int, into_id: int) -> CompetencyUsage:
    """Move everything that uses ``source_id`` to ``into_id`` and delete ``source_id``:
    course links, learning events, badges (column and criterion), challenges, seasons, job
    families' expectations and learners' dated goals. Returns what ``into_id`` is used by
    afterwards."""
    if source_id == into_id:
        raise ClientException("into_id: a competency cannot be merged into itself")
    source = await scope.get(Competency, source_id, what="competency")
    into = await scope.get(Competency, into_id, what="competency")
    org = scope.organisation_id
    session = scope.session
    params = {"org": org, "source": source_id, "into": into_id}
    moved: dict[str, int] = {}
    await _run(
        scope,
        text(
            """INSERT INTO course_competency (course_id, competency_id, organisation_id)
               SELECT course_id, :into, organisation_id FROM course_competency
                WHERE organisation_id = :org AND competency_id = :source
               ON CONFLICT DO NOTHING"""
        ),
        params,
    )
    gone = await _run(
        scope,
        text(
            "DELETE FROM course_competency WHERE organisation_id = :org AND competency_id = :source"
        ),
        params,
    )
    moved["courses"] = int(gone.rowcount or 0)
    events = await _run(
        scope,
        text(
            """UPDATE learning_event SET competency_id = :into
                WHERE organisation_id = :org AND competency_id = :source"""
        ),
        params,
    )
    moved["learning_events"] = int(events.rowcount or 0)
    await move_competency(session, org, source_id, into_id)  # the insights' rollups
    badges = 0
    for badge in await scope.all(scope.select(BadgeDefinition)):
        criterion = _renamed(badge.criterion, source_id, into_id)
        if criterion is not None:
            badge.criterion = criterion
        own = badge.competency_id == source_id
        if own:
            badge.competency_id = into_id
        if criterion is not None or own:
            session.add(badge)
            badges += 1
    moved["badges"] = badges
    challenges = 0
    for challenge in await scope.all(scope.select(Challenge)):
        definition = _renamed(challenge.definition, source_id, into_id)
        if definition is not None:
            challenge.definition = definition
            session.add(challenge)
            challenges += 1
    moved["challenges"] = challenges
    seasons = 0
    for season in await scope.all(scope.select(HotSkillSeason)):
        if source_id in season.competency_ids:
            season.competency_ids = list(
                dict.fromkeys(into_id if c == source_id else c for c in season.competency_ids)
            )
            session.add(season)
            seasons += 1
    moved["seasons"] = seasons
    moved["job_families"] = await move_expected_competency(scope, source_id, into_id)
    goals = await _run(
        scope, _MERGE_GOALS, {"org": org, "into": into_id, "source_text": str(source_id)}
    )
    moved["goals"] = int(goals.rowcount or 0)
    await session.flush()
    await session.delete(source)
    audit.record(
        scope,
        "competency.merge",
        target_type="competency",
        target_id=into_id,
        summary=f"Merged competency {_quoted(source.name)} into {_quoted(into.name)}",
        details={"from_id": source_id, "from_name": source.name, "into_name": into.name, **moved},
    )
    await session.commit()
    return await usage_of(scope, into_id)


# --- courses --------------------------------------------------------------------------------


_competency = Competency.__table__.c  # type: ignore[attr-defined]

# a course's competencies as [[id, name], ...] by name, read in the course's own row
_COMPETENCIES_OF_COURSE = (
    sa_select(
        func.coalesce(
            func.json_agg(
                aggregate_order_by(
                    func.json_build_array(_competency.id, _competency.name), _competency.name
                )
            ),
            text("'[]'::json"),
        )
    )
    .select_from(
        CourseCompetency.__table__.join(  # type: ignore[attr-defined]
            Competency.__table__,  # type: ignore[attr-defined]
            _competency.id == _link.competency_id,
        )
    )
    .where(_link.course_id == _course.id)
    .correlate(Course.__table__)  # type: ignore[attr-defined]
    .scalar_subquery()
)
_COURSE_COLUMNS = (
    _course.id,
    _course.title,
    _course.description,
    _course.provider,
    _course.format,
    _course.duration_minutes,
    _course.cost_cents,
    _course.url,
    _course.external_id,
    _course.xapi_activity_id,
    _course.hot_skill,
    _course.job_family,
    _course.archived_at,
    _course.created_at,
)


def _public(row: Any) -> CoursePublic:
    """A course as the API shows it, from a row of :func:`_course_select`."""
    return CoursePublic(
        id=row.id,
        title=row.title,
        description=row.description,
        provider=row.provider,
        format=row.format,
        duration_minutes=row.duration_minutes,
        cost_cents=row.cost_cents,
        url=row.url,
        external_id=row.external_id,
        xapi_activity_id=row.xapi_activity_id,
        hot_skill=row.hot_skill,
        hot=bool(row.hot_today) or row.hot_skill,
        job_family=row.job_family,
        competencies=[CompetencyRef(id=cid, name=name) for cid, name in row.competencies],
        archived_at=row.archived_at,
        created_at=row.created_at,
    )


@dataclass(frozen=True)
class CourseQuery:
    """What a read of courses asks for: filters, order and (for one course) its id."""

    q: str | None = None
    competency_id: int | None = None
    hot_skill: bool | None = None
    course_format: str | None = None
    max_minutes: int | None = None
    max_cost_cents: int | None = None
    archived: bool | None = False
    sort: CourseSort | None = None
    descending: bool = False
    first_ids: tuple[int, ...] = ()
    course_id: int | None = None

    def shape(self) -> tuple[Any, ...]:
        """What the statement's text depends on (the values go in as parameters)."""
        return (
            bool(self.q),
            self.competency_id is not None,
            self.hot_skill,
            self.course_format is not None,
            self.max_minutes is not None,
            self.max_cost_cents is not None,
            self.archived,
            self.sort,
            self.descending,
            bool(self.first_ids),
            self.course_id is not None,
        )

    def params(self, scope: OrgScope, day: date, limit: int, offset: int) -> dict[str, Any]:
        """The parameters of :func:`course_statement` for this query."""
        return {
            "org": scope.organisation_id,
            "day": day,
            "like": f"%{(self.q or '').strip().lower()}%",
            "competency": self.competency_id,
            "format": self.course_format,
            "max_minutes": self.max_minutes,
            "max_cost": self.max_cost_cents,
            "first_ids": list(self.first_ids),
            "course": self.course_id,
            "limit": limit,
            "offset": offset,
        }


_ORG = bindparam("org", type_=Integer)


@lru_cache(maxsize=256)
def course_statement(shape: tuple[Any, ...]) -> Any:
    """The one read of courses (:meth:`CourseQuery.shape` says which filters and order):
    each row a course with its competencies, whether it is hot on the day and how many
    courses match in all (``total``). Built once per shape; the values are parameters
    (:meth:`CourseQuery.params`), so a request only binds them."""
    (q, competency, hot_skill, fmt, max_minutes, max_cost, archived, sort, descending) = shape[:9]
    first_ids, one_course = shape[9:]
    hot = hot_on(bindparam("day", type_=Date))
    stmt = sa_select(
        *_COURSE_COLUMNS,
        hot.label("hot_today"),
        _COMPETENCIES_OF_COURSE.label("competencies"),
        func.count().over().label("total"),
    ).where(_course.organisation_id == _ORG)
    if one_course:
        stmt = stmt.where(_course.id == bindparam("course", type_=Integer))
    if q:
        like = bindparam("like", type_=String)
        stmt = stmt.where(
            or_(
                _course.title.ilike(like),
                _course.description.ilike(like),
                _course.provider.ilike(like),
                _course.external_id.ilike(like),
            )
        )
    if competency:
        stmt = stmt.where(
            _course.id.in_(
                sa_select(_link.course_id).where(
                    _link.organisation_id == _ORG,
                    _link.competency_id == bindparam("competency", type_=Integer),
                )
            )
        )
    if hot_skill is not None:
        stmt = stmt.where(hot if hot_skill else ~hot)
    if fmt:
        stmt = stmt.where(_course.format == bindparam("format", type_=String))
    if max_minutes:
        stmt = stmt.where(_course.duration_minutes <= bindparam("max_minutes", type_=Integer))
    if max_cost:
        stmt = stmt.where(_course.cost_cents <= bindparam("max_cost", type_=Integer))
    if archived is not None:
        stmt = stmt.where(
            _course.archived_at.is_not(None) if archived else _course.archived_at.is_(None)
        )
    order: list[Any] = []
    if first_ids:
        ranked = bindparam("first_ids", type_=ARRAY(Integer))
        order.append(func.array_position(ranked, _course.id).asc().nulls_last())
    if sort is not None:
        key = COURSE_SORTS[sort]
        order += [key.desc() if descending else key.asc(), _course.id]
    else:
        order += [hot.desc(), func.lower(_course.title), _course.id]
    return (
        stmt.order_by(*order)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )


def course_columns() -> Any:
    """The course table's columns as :func:`course_statement` reads them (for a caller that
    correlates with them)."""
    return _course


def courses_of(rows: Sequence[Any]) -> tuple[list[CoursePublic], int]:
    """The courses of :func:`course_statement`'s rows and how many match in all (0 for no
    rows)."""
    return [_public(row) for row in rows], int(rows[0].total) if rows else 0


async def list_courses(
    scope: OrgScope,
    *,
    q: str | None = None,
    competency_id: int | None = None,
    hot_skill: bool | None = None,
    course_format: str | None = None,
    max_minutes: int | None = None,
    max_cost_cents: int | None = None,
    archived: bool | None = False,
    sort: CourseSort | None = None,
    descending: bool = False,
    first_ids: Sequence[int] = (),
    limit: int = 50,
    offset: int = 0,
    day: date | None = None,
) -> list[CoursePublic]:
    """Courses matching the filters (by default the active ones; ``archived=True`` only the
    archived ones, None both), hot ones first unless ``sort`` names a column."""
    courses, _total = await search_courses(
        scope,
        q=q,
        competency_id=competency_id,
        hot_skill=hot_skill,
        course_format=course_format,
        max_minutes=max_minutes,
        max_cost_cents=max_cost_cents,
        archived=archived,
        sort=sort,
        descending=descending,
        first_ids=first_ids,
        limit=limit,
        offset=offset,
        day=day,
    )
    return courses


async def search_courses(
    scope: OrgScope,
    *,
    q: str | None = None,
    competency_id: int | None = None,
    hot_skill: bool | None = None,
    course_format: str | None = None,
    max_minutes: int | None = None,
    max_cost_cents: int | None = None,
    archived: bool | None = False,
    sort: CourseSort | None = None,
    descending: bool = False,
    first_ids: Sequence[int] = (),
    limit: int = 50,
    offset: int = 0,
    day: date | None = None,
) -> tuple[list[CoursePublic], int]:
    """A page of courses (see :func:`list_courses`) and how many match in all, in one
    statement. The order: ``first_ids`` in their order (a ranking made elsewhere, e.g. the
    learner's recommendations), then ``sort``'s column, else hot ones first, then by title."""
    query = CourseQuery(
        q=q or None,
        competency_id=competency_id,
        hot_skill=hot_skill,
        course_format=course_format,
        max_minutes=max_minutes,
        max_cost_cents=max_cost_cents,
        archived=archived,
        sort=sort,
        descending=descending,
        first_ids=tuple(first_ids),
    )
    params = query.params(scope, day or today_for(scope), limit, offset)
    rows = (await _run(scope, course_statement(query.shape()), params)).all()
    if rows or offset == 0:
        return courses_of(rows)
    # past the last page: the window had no row to count on
    params.update(offset=0, limit=1)
    first = (await _run(scope, course_statement(query.shape()), params)).first()
    return [], int(first.total) if first else 0


async def get_course(scope: OrgScope, course_id: int) -> CoursePublic:
    """One course, archived or not (history still links to archived courses)."""
    if not 0 < course_id < 2**31:
        raise NotFoundException(f"course {course_id} not found")
    query = CourseQuery(course_id=course_id, archived=None)
    params = query.params(scope, today_for(scope), 1, 0)
    row = (await _run(scope, course_statement(query.shape()), params)).first()
    if row is None:
        raise NotFoundException(f"course {course_id} not found")
    return _public(row)


async def course_id_by_external_id(scope: OrgScope, external_id: str) -> int | None:
    """The course the organisation knows by ``external_id`` (imports match rows by it)."""
    row = (
        await scope.session.exec(
            scope.select(Course).where(Course.external_id == external_id.strip())
        )
    ).first()
    return row.id if row else None


def _duplicate_course() -> ClientException:
    return ClientException(
        "a course with this external_id or xapi_activity_id already exists", status_code=409
    )


async def create_course(
    scope: OrgScope, data: CourseCreate, *, commit: bool = True
) -> CoursePublic:
    """Add a course (``commit=False``: flushed only, for a caller's larger transaction)."""
    # written by catalogue.bulk.write_courses, the one write path of courses (a CSV import
    # writes thousands through it at once)
    fields = data.model_dump(exclude={"competency_ids", "url"})
    fields["url"] = str(data.url) if data.url else None
    wanted = list(dict.fromkeys(data.competency_ids))
    for cid in wanted:
        await scope.get(Competency, cid, what="competency")
    try:
        [course_id] = await write_courses(scope, [CourseWrite(None, fields, wanted)])
    except IntegrityError as exc:
        await scope.session.rollback()
        raise _duplicate_course() from exc
    course = await scope.get(Course, course_id, what="course")
    audit.record(
        scope,
        "course.create",
        target_type="course",
        target_id=course.id,
        summary=f"Added course {_quoted(course.title)}",
        details={
            "title": course.title,
            "format": course.format,
            "duration_minutes": course.duration_minutes,
            "cost_cents": course.cost_cents,
            "competency_ids": data.competency_ids,
        },
    )
    if commit:
        await scope.session.commit()
    else:
        await scope.session.flush()
    return await get_course(scope, course_id)


_CLEARABLE = {"url", "external_id", "xapi_activity_id", "job_family"}


async def update_course(
    scope: OrgScope, course_id: int, data: CourseUpdate, *, commit: bool = True
) -> CoursePublic:
    """Change the fields ``data`` sets (null clears url, external_id and xapi_activity_id)."""
    course = await scope.get(Course, course_id, what="course")
    changes = data.model_dump(exclude_unset=True, exclude={"competency_ids"})
    if "url" in changes:
        changes["url"] = str(data.url) if data.url else None
    changed: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for field, value in changes.items():
        if value is None and field not in _CLEARABLE:
            continue
        old = getattr(course, field)
        if old != value:
            changed[field] = [old, value]
            values[field] = value
    relink: list[int] | None = None
    if data.competency_ids is not None:
        wanted = list(dict.fromkeys(data.competency_ids))
        for cid in wanted:
            await scope.get(Competency, cid, what="competency")
        have = (await links_of(scope, [course_id]))[course_id]
        added = [cid for cid in wanted if cid not in have]
        removed = sorted(have - set(wanted))
        if added or removed:
            changed["competency_ids"] = {"added": added, "removed": removed}
            relink = wanted
    title = values.get("title", course.title)
    if values or relink is not None:
        # written by catalogue.bulk.write_courses, the one write path of courses
        try:
            await write_courses(scope, [CourseWrite(course_id, values, relink)])
        except IntegrityError as exc:
            await scope.session.rollback()
            raise _duplicate_course() from exc
        scope.session.expire(course)  # the row changed under the session's copy
    if changed:
        audit.record(
            scope,
            "course.update",
            target_type="course",
            target_id=course_id,
            summary=f"Changed course {_quoted(title)}",
            details=changed,
        )
    if commit:
        await scope.session.commit()
    else:
        await scope.session.flush()
    return await get_course(scope, course_id)


async def archive_course(scope: OrgScope, course_id: int) -> CoursePublic:
    """Take a course out of the learner catalogue; its events, XP and badges stay, and
    statements about it still count. Archiving an archived course changes nothing."""
    course = await scope.get(Course, course_id, what="course")
    if course.archived_at is None:
        course.archived_at = utcnow()
        scope.session.add(course)
        audit.record(
            scope,
            "course.archive",
            target_type="course",
            target_id=course_id,
            summary=f"Archived course {_quoted(course.title)}",
        )
        await scope.session.commit()
    return await get_course(scope, course_id)


async def restore_course(scope: OrgScope, course_id: int) -> CoursePublic:
    """Put an archived course back in the catalogue."""
    course = await scope.get(Course, course_id, what="course")
    if course.archived_at is not None:
        archived_at: datetime = course.archived_at
        course.archived_at = None
        scope.session.add(course)
        audit.record(
            scope,
            "course.restore",
            target_type="course",
            target_id=course_id,
            summary=f"Restored course {_quoted(course.title)}",
            details={"archived_at": archived_at.isoformat()},
        )
        await scope.session.commit()
    return await get_course(scope, course_id)


async def course_refs(scope: OrgScope, *, archived: bool | None = False) -> list[CourseRef]:
    """Every course's id and title, by title (for pickers)."""
    stmt = scope.select(Course).order_by(func.lower(col(Course.title)))
    if archived is not None:
        archived_at = col(Course.archived_at)
        stmt = stmt.where(archived_at.is_not(None) if archived else archived_at.is_(None))
    return [CourseRef(id=c.id or 0, title=c.title) for c in await scope.all(stmt)]


# --- hot-skill seasons ------------------------------------------------------------------------


def season_status(season: HotSkillSeason, today: date) -> str:
    if today < season.starts_on:
        return "upcoming"
    if today > season.ends_on:
        return "ended"
    return "running"


async def _season_public(
    scope: OrgScope, seasons: Sequence[HotSkillSeason], today: date
) -> list[SeasonPublic]:
    competency_ids = {c for s in seasons for c in s.competency_ids}
    course_ids = {c for s in seasons for c in s.course_ids}
    names = {
        c.id: c.name
        for c in await scope.all(
            scope.select(Competency).where(col(Competency.id).in_(competency_ids))
        )
    }
    titles = {
        c.id: c.title
        for c in await scope.all(scope.select(Course).where(col(Course.id).in_(course_ids)))
    }
    return [
        SeasonPublic(
            id=s.id or 0,
            name=s.name,
            starts_on=s.starts_on,
            ends_on=s.ends_on,
            status=season_status(s, today),
            competencies=sorted(
                (CompetencyRef(id=c, name=names[c]) for c in s.competency_ids if c in names),
                key=lambda r: r.name.lower(),
            ),
            courses=sorted(
                (CourseRef(id=c, title=titles[c]) for c in s.course_ids if c in titles),
                key=lambda r: r.title.lower(),
            ),
        )
        for s in seasons
    ]


async def list_seasons(scope: OrgScope) -> list[SeasonPublic]:
    """Running and upcoming seasons first (by start), then ended ones (latest first)."""
    today = today_for(scope)
    rows = await scope.all(scope.select(HotSkillSeason))
    live = sorted((s for s in rows if s.ends_on >= today), key=lambda s: (s.starts_on, s.id))
    ended = sorted((s for s in rows if s.ends_on < today), key=lambda s: (s.ends_on, s.id))
    return await _season_public(scope, [*live, *reversed(ended)], today)


async def get_season(scope: OrgScope, season_id: int) -> SeasonPublic:
    row = await scope.get(HotSkillSeason, season_id, what="hot-skill season")
    return (await _season_public(scope, [row], today_for(scope)))[0]


async def _check_season_items(
    scope: OrgScope, competency_ids: Iterable[int], course_ids: Iterable[int]
) -> tuple[list[int], list[int]]:
    competencies = list(dict.fromkeys(competency_ids))
    courses = list(dict.fromkeys(course_ids))
    for cid in competencies:
        await scope.get(Competency, cid, what="competency")
    for cid in courses:
        await scope.get(Course, cid, what="course")
    return competencies, courses


def _season_details(season: HotSkillSeason) -> dict[str, Any]:
    return {
        "name": season.name,
        "starts_on": season.starts_on.isoformat(),
        "ends_on": season.ends_on.isoformat(),
        "competency_ids": list(season.competency_ids),
        "course_ids": list(season.course_ids),
    }


async def create_season(scope: OrgScope, data: SeasonCreate) -> SeasonPublic:
    """Make competencies and courses hot from ``starts_on`` to ``ends_on``."""
    competencies, courses = await _check_season_items(scope, data.competency_ids, data.course_ids)
    season = scope.add(
        HotSkillSeason(
            organisation_id=0,
            name=data.name,
            starts_on=data.starts_on,
            ends_on=data.ends_on,
            competency_ids=competencies,
            course_ids=courses,
        )
    )
    await scope.session.flush()
    audit.record(
        scope,
        "hot_skill_season.create",
        target_type="hot_skill_season",
        target_id=season.id,
        summary=f"Added hot-skill season {_quoted(season.name)} "
        f"({season.starts_on.isoformat()} to {season.ends_on.isoformat()})",
        details=_season_details(season),
    )
    await scope.session.commit()
    return await get_season(scope, season.id or 0)


async def update_season(scope: OrgScope, season_id: int, data: SeasonUpdate) -> SeasonPublic:
    season = await scope.get(HotSkillSeason, season_id, what="hot-skill season")
    before = _season_details(season)
    starts_on = data.starts_on or season.starts_on
    ends_on = data.ends_on or season.ends_on
    if ends_on < starts_on:
        raise ClientException("ends_on: the season cannot end before it starts")
    competencies, courses = await _check_season_items(
        scope,
        season.competency_ids if data.competency_ids is None else data.competency_ids,
        season.course_ids if data.course_ids is None else data.course_ids,
    )
    if not competencies and not courses:
        raise ClientException(
            "competency_ids, course_ids: choose at least one competency or course"
        )
    season.name = data.name or season.name
    season.starts_on, season.ends_on = starts_on, ends_on
    season.competency_ids, season.course_ids = competencies, courses
    after = _season_details(season)
    changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if changed:
        scope.session.add(season)
        audit.record(
            scope,
            "hot_skill_season.update",
            target_type="hot_skill_season",
            target_id=season_id,
            summary=f"Changed hot-skill season {_quoted(season.name)}",
            details=changed,
        )
        await scope.session.commit()
    return await get_season(scope, season_id)


async def end_season(scope: OrgScope, season_id: int) -> SeasonPublic:
    """End a running season: yesterday becomes its last day (learning done today earns no
    more bonus). A season that has not run a full day yet is deleted instead."""
    season = await scope.get(HotSkillSeason, season_id, what="hot-skill season")
    today = today_for(scope)
    if season_status(season, today) != "running":
        raise ClientException("only a running season can be ended", status_code=409)
    yesterday = today - timedelta(days=1)
    if season.starts_on > yesterday:
        raise ClientException(
            "this season started today; delete it instead of ending it", status_code=409
        )
    old_end = season.ends_on
    season.ends_on = yesterday
    scope.session.add(season)
    audit.record(
        scope,
        "hot_skill_season.end",
        target_type="hot_skill_season",
        target_id=season_id,
        summary=f"Ended hot-skill season {_quoted(season.name)}",
        details={"ends_on": [old_end.isoformat(), yesterday.isoformat()]},
    )
    await scope.session.commit()
    return await get_season(scope, season_id)


async def delete_season(scope: OrgScope, season_id: int) -> None:
    """Delete a season (XP already earned in it stays)."""
    season = await scope.get(HotSkillSeason, season_id, what="hot-skill season")
    details = _season_details(season)
    await scope.session.delete(season)
    audit.record(
        scope,
        "hot_skill_season.delete",
        target_type="hot_skill_season",
        target_id=season_id,
        summary=f"Deleted hot-skill season {_quoted(details['name'])}",
        details=details,
    )
    await scope.session.commit()
