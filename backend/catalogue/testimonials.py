"""Testimonials: what colleagues say about a course, one per person per course.

Writing the first testimonial on a course is also a learning event (kind ``testimonial``,
key ``testimonial:<course_id>:<user_id>``), so it earns the testimonial XP exactly once;
rewriting it later only replaces the text.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import Provide
from pydantic import BaseModel, StringConstraints
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from backend.accounts.schemas import Schema
from backend.auth.guards import requires_signed_in, requires_user
from backend.db.models import Course, Testimonial, User
from backend.db.types import utcnow
from backend.deps import provide_scope
from backend.learning.adapters import testimonial_event
from backend.learning.service import record_events
from backend.tenancy import OrgScope

MIN_LENGTH = 10
MAX_LENGTH = 1000

TestimonialText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=MIN_LENGTH, max_length=MAX_LENGTH)
]


class TestimonialIn(Schema):
    text: TestimonialText


class TestimonialPublic(BaseModel):
    id: int
    course_id: int
    user_id: int
    display_name: str
    text: str
    created_at: datetime
    mine: bool = False


class TestimonialSaved(TestimonialPublic):
    created: bool
    xp: int
    """XP this call earned: the testimonial XP the first time, 0 when rewriting."""


@dataclass(frozen=True)
class Saved:
    testimonial: TestimonialPublic
    created: bool
    xp: int


async def list_testimonials(scope: OrgScope, course_id: int) -> list[TestimonialPublic]:
    """The course's testimonials, newest first (404 for a course of another organisation)."""
    await scope.get(Course, course_id, what="course")
    rows = (
        await scope.session.exec(
            select(Testimonial, User.display_name)
            .join(User, col(User.id) == col(Testimonial.user_id))
            .where(
                scope.owns(Testimonial),
                scope.owns(User),
                Testimonial.course_id == course_id,
            )
            .order_by(col(Testimonial.created_at).desc(), col(Testimonial.id).desc())
            .limit(200)
        )
    ).all()
    me = scope.principal.user_id
    return [_public(row, name, me) for row, name in rows]


def _public(row: Testimonial, display_name: str, me: int | None) -> TestimonialPublic:
    assert row.id is not None
    return TestimonialPublic(
        id=row.id,
        course_id=row.course_id,
        user_id=row.user_id,
        display_name=display_name,
        text=row.text,
        created_at=row.created_at,
        mine=me is not None and row.user_id == me,
    )


async def write_testimonial(scope: OrgScope, course_id: int, text: str, *, source: str) -> Saved:
    """Write (or rewrite) the caller's testimonial on a course, with its learning event."""
    user_id = scope.principal.user_id
    assert user_id is not None, "guarded: only people write testimonials"
    course = await scope.get(Course, course_id, what="course")
    text = text.strip()[:MAX_LENGTH]
    mine = (
        await scope.session.exec(
            scope.select(Testimonial).where(
                Testimonial.course_id == course_id, Testimonial.user_id == user_id
            )
        )
    ).first()
    created = mine is None
    xp = 0
    if mine is None:
        mine = scope.add(
            Testimonial(organisation_id=0, course_id=course_id, user_id=user_id, text=text)
        )
        try:
            await scope.session.flush()
        except IntegrityError:
            # the same person's other request got there first: rewrite theirs instead
            await scope.session.rollback()
            return await write_testimonial(scope, course_id, text, source=source)
        event = testimonial_event(user_id, course_id, course.title, source, utcnow())
        results = await record_events(scope.session, scope.organisation_id, [event], commit=False)
        xp = sum(r.xp for r in results)
    else:
        mine.text = text
        scope.session.add(mine)
    await scope.session.commit()
    await scope.session.refresh(mine)
    name = (
        await scope.session.exec(
            select(User.display_name).where(User.id == user_id, scope.owns(User))
        )
    ).one()
    return Saved(_public(mine, name, user_id), created, xp)


class TestimonialController(Controller):
    path = "/api/v1/courses/{course_id:int}/testimonials"
    tags = ["catalogue"]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", guards=[requires_signed_in], summary="What colleagues say about a course")
    async def list_testimonials(self, org: OrgScope, course_id: int) -> list[TestimonialPublic]:
        return await list_testimonials(org, course_id)

    @post(
        "/",
        guards=[requires_user],
        summary="Write my testimonial on a course (201), or rewrite it (200, no extra XP)",
    )
    async def write_testimonial(
        self, org: OrgScope, course_id: int, data: TestimonialIn
    ) -> Response[TestimonialSaved]:
        saved = await write_testimonial(org, course_id, data.text, source="api")
        body = TestimonialSaved(
            **saved.testimonial.model_dump(), created=saved.created, xp=saved.xp
        )
        return Response(body, status_code=201 if saved.created else 200)
