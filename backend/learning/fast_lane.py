"""The fast lane for ``POST /xapi/statements``: an LMS's steady stream, straight to its write.

The busiest request an installation gets is an LMS posting statements for learners it posted
for a moment ago. For that request everything is in the ingestion cache (the organisation,
the learners, the courses, their states: ``backend.learning.ingest_cache``) and one
statement writes it (``service.record_from_memory``); what the cache lacks (learners it has
not seen yet or has let go, after a restart or in a large organisation) one statement reads,
as the route would, and keeps. Going through the framework's routing, parameter parsing,
guards and an ORM session would cost more than that write, so this ASGI middleware,
outermost, takes such a request itself:

- only ``POST /xapi/statements`` with an integration's API key;
- the same checks as the route: the API key (its cache and its database check), the
  ``X-Experience-API-Version`` header, the statement parser, the learner directory;
- when anything is not plainly fine (an unknown actor, a malformed statement, a duplicate,
  a learner whose state moved on, a learner whose history must be read, a body over the
  limit, a database error), nothing has been written and the request goes on to the route
  exactly as it came in (the body is handed on), which answers it the full way, errors
  included.

A request the fast lane answers gets the route's answer: 200, the statement ids as JSON,
the xAPI version header and the app's security headers.
"""

import logging
from typing import Any

import msgspec
from litestar.types import ASGIApp, Receive, Scope, Send

from backend.auth.middleware import principal_from_api_key
from backend.db.types import utcnow
from backend.learning import xapi
from backend.learning.connections import CONNECTION_ERRORS, pooled_connection
from backend.learning.ingest_cache import cache_for
from backend.learning.service import record_from_memory
from backend.learning.sources import (
    UnknownReference,
    actor_lookup_needs,
    cached_lookup,
    read_lookup,
    statements_to_events,
)

log = logging.getLogger("learnloop.ingestion")

PATH = "/xapi/statements"
MAX_BODY = 16 * 1024 * 1024  # as the route's request_max_body_size
_encode = msgspec.json.Encoder().encode


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class XapiFastLane:
    """ASGI middleware: answers the cached, plainly valid xAPI statement POSTs itself and
    hands every other request on unchanged (see the module docstring)."""

    def __init__(self, app: ASGIApp, security_headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.security_headers = security_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        http: Any = scope  # read as a plain mapping
        if (
            http["type"] != "http"
            or http["method"] != "POST"
            or http["path"] != PATH
            or http.get("query_string")
        ):
            await self.app(scope, receive, send)
            return
        ctx = http["litestar_app"].state.ctx
        authorization = _header(http, b"authorization")
        length = _header(http, b"content-length")
        if not authorization or length is None or not length.isdigit() or int(length) > MAX_BODY:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client went away mid-request: nobody to answer
        answer = await self._answer(ctx, scope, authorization, body)
        if answer is None:
            await self.app(scope, _replay(body, receive), send)
            return
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(answer)).encode()),
            (b"x-experience-api-version", xapi.XAPI_VERSION.encode()),
            *self.security_headers,
        ]
        start: Any = {"type": "http.response.start", "status": 200, "headers": headers}
        await send(start)
        end: Any = {"type": "http.response.body", "body": answer}
        await send(end)

    async def _answer(self, ctx: Any, scope: Any, authorization: str, body: bytes) -> bytes | None:
        """The response body if the fast lane recorded the statements, else None (nothing
        written)."""
        try:
            principal = await principal_from_api_key(ctx, authorization)
            xapi.check_version_header(_header(scope, xapi.VERSION_HEADER.lower().encode()))
            document, floats = xapi.decode_json(body)
            statements = xapi.parse_statements(document, from_json=True, floats=floats)
        except Exception:
            return None  # the route says what is wrong
        if principal.via != "api_key":
            return None
        emails, accounts, needs_everyone = actor_lookup_needs(statements)
        if needs_everyone:
            return None
        org_id = principal.organisation_id
        cache = cache_for(ctx.engine)
        activity_ids = [s.activity_id for s in statements]
        now = utcnow()
        lookup = cached_lookup(cache, org_id, emails, accounts, activity_ids)
        if lookup is None:  # read what memory lacks, as the route would (kept for next time)
            try:
                async with pooled_connection(ctx.engine) as pg:
                    lookup = await read_lookup(
                        pg, cache, org_id, now,
                        emails=emails, external_ids=accounts, activity_ids=activity_ids,
                    )  # fmt: skip
            except CONNECTION_ERRORS:
                return None
        if lookup.context is None or lookup.snapshots is None:
            return None
        assert lookup.config_version is not None
        try:
            events = statements_to_events(statements, lookup.learners, lookup.courses, now)
        except UnknownReference:
            return None
        if not events:
            return None
        try:
            results = await record_from_memory(
                ctx.engine,
                org_id,
                events,
                context=lookup.context,
                timezones=lookup.learners.timezones,
                courses=lookup.courses.facts,
                snapshots=lookup.snapshots,
                config_version=lookup.config_version,
                now=now,
            )
        except Exception:
            # the route answers (and reports) it; the keys make a second try safe
            log.exception("fast lane: statements handed to the route after an error")
            return None
        if results is None:
            return None
        cache.fast_lane_answers += 1
        return _encode([s.id for s in statements])


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client went away before sending it."""
    chunks: list[bytes] = []
    while True:
        message: Any = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the body already read to the route, then waits as before."""
    sent = False

    async def replayed() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
