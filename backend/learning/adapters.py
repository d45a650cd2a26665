"""What each source sends, as :class:`IncomingEvent`s for ``service.record_events``.

A source's parsed input (``backend.learning.xapi``, ``backend.learning.webhook``, the
``EventIn`` and ``MomentIn`` schemas, a course testimonial, the demo seed's history) names
learners and courses; ``*_keys`` says what the lookup must read for it, and the adapter turns
it and the lookup into events. Idempotency keys are namespaced by source (``xapi:``,
``webhook:``, ``api:``, ``pwa:``, ``testimonial:``, ``demo-``) so an xAPI statement id can
never collide with a webhook delivery id.
No I/O and no clock: ``now`` is an argument.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from backend.learning.lookup import IngestionLookup
from backend.learning.model import (
    CourseInfo,
    IncomingEvent,
    LookupKeys,
    UnknownReference,
)
from backend.learning.schemas import EventIn, MomentIn
from backend.learning.webhook import WebhookDelivery
from backend.learning.xapi import ParsedStatement
from pwa.i18n import N_

# --------------------------------------------------------------------------- xAPI statements


def statement_keys(statements: Sequence[ParsedStatement]) -> LookupKeys:
    """The actors' e-mails and account names (one like an address also as an e-mail), and
    everyone when an actor is only a SHA-1; the statements' activities."""
    emails = [s.actor.email for s in statements if s.actor.email]
    accounts = [s.actor.account_name for s in statements if s.actor.account_name]
    return LookupKeys(
        emails=emails + [a for a in accounts if "@" in a],
        external_ids=accounts,
        everyone=any(s.actor.mbox_sha1sum for s in statements),
        activity_ids=[s.activity_id for s in statements],
    )


def statements_to_events(
    statements: Sequence[ParsedStatement], lookup: IngestionLookup, now: datetime
) -> list[IncomingEvent]:
    """The events of parsed xAPI statements. Statements whose verb is not learning and
    statements about someone who is no learner here (yet) are left out: they are stored all
    the same, and the latter count once that person is added (``backend.lrs.unclaimed``)."""
    learners, courses = lookup.learners, lookup.courses
    incoming: list[IncomingEvent] = []
    for statement in statements:
        if statement.kind is None or not statement.earns:
            continue  # not learning (verb, Group actor, no Activity): stored, not recorded
        user = learners.find(statement.actor)
        if user is None:
            continue  # not a learner (yet): kept, counted when they are added
        course = courses.by_activity.get(statement.activity_id)
        incoming.append(
            IncomingEvent(
                key=f"xapi:{statement.id}",
                user_id=user.id,
                kind=statement.kind,
                source="xapi",
                occurred_at=statement.timestamp or now,
                minutes=_minutes(statement.duration_minutes, course, statement.kind),
                course_id=course.id if course else None,
                activity_id=statement.activity_id,
                title=(course.title if course else None)
                or statement.activity_name
                or statement.activity_id,
                # the parser built this dict for this statement: no second copy
                payload=cast("dict[str, Any]", statement.statement),
                payload_hash=statement.stored_fingerprint,
            )
        )
    return incoming


# --------------------------------------------------------------------------- LMS webhook


def delivery_keys(delivery: WebhookDelivery) -> LookupKeys:
    learner = delivery.learner
    return LookupKeys(
        emails=[learner.email] if learner.email else [],
        external_ids=[learner.external_id] if learner.external_id else [],
        course_external_ids=[delivery.course_external_id],
    )


def delivery_event(delivery: WebhookDelivery, lookup: IngestionLookup) -> IncomingEvent:
    """The event of a verified webhook delivery; :class:`UnknownReference` when its learner
    is no active learner of the organisation."""
    user = lookup.learners.named(delivery.learner.email, delivery.learner.external_id)
    if user is None:
        raise UnknownReference("learner", "no active learner of this organisation matches")
    course = lookup.courses.by_external.get(delivery.course_external_id)
    return IncomingEvent(
        key=f"webhook:{delivery.delivery_id}",
        user_id=user.id,
        kind=delivery.kind,
        source="webhook",
        occurred_at=delivery.occurred_at,
        minutes=_minutes(delivery.minutes, course, delivery.kind),
        course_id=course.id if course else None,
        title=(course.title if course else None)
        or delivery.course_title
        or delivery.course_external_id,
        payload={
            "delivery_id": delivery.delivery_id,
            "course_external_id": delivery.course_external_id,
        },
        payload_hash=delivery.fingerprint,
    )


# --------------------------------------------------------------------------- events API


def item_keys(items: Sequence[EventIn]) -> LookupKeys:
    courses = [i.course for i in items if i.course]
    return LookupKeys(
        emails=[i.learner.email for i in items if i.learner.email],
        external_ids=[i.learner.external_id for i in items if i.learner.external_id],
        ids=[i.learner.user_id for i in items if i.learner.user_id],
        course_ids=[c.id for c in courses if c.id],
        course_external_ids=[c.external_id for c in courses if c.external_id],
        activity_ids=[c.xapi_activity_id for c in courses if c.xapi_activity_id],
        competency_ids=[i.competency_id for i in items if i.competency_id],
    )


def items_to_events(
    items: Sequence[EventIn], lookup: IngestionLookup
) -> tuple[list[tuple[int, IncomingEvent]], dict[int, str]]:
    """The events of an events API batch by item index, and why each other item is
    rejected (by index): an item is judged on its own."""
    learners, courses = lookup.learners, lookup.courses
    events: list[tuple[int, IncomingEvent]] = []
    rejected: dict[int, str] = {}
    for index, item in enumerate(items):
        ref = item.learner
        user = learners.named(ref.email, ref.external_id, ref.user_id)
        if user is None:
            rejected[index] = "learner: not a learner of this organisation"
            continue
        course = None
        if item.course is not None:
            c = item.course
            course = (
                courses.by_id.get(c.id)
                if c.id
                else courses.by_external.get(c.external_id or "")
                if c.external_id
                else courses.by_activity.get(c.xapi_activity_id or "")
            )
            if course is None and c.id:
                rejected[index] = f"course.id: no course {c.id}"
                continue
        if item.competency_id and item.competency_id not in lookup.competencies:
            rejected[index] = f"competency_id: no competency {item.competency_id}"
            continue
        event = IncomingEvent(
            key=f"api:{item.id}",
            user_id=user.id,
            kind=item.kind,
            source="api",
            occurred_at=item.occurred_at,
            minutes=_minutes(item.minutes, course, item.kind),
            course_id=course.id if course else None,
            competency_id=item.competency_id,
            activity_id=item.course.xapi_activity_id if item.course else None,
            title=item.title or (course.title if course else ""),
            payload=item.model_dump(mode="json"),
        )
        events.append((index, event))
    return events, rejected


def _minutes(given: int | None, course: CourseInfo | None, kind: str) -> int:
    """The minutes a source sent; without them a completed course's duration, else none."""
    if given is not None:
        return given
    return course.duration_minutes if course and kind == "completion" else 0


# --------------------------------------------------------------------------- moments

MOMENT_MAX_AGE = timedelta(days=30)
CLOCK_SKEW = timedelta(minutes=5)  # a phone's clock may run a little ahead
MOMENT_IN_FUTURE = N_("A learning moment cannot be in the future.")
MOMENT_TOO_OLD = N_("Moments older than 30 days cannot be logged.")


class RefusedMoment(ValueError):
    """A moment that cannot be logged; ``message`` is marked for translation."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def moment_event(user_id: int, moment: MomentIn, now: datetime) -> IncomingEvent:
    """The event of a learning moment, logged by the PWA (JSON) or the Log form: the one
    check of both besides ``MomentIn``'s fields. :class:`RefusedMoment` for a moment in the
    future or older than :data:`MOMENT_MAX_AGE`."""
    occurred_at = moment.occurred_at or now
    if occurred_at > now + CLOCK_SKEW:
        raise RefusedMoment("occurred_at", MOMENT_IN_FUTURE)
    if occurred_at < now - MOMENT_MAX_AGE:
        raise RefusedMoment("occurred_at", MOMENT_TOO_OLD)
    return IncomingEvent(
        key=f"pwa:{moment.client_id}",
        user_id=user_id,
        kind="informal",
        source="pwa",
        occurred_at=occurred_at,
        minutes=moment.minutes,
        competency_id=moment.competency_id,
        title=moment.what,
        text=moment.what,
        # only what the client sent, so a retry without occurred_at is still the same moment
        payload=moment.model_dump(mode="json", exclude_unset=True),
    )


# --------------------------------------------------------------------------- testimonials


def testimonial_event(
    user_id: int, course_id: int, course_title: str, source: str, now: datetime
) -> IncomingEvent:
    """The event of a learner's first testimonial on a course (``source``: the route or page
    it came through): one key per learner and course, and the same content whichever way it
    comes in, so a repeat is a duplicate, never XP."""
    return IncomingEvent(
        key=f"testimonial:{course_id}:{user_id}",
        user_id=user_id,
        kind="testimonial",
        source=source,
        occurred_at=now,
        course_id=course_id,
        title=course_title,
        payload={"course_id": course_id},
    )


# --------------------------------------------------------------------------- demo seed


def demo_event(
    number: int, user_id: int, occurred_at: datetime, fields: Mapping[str, Any]
) -> IncomingEvent:
    """The demo history's ``number``-th event: ``fields`` are its kind, title, minutes and
    either its course (``course_id``, ``activity_id``) or its competency (an informal log)."""
    informal = fields["kind"] == "informal"
    return IncomingEvent(
        key=f"demo-{number}",
        user_id=user_id,
        kind=fields["kind"],
        source="demo",
        occurred_at=occurred_at,
        minutes=fields["minutes"],
        course_id=fields.get("course_id"),
        competency_id=fields.get("competency_id"),
        activity_id=fields.get("activity_id"),
        title=fields["title"],
        text=fields["title"] if informal else None,
        payload={"demo": number, **fields},
    )
