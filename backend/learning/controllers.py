"""Where learning comes in (xAPI, webhook, events API, PWA) and the learner's Today."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import (
    ClientException,
    NotAuthorizedException,
    ServiceUnavailableException,
    ValidationException,
)
from litestar.params import Parameter
from pydantic import TypeAdapter, ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.guards import current_principal, requires_api_key, requires_user
from backend.auth.principal import Principal
from backend.db.models import Competency, Organisation, User, WebhookSecret
from backend.db.types import utcnow
from backend.deps import app_context, provide_scope
from backend.kudos.service import thank_for_moment
from backend.learning import xapi
from backend.learning.schemas import (
    EventBatchResult,
    EventIn,
    EventItemResult,
    MomentIn,
    MomentResult,
    TodayOut,
)
from backend.learning.service import (
    ConflictingEvents,
    IncomingEvent,
    StaleLookup,
    ingestion_session,
    record_events,
)
from backend.learning.sources import (
    CourseDirectory,
    LearnerDirectory,
    UnknownReference,
    actor_lookup_needs,
    decrypt_secret,
    load_for_ingestion,
    statements_to_events,
)
from backend.learning.today import today_for
from backend.learning.webhook import WebhookError, parse_delivery, verify_signature
from backend.tenancy import OrgScope

MAX_BATCH = 1000
_T = TypeVar("_T")
LARGE_BODY = 16 * 1024 * 1024
_events_adapter: TypeAdapter[EventIn | list[EventIn]] = TypeAdapter(EventIn | list[EventIn])


async def _organisation(session: AsyncSession, organisation_id: int) -> Organisation:
    return (
        await session.exec(select(Organisation).where(Organisation.id == organisation_id))
    ).one()


@asynccontextmanager
async def _scope(request: Request[Any, Any, Any], state: State) -> AsyncIterator[OrgScope]:
    """The caller's organisation scope on a fresh session, opened by the ingestion handlers
    themselves: Litestar resolves a handler's dependencies in a task group, two extra tasks
    per request on the hottest path."""
    async with ingestion_session(app_context(state).sessionmaker) as session:
        yield OrgScope(session, current_principal(request))


def _validation_error(exc: ValidationError, prefix: str = "") -> ValidationException:
    extra = [
        {"key": prefix + ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
        for e in exc.errors(include_url=False)
    ]
    first = extra[0]
    return ValidationException(f"{first['key'] or 'body'}: {first['message']}", extra=extra)


class EventIngestController(Controller):
    path = "/api/v1/events"
    tags = ["ingestion"]
    guards = [requires_api_key]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @post(
        "/",
        summary="Record learning events (one object or a list of up to 1000) for an integration",
        request_max_body_size=LARGE_BODY,
        status_code=200,
    )
    async def ingest(
        self, request: Request[Any, Any, Any], state: State, data: Any
    ) -> Response[Any]:
        try:
            parsed = _events_adapter.validate_python(data)
        except ValidationError as exc:
            raise _validation_error(exc) from exc
        single = isinstance(parsed, EventIn)
        items: list[EventIn] = [parsed] if isinstance(parsed, EventIn) else parsed
        if not items:
            raise ClientException("the list of events is empty")
        if len(items) > MAX_BATCH:
            raise ClientException(f"at most {MAX_BATCH} events per request, got {len(items)}")
        async with _scope(request, state) as org:
            results = await _ingest_native(org, items)
        if single:
            result = results[0]
            status = {"created": 201, "duplicate": 200, "conflict": 409, "rejected": 400}[
                result.status
            ]
            return Response(result, status_code=status)
        return Response(EventBatchResult(results=results), status_code=200)


STALE_RETRIES = 3


async def _fresh_on_change(attempt: Callable[[], Awaitable[_T]]) -> _T:
    """``attempt()``, again from a fresh read while the organisation's data changes under it
    (the lookup may come from the ingestion cache; see ``backend.learning.ingest_cache``)."""
    for _ in range(STALE_RETRIES):
        try:
            return await attempt()
        except StaleLookup:
            continue
    raise ServiceUnavailableException(
        "the organisation's settings are being changed; try again in a moment"
    )


async def _ingest_native(org: OrgScope, items: list[EventIn]) -> list[EventItemResult]:
    return await _fresh_on_change(lambda: _ingest_native_once(org, items))


async def _ingest_native_once(org: OrgScope, items: list[EventIn]) -> list[EventItemResult]:
    session = org.session
    lookup = await load_for_ingestion(
        session,
        org.organisation_id,
        utcnow(),
        emails=[i.learner.email for i in items if i.learner.email],
        external_ids=[i.learner.external_id for i in items if i.learner.external_id],
        ids=[i.learner.user_id for i in items if i.learner.user_id],
        course_ids=[i.course.id for i in items if i.course and i.course.id],
        course_external_ids=[
            i.course.external_id for i in items if i.course and i.course.external_id
        ],
        activity_ids=[
            i.course.xapi_activity_id for i in items if i.course and i.course.xapi_activity_id
        ],
    )
    learners, courses = lookup.learners, lookup.courses
    wanted_competencies = {i.competency_id for i in items if i.competency_id}
    competencies = set()
    if wanted_competencies:
        competencies = set(
            (
                await session.exec(
                    select(Competency.id).where(
                        Competency.organisation_id == org.organisation_id,
                        col(Competency.id).in_(wanted_competencies),
                    )
                )
            ).all()
        )
    outcome: dict[int, EventItemResult] = {}
    incoming: list[tuple[int, IncomingEvent]] = []
    for index, item in enumerate(items):
        ref = item.learner
        user = (
            learners.by_email.get(ref.email.lower())
            if ref.email
            else learners.by_external.get(ref.external_id or "")
            if ref.external_id
            else learners.by_id.get(ref.user_id or 0)
        )
        if user is None or user.id is None:
            outcome[index] = EventItemResult(
                id=item.id, status="rejected", detail="learner: not a learner of this organisation"
            )
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
                outcome[index] = EventItemResult(
                    id=item.id, status="rejected", detail=f"course.id: no course {c.id}"
                )
                continue
        if item.competency_id and item.competency_id not in competencies:
            outcome[index] = EventItemResult(
                id=item.id,
                status="rejected",
                detail=f"competency_id: no competency {item.competency_id}",
            )
            continue
        minutes = item.minutes
        if minutes is None:
            minutes = course.duration_minutes if course and item.kind == "completion" else 0
        incoming.append(
            (
                index,
                IncomingEvent(
                    key=f"api:{item.id}",
                    user_id=user.id,
                    kind=item.kind,
                    source="api",
                    occurred_at=item.occurred_at,
                    minutes=minutes,
                    course_id=course.id if course else None,
                    competency_id=item.competency_id,
                    activity_id=item.course.xapi_activity_id if item.course else None,
                    title=item.title or (course.title if course else ""),
                    payload=item.model_dump(mode="json"),
                ),
            )
        )
    if incoming:
        recorded = await record_events(
            session,
            org.organisation_id,
            [e for _, e in incoming],
            timezones=learners.timezones,
            courses=courses.facts,
            context=lookup.context,
            snapshots=lookup.snapshots,
            config_version=lookup.config_version,
        )
        by_key = {r.key: r for r in recorded}
        for index, event in incoming:
            r = by_key[event.key]
            detail = "already recorded with different content" if r.status == "conflict" else ""
            outcome[index] = EventItemResult(
                id=items[index].id, status=r.status, detail=detail, xp=r.xp, badges=r.badges
            )
    return [outcome[i] for i in range(len(items))]


def _xapi_headers() -> dict[str, str]:
    return {"X-Experience-API-Version": xapi.XAPI_VERSION}


class XapiController(Controller):
    """An xAPI 1.0.3 statement resource (the subset an LMS needs to report learning)."""

    path = "/xapi"
    tags = ["xAPI"]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/about", summary="xAPI versions this endpoint speaks", opt={"public": True})
    async def about(self) -> Response[dict[str, list[str]]]:
        return Response({"version": [xapi.XAPI_VERSION]}, headers=_xapi_headers())

    @post(
        "/statements",
        guards=[requires_api_key],
        summary="Store one statement or a list; answers with the statement ids",
        request_max_body_size=LARGE_BODY,
        status_code=200,
    )
    async def post_statements(
        self, request: Request[Any, Any, Any], state: State, data: Any
    ) -> Response[list[str]]:
        statements = _parse_xapi(request, data, None)
        async with _scope(request, state) as org:
            await _record_statements(org, statements)
        return Response([s.id for s in statements], headers=_xapi_headers())

    @put(
        "/statements",
        guards=[requires_api_key],
        summary="Store one statement under the given statementId",
        request_max_body_size=LARGE_BODY,
        status_code=204,
    )
    async def put_statement(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: Any,
        statement_id: Annotated[str, Parameter(query="statementId", max_length=100)],
    ) -> Response[None]:
        if isinstance(data, list):
            raise ClientException("PUT takes one statement, not a list", extra={"field": "body"})
        statements = _parse_xapi(request, data, statement_id)
        async with _scope(request, state) as org:
            await _record_statements(org, statements)
        return Response(None, status_code=204, headers=_xapi_headers())


def _parse_xapi(
    request: Request[Any, Any, Any], data: Any, statement_id: str | None
) -> list[xapi.ParsedStatement]:
    try:
        xapi.check_version_header(request.headers.get(xapi.VERSION_HEADER))
        return xapi.parse_statements(data, statement_id=statement_id, from_json=True)
    except xapi.XapiError as exc:
        raise ClientException(str(exc), extra={"field": exc.field}) from exc


async def _record_statements(org: OrgScope, statements: list[xapi.ParsedStatement]) -> None:
    await _fresh_on_change(lambda: _record_statements_once(org, statements))


async def _record_statements_once(org: OrgScope, statements: list[xapi.ParsedStatement]) -> None:
    session = org.session
    now = utcnow()
    emails, accounts, needs_everyone = actor_lookup_needs(statements)
    lookup = await load_for_ingestion(
        session,
        org.organisation_id,
        now,
        emails=emails,
        external_ids=accounts,
        everyone=needs_everyone,
        activity_ids=[s.activity_id for s in statements],
    )
    learners, courses = lookup.learners, lookup.courses
    try:
        incoming = statements_to_events(statements, learners, courses, now)
    except UnknownReference as exc:
        # an LRS rejects the whole batch when one statement is rejected
        raise ClientException(str(exc), extra={"field": exc.field}) from exc
    if not incoming:
        return
    try:
        await record_events(
            session,
            org.organisation_id,
            incoming,
            now=now,
            atomic=True,
            timezones=learners.timezones,
            courses=courses.facts,
            context=lookup.context,
            snapshots=lookup.snapshots,
            config_version=lookup.config_version,
        )
    except ConflictingEvents as exc:
        ids = ", ".join(k.removeprefix("xapi:") for k in exc.keys)
        raise ClientException(
            f"statement id already used for a different statement: {ids}",
            status_code=409,
            extra={"field": "id"},
        ) from exc


class LmsWebhookController(Controller):
    path = "/api/v1/webhooks"
    tags = ["ingestion"]

    @post(
        "/lms",
        summary="Signed LMS webhook (HMAC-SHA256 over timestamp and body; see docs)",
        opt={"exclude_from_csrf": True, "public": True},
        status_code=200,
    )
    async def lms(
        self, request: Request[Any, Any, Any], state: State, db_session: AsyncSession
    ) -> Response[Any]:
        settings = app_context(state).settings
        key_id = request.headers.get("x-learnloop-webhook-key", "").strip()
        if not key_id:
            raise NotAuthorizedException("missing X-Learnloop-Webhook-Key header")
        secret_row = (
            await db_session.exec(select(WebhookSecret).where(WebhookSecret.key_id == key_id[:32]))
        ).first()
        if secret_row is None or secret_row.revoked_at is not None:
            raise NotAuthorizedException("unknown or revoked webhook key")
        raw = await request.body()
        try:
            verify_signature(
                decrypt_secret(settings, secret_row.secret_encrypted),
                raw,
                request.headers.get("x-learnloop-timestamp"),
                request.headers.get("x-learnloop-signature"),
                utcnow(),
            )
        except WebhookError as exc:
            raise NotAuthorizedException(str(exc)) from exc
        try:
            delivery = parse_delivery(raw)
        except WebhookError as exc:
            raise ClientException(str(exc), extra={"field": exc.field}) from exc
        org_id = secret_row.organisation_id
        learners = await LearnerDirectory.load(
            db_session,
            org_id,
            emails=[delivery.learner.email] if delivery.learner.email else [],
            external_ids=[delivery.learner.external_id] if delivery.learner.external_id else [],
        )
        user = (
            learners.by_email.get(delivery.learner.email)
            if delivery.learner.email
            else learners.by_external.get(delivery.learner.external_id or "")
        )
        if user is None or user.id is None:
            raise ClientException(
                "learner: no active learner of this organisation matches",
                extra={"field": "learner"},
            )
        courses = await CourseDirectory.load(
            db_session, org_id, external_ids=[delivery.course_external_id]
        )
        course = courses.by_external.get(delivery.course_external_id)
        minutes = delivery.minutes
        if minutes is None:
            minutes = course.duration_minutes if course and delivery.kind == "completion" else 0
        event = IncomingEvent(
            key=f"webhook:{delivery.delivery_id}",
            user_id=user.id,
            kind=delivery.kind,
            source="webhook",
            occurred_at=delivery.occurred_at,
            minutes=minutes,
            course_id=course.id if course else None,
            activity_id=None,
            title=(course.title if course else None)
            or delivery.course_title
            or delivery.course_external_id,
            payload={
                "delivery_id": delivery.delivery_id,
                "course_external_id": delivery.course_external_id,
            },
            payload_hash=delivery.fingerprint,
        )
        try:
            [result] = await record_events(
                db_session,
                org_id,
                [event],
                atomic=True,
                timezones=learners.timezones,
                courses=courses.facts,
            )
        except ConflictingEvents as exc:
            raise ClientException(
                "delivery_id already used for a different delivery",
                status_code=409,
                extra={"field": "delivery_id"},
            ) from exc
        return Response(
            {
                "delivery_id": delivery.delivery_id,
                "status": result.status,
                "xp": result.xp,
                "badges": result.badges,
            },
            status_code=201 if result.status == "created" else 200,
        )


class LearnerController(Controller):
    path = "/api/v1/me"
    tags = ["me"]
    guards = [requires_user]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/today", summary="Everything the Today screen shows, in one call")
    async def today(self, org: OrgScope, principal: Principal) -> TodayOut:
        user = await org.get(User, principal.user_id, what="user")
        return await today_for(
            org.session, await _organisation(org.session, org.organisation_id), user
        )

    @post(
        "/moments",
        summary="Log a learning moment (the client's id makes retries safe)",
        status_code=201,
    )
    async def log_moment(
        self, org: OrgScope, principal: Principal, data: MomentIn
    ) -> Response[MomentResult]:
        user = await org.get(User, principal.user_id, what="user")
        if data.competency_id is not None:
            await org.get(Competency, data.competency_id, what="competency")
        if data.colleague_id is not None:
            await org.get(User, data.colleague_id, what="colleague")
        now = utcnow()
        occurred_at = data.occurred_at or now
        if occurred_at > now + timedelta(minutes=5):
            raise ClientException(
                "occurred_at: a learning moment cannot be in the future",
                extra={"field": "occurred_at"},
            )
        if occurred_at < now - timedelta(days=30):
            raise ClientException(
                "occurred_at: moments older than 30 days cannot be logged",
                extra={"field": "occurred_at"},
            )
        assert user.id is not None
        event = IncomingEvent(
            key=f"pwa:{data.client_id}",
            user_id=user.id,
            kind="informal",
            source="pwa",
            occurred_at=occurred_at,
            minutes=data.minutes,
            competency_id=data.competency_id,
            title=data.what,
            text=data.what,
            # only what the client sent, so a retry without occurred_at is still the same moment
            payload=data.model_dump(mode="json", exclude_unset=True),
        )
        organisation = await _organisation(org.session, org.organisation_id)
        try:
            [result] = await record_events(org.session, organisation, [event], now=now, atomic=True)
        except ConflictingEvents as exc:
            raise ClientException(
                "client_id: this id was already used for a different moment",
                status_code=409,
                extra={"field": "client_id"},
            ) from exc
        await thank_for_moment(org, data.colleague_id, result.event_id, now)
        today = await today_for(org.session, organisation, user, now)
        status = "created" if result.status == "created" else "duplicate"
        return Response(
            MomentResult(status=status, xp=result.xp, badges=result.badges, today=today),
            status_code=201 if status == "created" else 200,
        )
