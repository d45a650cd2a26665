"""Testimonials: what colleagues say about a course, one per person per course.

Writing the first testimonial on a course is also a learning event (kind ``testimonial``,
key ``testimonial:<course_id>:<user_id>``), so it earns the testimonial XP exactly once;
rewriting it later only replaces the text.

Moderation: a testimonial is ``pending`` until an L&D admin approves it, or ``hidden`` with a
reason only L&D sees. Colleagues see approved ones, and pending ones too unless the
organisation's ``testimonials_need_approval`` setting is on; hidden ones leave the catalogue.
The author always sees their own, with its status. Rewriting the text asks for approval again
(a hidden one stays hidden). Every moderation action writes an audit entry with the change.
"""

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get, post, put
from litestar.di import Provide
from litestar.exceptions import ClientException
from litestar.params import Parameter
from pydantic import BaseModel, StringConstraints
from sqlalchemy import ColumnElement, case
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import col, func, or_, select

from backend.accounts.schemas import Schema
from backend.audit import services as audit
from backend.auth.guards import requires_ld_admin, requires_signed_in, requires_user
from backend.db.models import Course, Organisation, Testimonial, User
from backend.db.types import utcnow
from backend.deps import provide_scope
from backend.learning.adapters import testimonial_event
from backend.learning.service import record_events
from backend.organisations.settings import organisation_settings
from backend.tenancy import OrgScope

MIN_LENGTH = 10
MAX_LENGTH = 1000

TestimonialText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=MIN_LENGTH, max_length=MAX_LENGTH)
]


MIN_REASON = 3
MAX_REASON = 500


class TestimonialStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    hidden = "hidden"


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
    status: TestimonialStatus = TestimonialStatus.pending
    """Others' testimonials are approved, or pending when the organisation shows those; the
    author's own may also be pending ("waiting for approval") or hidden ("hidden by L&D")."""


class TestimonialSaved(TestimonialPublic):
    created: bool
    xp: int
    """XP this call earned: the testimonial XP the first time, 0 when rewriting."""


@dataclass(frozen=True)
class Saved:
    testimonial: TestimonialPublic
    created: bool
    xp: int


async def need_approval(scope: OrgScope) -> bool:
    """Whether the caller's organisation shows testimonials only after L&D approved them."""
    return need_approval_in(await scope.organisation())


def need_approval_in(organisation: Organisation) -> bool:
    """:func:`need_approval` for an organisation the caller has read already."""
    return organisation_settings(organisation).testimonials_need_approval


async def list_testimonials(
    scope: OrgScope,
    course_id: int,
    *,
    approval_needed: bool | None = None,
    course_checked: bool = False,
) -> list[TestimonialPublic]:
    """The course's testimonials colleagues may see, newest first, and the caller's own.

    404 for a course of another organisation (``course_checked``: the caller has just read
    the course in the caller's organisation; ``approval_needed``: the caller has read the
    setting, see :func:`need_approval_in`).
    """
    if not course_checked:
        await scope.get(Course, course_id, what="course")
    shown = [TestimonialStatus.approved.value]
    if approval_needed is None:
        approval_needed = await need_approval(scope)
    if not approval_needed:
        shown.append(TestimonialStatus.pending.value)
    me = scope.principal.user_id
    visible: ColumnElement[bool] = col(Testimonial.status).in_(shown)
    if me is not None:
        visible = or_(visible, Testimonial.user_id == me)
    rows = (
        await scope.session.exec(
            select(Testimonial, User.display_name)
            .join(User, col(User.id) == col(Testimonial.user_id))
            .where(
                scope.owns(Testimonial),
                scope.owns(User),
                Testimonial.course_id == course_id,
                visible,
            )
            .order_by(col(Testimonial.created_at).desc(), col(Testimonial.id).desc())
            .limit(200)
        )
    ).all()
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
        status=TestimonialStatus(row.status),
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
    elif mine.text != text:
        mine.text = text
        # colleagues saw the approved words, not these: ask again (a hidden one stays hidden)
        mine.approved_at = None
        if mine.status == TestimonialStatus.approved:
            mine.status = TestimonialStatus.pending.value
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


# --- moderation (L&D) ------------------------------------------------------------------------

StatusFilter = Literal["pending", "approved", "hidden"]
# the queue: what waits for a decision first, then what colleagues see, then what is hidden
_STATUS_ORDER = {"pending": 0, "approved": 1, "hidden": 2}


class HideIn(Schema):
    reason: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=MIN_REASON, max_length=MAX_REASON),
    ]
    """Why it is hidden: shown to L&D only, never to the author or colleagues."""


class ApprovalSettingIn(Schema):
    need_approval: bool
    """True: colleagues see a testimonial only after L&D approved it."""


class ApprovalSetting(BaseModel):
    need_approval: bool


class TestimonialModerated(BaseModel):
    """A testimonial as L&D sees it in the moderation queue."""

    id: int
    course_id: int
    course_title: str
    user_id: int
    display_name: str
    text: str
    created_at: datetime
    status: TestimonialStatus
    hidden_reason: str
    """Why L&D hid it (empty unless hidden)."""
    approved_at: datetime | None
    moderated_at: datetime | None
    moderated_by: str | None
    """The L&D admin who last approved, hid or restored it."""


class ModerationQueue(BaseModel):
    items: list[TestimonialModerated]
    total: int
    """How many match the filter and search (``items`` is one page of them)."""
    counts: dict[TestimonialStatus, int]
    """Per status, how many the organisation has (whatever the filter)."""
    need_approval: bool


@dataclass(frozen=True)
class QueueQuery:
    status: StatusFilter | None = None
    q: str = ""


async def moderation_queue(
    scope: OrgScope, query: QueueQuery, *, limit: int = 25, offset: int = 0
) -> ModerationQueue:
    """A page of the organisation's testimonials: pending first, then newest first.

    ``q`` matches the course title, the text or the author's name.
    """
    moderator = aliased(User)
    conditions: list[Any] = [scope.owns(Testimonial)]
    if query.status:
        conditions.append(Testimonial.status == query.status)
    if query.q:
        like = f"%{_escape_like(query.q)}%"
        conditions.append(
            or_(
                col(Course.title).ilike(like, escape="\\"),
                col(Testimonial.text).ilike(like, escape="\\"),
                col(User.display_name).ilike(like, escape="\\"),
            )
        )
    base = (
        select(Testimonial, Course.title, User.display_name, moderator.display_name)
        .join(Course, col(Course.id) == col(Testimonial.course_id))
        .join(User, col(User.id) == col(Testimonial.user_id))
        .outerjoin(moderator, col(moderator.id) == col(Testimonial.moderated_by_id))
        .where(*conditions)
    )
    total = (
        await scope.session.exec(
            select(func.count())
            .select_from(Testimonial)
            .join(Course, col(Course.id) == col(Testimonial.course_id))
            .join(User, col(User.id) == col(Testimonial.user_id))
            .where(*conditions)
        )
    ).one()
    rank = case(_STATUS_ORDER, value=col(Testimonial.status), else_=3)
    rows = (
        await scope.session.exec(
            base.order_by(rank, col(Testimonial.created_at).desc(), col(Testimonial.id).desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    counts = {status: 0 for status in TestimonialStatus}
    for status, count in (
        await scope.session.exec(
            select(Testimonial.status, func.count())
            .where(scope.owns(Testimonial))
            .group_by(col(Testimonial.status))
        )
    ).all():
        counts[TestimonialStatus(status)] = int(count)
    return ModerationQueue(
        items=[_moderated(*row) for row in rows],
        total=int(total),
        counts=counts,
        need_approval=await need_approval(scope),
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _moderated(
    row: Testimonial, course_title: str, display_name: str, moderator: str | None
) -> TestimonialModerated:
    assert row.id is not None
    return TestimonialModerated(
        id=row.id,
        course_id=row.course_id,
        course_title=course_title,
        user_id=row.user_id,
        display_name=display_name,
        text=row.text,
        created_at=row.created_at,
        status=TestimonialStatus(row.status),
        hidden_reason=row.hidden_reason,
        approved_at=row.approved_at,
        moderated_at=row.moderated_at,
        moderated_by=moderator,
    )


async def get_for_moderation(scope: OrgScope, testimonial_id: int) -> TestimonialModerated:
    """One testimonial as L&D sees it (404 for another organisation's)."""
    await scope.get(Testimonial, testimonial_id, what="testimonial")
    moderator = aliased(User)
    row = (
        await scope.session.exec(
            select(Testimonial, Course.title, User.display_name, moderator.display_name)
            .join(Course, col(Course.id) == col(Testimonial.course_id))
            .join(User, col(User.id) == col(Testimonial.user_id))
            .outerjoin(moderator, col(moderator.id) == col(Testimonial.moderated_by_id))
            .where(scope.owns(Testimonial), Testimonial.id == testimonial_id)
        )
    ).one()
    return _moderated(*row)


async def _describe(scope: OrgScope, row: Testimonial) -> str:
    """ "Sam Acme on “Excel basics”", for audit summaries."""
    author = (
        await scope.session.exec(
            select(User.display_name).where(User.id == row.user_id, scope.owns(User))
        )
    ).one()
    title = (
        await scope.session.exec(
            select(Course.title).where(Course.id == row.course_id, scope.owns(Course))
        )
    ).one()
    return f"{author} on “{title}”"


def _moderate(scope: OrgScope, row: Testimonial, status: TestimonialStatus) -> dict[str, str]:
    before = row.status
    row.status = status.value
    row.moderated_at = utcnow()
    row.moderated_by_id = scope.principal.user_id
    scope.session.add(row)
    return {"from": before, "to": status.value}


async def approve_testimonial(scope: OrgScope, testimonial_id: int) -> TestimonialModerated:
    """Approve: colleagues see it (also when it was hidden before)."""
    row = await scope.get(Testimonial, testimonial_id, what="testimonial")
    if row.status != TestimonialStatus.approved:
        change = _moderate(scope, row, TestimonialStatus.approved)
        row.approved_at = row.moderated_at
        row.hidden_reason = ""
        audit.record(
            scope,
            "testimonial.approve",
            target_type="testimonial",
            target_id=testimonial_id,
            summary=f"Approved the testimonial of {await _describe(scope, row)}",
            details=change,
        )
        await scope.session.commit()
    return await get_for_moderation(scope, testimonial_id)


async def hide_testimonial(
    scope: OrgScope, testimonial_id: int, reason: str
) -> TestimonialModerated:
    """Hide it from the catalogue, with a reason L&D sees (hiding again changes the reason)."""
    row = await scope.get(Testimonial, testimonial_id, what="testimonial")
    reason = " ".join(reason.split())
    if not MIN_REASON <= len(reason) <= MAX_REASON:
        raise ClientException(
            f"reason: say in {MIN_REASON} to {MAX_REASON} characters why it is hidden",
            extra=[{"key": "reason", "message": "required"}],
        )
    if row.status == TestimonialStatus.hidden and row.hidden_reason == reason:
        return await get_for_moderation(scope, testimonial_id)
    change = _moderate(scope, row, TestimonialStatus.hidden)
    row.hidden_reason = reason
    audit.record(
        scope,
        "testimonial.hide",
        target_type="testimonial",
        target_id=testimonial_id,
        summary=f"Hid the testimonial of {await _describe(scope, row)}",
        details=change | {"reason": reason},
    )
    await scope.session.commit()
    return await get_for_moderation(scope, testimonial_id)


async def restore_testimonial(scope: OrgScope, testimonial_id: int) -> TestimonialModerated:
    """Undo hiding: approved again if it was approved before, else back in the queue.

    409 when it is not hidden.
    """
    row = await scope.get(Testimonial, testimonial_id, what="testimonial")
    if row.status != TestimonialStatus.hidden:
        raise ClientException("this testimonial is not hidden", status_code=409)
    back = TestimonialStatus.approved if row.approved_at else TestimonialStatus.pending
    change = _moderate(scope, row, back)
    reason, row.hidden_reason = row.hidden_reason, ""
    audit.record(
        scope,
        "testimonial.restore",
        target_type="testimonial",
        target_id=testimonial_id,
        summary=f"Restored the testimonial of {await _describe(scope, row)}",
        details=change | {"reason_was": reason},
    )
    await scope.session.commit()
    return await get_for_moderation(scope, testimonial_id)


async def set_need_approval(scope: OrgScope, need: bool) -> ApprovalSetting:
    """Switch whether colleagues see testimonials before L&D approved them."""
    organisation = await scope.organisation()
    settings = organisation_settings(organisation)
    if settings.testimonials_need_approval != need:
        organisation.settings = settings.model_copy(
            update={"testimonials_need_approval": need}
        ).model_dump()
        scope.session.add(organisation)
        audit.record(
            scope,
            "testimonial.settings",
            target_type="organisation",
            target_id=scope.organisation_id,
            summary=(
                "Testimonials now show only after approval"
                if need
                else "Testimonials now show before approval"
            ),
            details={"testimonials_need_approval": need},
        )
        await scope.session.commit()
    return ApprovalSetting(need_approval=need)


class TestimonialModerationController(Controller):
    """L&D's moderation queue (the console's /console/testimonials calls the same services)."""

    path = "/api/v1/testimonials"
    tags = ["testimonials"]
    guards = [requires_ld_admin]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", summary="The testimonial moderation queue, pending first (L&D admin)")
    async def queue(
        self,
        org: OrgScope,
        status: StatusFilter | None = None,
        q: Annotated[str, Parameter(max_length=100)] = "",
        page: Annotated[int, Parameter(ge=1, le=100_000)] = 1,
        per_page: Annotated[int, Parameter(ge=1, le=200)] = 25,
    ) -> ModerationQueue:
        return await moderation_queue(
            org,
            QueueQuery(status=status, q=q.replace("\x00", "").strip()),
            limit=per_page,
            offset=(page - 1) * per_page,
        )

    @get("/{testimonial_id:int}", summary="One testimonial with its moderation (L&D admin)")
    async def one(self, org: OrgScope, testimonial_id: int) -> TestimonialModerated:
        return await get_for_moderation(org, testimonial_id)

    @post(
        "/{testimonial_id:int}/approve",
        status_code=200,
        summary="Approve a testimonial: colleagues see it (L&D admin)",
    )
    async def approve(self, org: OrgScope, testimonial_id: int) -> TestimonialModerated:
        return await approve_testimonial(org, testimonial_id)

    @post(
        "/{testimonial_id:int}/hide",
        status_code=200,
        summary="Hide a testimonial from the catalogue, with a reason for L&D (L&D admin)",
    )
    async def hide(self, org: OrgScope, testimonial_id: int, data: HideIn) -> TestimonialModerated:
        return await hide_testimonial(org, testimonial_id, data.reason)

    @post(
        "/{testimonial_id:int}/restore",
        status_code=200,
        summary="Restore a hidden testimonial (409 when it is not hidden) (L&D admin)",
    )
    async def restore(self, org: OrgScope, testimonial_id: int) -> TestimonialModerated:
        return await restore_testimonial(org, testimonial_id)

    @get("/settings", summary="Whether testimonials wait for approval (L&D admin)")
    async def get_setting(self, org: OrgScope) -> ApprovalSetting:
        return ApprovalSetting(need_approval=await need_approval(org))

    @put("/settings", summary="Let testimonials show before or only after approval (L&D admin)")
    async def put_setting(self, org: OrgScope, data: ApprovalSettingIn) -> ApprovalSetting:
        return await set_need_approval(org, data.need_approval)
