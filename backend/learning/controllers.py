"""Where learning comes in (xAPI, LMS webhook, events API, moments) and the learner's Today.

Each ingestion route parses what its source sends, reads what it names
(``backend.learning.lookup``), turns it into events (``backend.learning.adapters``) and
records them with ``service.record_events``. ``POST /xapi/statements``, the busiest request an
installation gets (an LMS's steady stream), reads its raw body (the parser's float check
needs the bytes); everything else about it is the app's: routing, middleware,
authentication, guards, limits, hooks and error mapping.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from litestar import Controller, Request, Response, get, head, post, put
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    ServiceUnavailableException,
    ValidationException,
)
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.params import Parameter
from pydantic import TypeAdapter, ValidationError
from sqlmodel import select

from backend.auth.guards import current_principal, requires_api_key, requires_user
from backend.auth.principal import Principal
from backend.context import AppContext
from backend.db.models import Competency, User, WebhookSecret
from backend.db.types import utcnow
from backend.deps import app_context, provide_scope
from backend.integrations.services import note_webhook_secret_used
from backend.learning import adapters, intake_log, voiding, xapi
from backend.learning import lookup as ingestion_lookup
from backend.learning.model import (
    ConflictingEvents,
    EventResult,
    StaleLookup,
    UnknownReference,
)
from backend.learning.schemas import (
    EventBatchResult,
    EventIn,
    EventItemResult,
    MomentIn,
    MomentResult,
    TodayOut,
)
from backend.learning.service import record_events, record_moment
from backend.learning.today import read_today, today_for
from backend.learning.webhook import WebhookError, parse_delivery, verify_signature
from backend.learning.webhook_secrets import decrypt_secret
from backend.lrs import attachments, statement_store
from backend.lrs import statements as statements_read
from backend.recommendations.services import recommendations_for
from backend.request_body import UndecodableBody, decode_json_body
from backend.tenancy import OrgScope

MAX_BATCH = 1000
LARGE_BODY = 16 * 1024 * 1024
STALE_RETRIES = 3
XAPI_HEADERS = {"X-Experience-API-Version": xapi.XAPI_VERSION}
_T = TypeVar("_T")
_events_adapter: TypeAdapter[EventIn | list[EventIn]] = TypeAdapter(EventIn | list[EventIn])


def _validation_error(exc: ValidationError, prefix: str = "") -> ValidationException:
    extra = [
        {"key": prefix + ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
        for e in exc.errors(include_url=False)
    ]
    first = extra[0]
    return ValidationException(f"{first['key'] or 'body'}: {first['message']}", extra=extra)


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


def _context_and_organisation(request: Request[Any, Any, Any]) -> tuple[AppContext, int]:
    return app_context(request.app.state), current_principal(request).organisation_id


@dataclass
class _EventsOperation(Operation):
    """The events route reads its body itself (so a body that is no JSON is logged too);
    its OpenAPI operation says what it is."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={
                "application/json": OpenAPIMediaType(
                    schema=Schema(description="one learning event object, or an array of them")
                )
            },
            required=True,
        )


class EventIngestController(Controller):
    path = "/api/v1/events"
    tags = ["ingestion"]
    guards = [requires_api_key]

    @post(
        "/",
        summary="Record learning events (one object or a list of up to 1000) for an integration",
        request_max_body_size=LARGE_BODY,
        status_code=200,
        operation_class=_EventsOperation,
    )
    async def ingest(self, request: Request[Any, Any, Any]) -> Response[Any]:
        ctx, org_id = _context_and_organisation(request)
        try:
            # the body read here, not as ``data``: a body that is no JSON is logged too
            data = decode_json_body(await request.body())
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
            results, logged = await _fresh_on_change(lambda: _ingest_items(ctx, org_id, items))
        except HTTPException as exc:
            logged = intake_log.request_refused(str(exc.detail), await request.body())
            _note(request, ctx, org_id, "api", exc.status_code, logged)
            raise
        status = 200
        if single:
            result = results[0]
            status = {"created": 201, "duplicate": 200, "conflict": 409, "rejected": 400}[
                result.status
            ]
        _note(request, ctx, org_id, "api", status, logged)
        if single:
            return Response(results[0], status_code=status)
        return Response(EventBatchResult(results=results), status_code=200)


def _note(
    request: Request[Any, Any, Any],
    ctx: AppContext,
    org_id: int,
    source: str,
    status: int,
    items: list[intake_log.Item],
) -> None:
    """Note a request of an integration with an API key in the intake log."""
    key_id = current_principal(request).api_key_id
    intake_log.note(ctx.engine, org_id, source, status, items, str(key_id or ""))


async def _ingest_items(
    ctx: AppContext, org_id: int, items: list[EventIn]
) -> tuple[list[EventItemResult], list[intake_log.Item]]:
    now = utcnow()
    lookup = await ingestion_lookup.load(ctx.engine, org_id, adapters.item_keys(items), now)
    events, rejected = adapters.items_to_events(items, lookup)
    outcome = {
        index: EventItemResult(id=items[index].id, status="rejected", detail=detail)
        for index, detail in rejected.items()
    }
    if events:
        recorded = await record_events(
            ctx.sessionmaker, org_id, [e for _, e in events], lookup=lookup, now=now
        )
        by_key = {r.key: r for r in recorded}
        for index, event in events:
            r = by_key[event.key]
            detail = "already recorded with different content" if r.status == "conflict" else ""
            outcome[index] = EventItemResult(
                id=items[index].id, status=r.status, detail=detail, xp=r.xp, badges=r.badges
            )
    results = [outcome[i] for i in range(len(items))]
    logged = intake_log.event_items(items, dict(events), rejected, results)
    return results, logged


@dataclass
class _StatementsOperation(Operation):
    """The statement routes read their body themselves, so their OpenAPI operation says what
    it is: one xAPI statement object or an array of them."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={
                "application/json": OpenAPIMediaType(
                    schema=Schema(description="an xAPI 1.0.3 statement, or an array of them")
                )
            },
            required=True,
        )


class XapiController(Controller):
    """An xAPI 1.0.3 statement resource (the subset an LMS needs to report learning)."""

    path = "/xapi"
    tags = ["xAPI"]

    @get("/about", summary="xAPI versions this endpoint speaks", opt={"public": True})
    async def about(self) -> Response[dict[str, list[str]]]:
        return Response({"version": [xapi.XAPI_VERSION]}, headers=XAPI_HEADERS)

    @post(
        "/statements",
        summary="Store one statement or a list; answers with the statement ids",
        request_max_body_size=LARGE_BODY,
        status_code=200,
        operation_class=_StatementsOperation,
    )
    async def post_statements(self, request: Request[Any, Any, Any]) -> Response[list[str]]:
        # the guard called here, not listed: Litestar copies the handler for each guard it
        # runs (~10 us, 5 % of a single statement's CPU on this route)
        await requires_api_key(request, request.route_handler)
        statements = await _parse_xapi(request, None)
        await _record_statements(request, statements, 200)
        return Response([s.id for s in statements], headers=XAPI_HEADERS)

    @put(
        "/statements",
        guards=[requires_api_key],
        summary="Store one statement under the given statementId",
        request_max_body_size=LARGE_BODY,
        status_code=204,
        operation_class=_StatementsOperation,
    )
    async def put_statement(
        self,
        request: Request[Any, Any, Any],
        statement_id: Annotated[str, Parameter(query="statementId", max_length=100)],
    ) -> Response[None]:
        statements = await _parse_xapi(request, statement_id)
        await _record_statements(request, statements, 204)
        return Response(None, status_code=204, headers=XAPI_HEADERS)

    @get(
        "/statements",
        guards=[requires_api_key],
        summary="One statement by statementId/voidedStatementId, or a StatementResult page",
    )
    async def get_statements(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        return await statements_read.answer(request)  # see backend.lrs.statements

    # not in the OpenAPI document: a HEAD answer has no body, errors included
    @head("/statements", guards=[requires_api_key], include_in_schema=False)
    async def head_statements(self, request: Request[Any, Any, Any]) -> Response[None]:
        answer = await statements_read.answer(request)
        # the GET's Content-Type (multipart/mixed and its boundary with attachments=true):
        # Litestar sets none on a HEAD answer by itself
        headers = {**answer.headers, "Content-Type": str(answer.media_type)}
        return Response(None, headers=headers)


async def _parse_xapi(
    request: Request[Any, Any, Any], statement_id: str | None
) -> list[xapi.ParsedStatement]:
    body = await request.body()
    try:
        xapi.check_version_header(request.headers.get(xapi.VERSION_HEADER))
        # JSON, or multipart/mixed with attachments' data (kept) and signatures (checked)
        return await attachments.read_statements(request, body, statement_id)
    except xapi.XapiError as exc:
        error = ClientException(str(exc), extra={"field": exc.field})
    except UndecodableBody as exc:
        error = exc
    ctx, org_id = _context_and_organisation(request)
    logged = intake_log.request_refused(error.detail, body, statement_id or "")
    _note(request, ctx, org_id, "xapi", error.status_code, logged)
    raise error


async def _record_statements(
    request: Request[Any, Any, Any], statements: list[xapi.ParsedStatement], status: int
) -> None:
    """Record parsed statements; each outcome is noted in the intake log (``status``: the
    success answer)."""
    ctx, org_id = _context_and_organisation(request)
    keys = adapters.statement_keys(statements)
    principal = current_principal(request)
    authority = statement_store.authority_of(
        principal.api_key_id, principal.display_name, ctx.settings.base_url
    )

    async def attempt() -> None:
        now = utcnow()
        lookup = await ingestion_lookup.load(ctx.engine, org_id, keys, now)
        # statements about someone who is no learner (yet) are stored and earn nothing now
        events = adapters.statements_to_events(statements, lookup, now)
        # every statement is stored with its events, all or none: none is acknowledged but
        # not stored
        batch = statement_store.batch_of(statements, principal.api_key_id, authority, now)
        try:
            results = await record_events(
                ctx.sessionmaker, org_id, events, lookup=lookup, now=now, atomic=True,
                statements=batch,
            )  # fmt: skip
        except ConflictingEvents as exc:
            ids = [k.removeprefix("xapi:") for k in exc.keys]
            message = f"statement id already used for a different statement: {', '.join(ids)}"
            logged = intake_log.xapi_refused(statements, message, conflicts=ids, events=events)
            _note(request, ctx, org_id, "xapi", 409, logged)
            raise ClientException(message, status_code=409, extra={"field": "id"}) from exc
        if batch.voids:  # the game forgets what the voided statements earned (once)
            await voiding.void_statements(ctx.sessionmaker, org_id, batch.voids, now)
        _note(
            request,
            ctx,
            org_id,
            "xapi",
            status,
            intake_log.xapi_recorded(statements, events, results, lookup.learners),
        )

    try:
        await _fresh_on_change(attempt)
    except ServiceUnavailableException as exc:
        logged = [intake_log.item("rejected", key=s.id, reason=exc.detail) for s in statements]
        _note(request, ctx, org_id, "xapi", exc.status_code, logged)
        raise


class LmsWebhookController(Controller):
    path = "/api/v1/webhooks"
    tags = ["ingestion"]

    @post(
        "/lms",
        summary="Signed LMS webhook (HMAC-SHA256 over timestamp and body; see docs)",
        opt={"exclude_from_csrf": True, "public": True},
        status_code=200,
    )
    async def lms(self, request: Request[Any, Any, Any], state: State) -> Response[Any]:
        ctx = app_context(state)
        key_id = request.headers.get("x-learnloop-webhook-key", "").strip()
        if not key_id:
            raise NotAuthorizedException("missing X-Learnloop-Webhook-Key header")
        async with ctx.sessionmaker() as session:
            secret_row = (
                await session.exec(select(WebhookSecret).where(WebhookSecret.key_id == key_id[:32]))
            ).first()
        if secret_row is None:
            raise NotAuthorizedException("unknown or revoked webhook key")
        raw = await request.body()
        org_id = secret_row.organisation_id
        # what becomes of a delivery signed with a known key is noted in the intake log
        log_item: intake_log.Item = intake_log.item("rejected", payload=raw)
        status = 500
        try:
            if secret_row.revoked_at is not None:
                raise NotAuthorizedException("unknown or revoked webhook key")
            try:
                verify_signature(
                    decrypt_secret(ctx.settings, secret_row.secret_encrypted),
                    raw,
                    request.headers.get("x-learnloop-timestamp"),
                    request.headers.get("x-learnloop-signature"),
                    utcnow(),
                )
            except WebhookError as exc:
                raise NotAuthorizedException(str(exc)) from exc
            await note_webhook_secret_used(ctx.sessionmaker, secret_row, utcnow())
            try:
                delivery = parse_delivery(raw)
            except WebhookError as exc:
                raise ClientException(str(exc), extra={"field": exc.field}) from exc
            log_item["k"] = delivery.delivery_id[:200]

            async def attempt() -> EventResult:
                now = utcnow()
                keys = adapters.delivery_keys(delivery)
                lookup = await ingestion_lookup.load(ctx.engine, org_id, keys, now)
                try:
                    event = adapters.delivery_event(delivery, lookup)
                except UnknownReference as exc:
                    log_item["o"] = "unknown_learner"
                    log_item["a"] = delivery.learner.email or delivery.learner.external_id or ""
                    raise ClientException(str(exc), extra={"field": exc.field}) from exc
                log_item.update(u=event.user_id, c=event.course_id)
                try:
                    [result] = await record_events(
                        ctx.sessionmaker, org_id, [event], lookup=lookup, now=now, atomic=True
                    )
                except ConflictingEvents as exc:
                    log_item.update(o="conflict", n="conflict")
                    raise ClientException(
                        "delivery_id already used for a different delivery",
                        status_code=409,
                        extra={"field": "delivery_id"},
                    ) from exc
                return result

            result = await _fresh_on_change(attempt)
            status = 201 if result.status == "created" else 200
            log_item.update(o=intake_log.outcome_of(result.status), x=result.xp)
            del log_item["p"]  # stored with the event
        except HTTPException as exc:
            status = exc.status_code
            log_item["r"] = str(exc.detail)[: intake_log.REASON_CHARS]
            raise
        finally:
            intake_log.note(ctx.engine, org_id, "webhook", status, [log_item], secret_row.key_id)
        return Response(
            {
                "delivery_id": delivery.delivery_id,
                "status": result.status,
                "xp": result.xp,
                "badges": result.badges,
            },
            status_code=status,
        )


class LearnerController(Controller):
    path = "/api/v1/me"
    tags = ["me"]
    guards = [requires_user]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/today", summary="Everything the Today screen shows, in one call")
    async def today(self, org: OrgScope, principal: Principal) -> TodayOut:
        user_id = principal.user_id
        assert user_id is not None  # guarded: requires_user
        read = await read_today(org.session, org.organisation_id, user_id, recommend=True)
        summary = read.today
        summary.recommendations = await recommendations_for(
            org.session,
            org.organisation_id,
            user_id,
            streak_at_risk=summary.streak.at_risk,
            learner=read.learner,
        )
        return summary

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
        try:
            result = await record_moment(org, data, now)
        except adapters.RefusedMoment as exc:
            raise ClientException(str(exc), extra={"field": exc.field}) from exc
        except ConflictingEvents as exc:
            raise ClientException(
                "client_id: this id was already used for a different moment",
                status_code=409,
                extra={"field": "client_id"},
            ) from exc
        assert user.id is not None
        today = await today_for(org.session, org.organisation_id, user.id, now)
        status = "created" if result.status == "created" else "duplicate"
        return Response(
            MomentResult(status=status, xp=result.xp, badges=result.badges, today=today),
            status_code=201 if status == "created" else 200,
        )
