"""The xAPI 1.0.3 resources besides statements (Communication 2.3 to 2.7): the State,
Activity Profile and Agent Profile documents (``backend.lrs.documents``) and the Agents and
Activities resources. API keys only, each scoped to its key's organisation; every request
carries ``X-Experience-API-Version``, echoed in the answer. Parameters are read here, so a
missing or malformed one answers 400 naming it (``extra.field``), never 500.

``GET /xapi/about`` stays with the statements (``backend.learning.controllers``).
"""

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, head, post, put
from litestar.exceptions import ClientException
from litestar.params import Parameter
from sqlmodel import col, select

from backend.auth.guards import current_principal, requires_api_key
from backend.db.models import Course, Organisation, User, XapiStatement
from backend.db.types import utcnow
from backend.deps import app_context
from backend.learning import xapi
from backend.lrs import documents, statement_store
from backend.lrs.documents import DocumentError, Kind, Preconditions, Scope

MAX_IRI = 2048
MAX_ID = 1000
_IRI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_SHA1_RE = re.compile(r"[0-9a-fA-F]{40}")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
IFIS = ("mbox", "mbox_sha1sum", "openid", "account")

Query = Request[Any, Any, Any]


def _bad(field: str, message: str, status: int = 400) -> ClientException:
    # every xAPI answer names the version, refusals too (Communication 3.3)
    return ClientException(
        f"{field}: {message}",
        status_code=status,
        extra={"field": field},
        headers={xapi.VERSION_HEADER: xapi.XAPI_VERSION},
    )


def _headers(request: Query) -> dict[str, str]:
    """Check the version header (400 without it) and return the headers of the answer."""
    try:
        xapi.check_version_header(request.headers.get(xapi.VERSION_HEADER))
    except xapi.XapiError as exc:
        raise _bad(exc.field, exc.message) from exc
    return {xapi.VERSION_HEADER: xapi.XAPI_VERSION}


def _required(name: str, value: str | None) -> str:
    if value is None or value == "":
        raise _bad(name, "is required")
    return value


def _plain(name: str, value: str, max_length: int) -> str:
    if len(value) > max_length:
        raise _bad(name, f"must be at most {max_length} characters, got {len(value)}")
    if "\x00" in value:
        raise _bad(name, "must not contain NUL characters")
    return value


def _iri(name: str, value: str | None) -> str:
    text = _plain(name, _required(name, value), MAX_IRI)
    if not _IRI_RE.fullmatch(text) or _CONTROL_RE.search(text):
        raise _bad(
            name, f"must be an absolute IRI, such as https://lms.example.com/a/1; got {text!r}"
        )
    return text


def _registration(value: str | None) -> str:
    if value is None:
        return ""
    if not _UUID_RE.fullmatch(value):
        raise _bad("registration", f"must be a UUID, got {value[:60]!r}")
    return value.lower()


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return xapi.parse_timestamp(value, field="since")
    except xapi.XapiError as exc:
        raise _bad("since", exc.message) from exc


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent parameter: its identifier (``key``, canonical) and what it says."""

    key: str
    ifi: str
    value: Any
    name: str | None


def parse_agent(value: str | None, name: str = "agent") -> Agent:
    """The ``agent`` parameter: a JSON Agent with exactly one inverse functional identifier
    (mbox, mbox_sha1sum, openid or account); a 400 naming ``name`` otherwise."""
    text = _required(name, value)
    try:
        agent = msgspec.json.decode(text.encode())
    except (msgspec.DecodeError, RecursionError):
        raise _bad(
            name, 'must be a JSON Agent object, such as {"mbox": "mailto:sam@example.com"}'
        ) from None
    if not isinstance(agent, dict):
        raise _bad(name, "must be a JSON Agent object")
    if agent.get("objectType", "Agent") != "Agent":
        raise _bad(f"{name}.objectType", f'must be "Agent", got {agent["objectType"]!r:.60}')
    present = [k for k in IFIS if k in agent]
    if len(present) != 1:
        raise _bad(
            name,
            "must have exactly one of mbox, mbox_sha1sum, openid or account, got "
            + (", ".join(present) or "none"),
        )
    ifi = present[0]
    raw = agent[ifi]
    where = f"{name}.{ifi}"
    display = agent.get("name")
    if display is not None and not isinstance(display, str):
        raise _bad(f"{name}.name", "must be a string")
    if ifi == "mbox":
        if not isinstance(raw, str) or not raw.lower().startswith("mailto:"):
            raise _bad(where, "must be a mailto: IRI such as mailto:sam@example.com")
        address = _plain(where, raw[7:], 320)
        if not _EMAIL_RE.fullmatch(address):
            raise _bad(where, f"is not an e-mail address: {address[:60]!r}")
        normal: Any = "mailto:" + address.lower()
    elif ifi == "mbox_sha1sum":
        if not isinstance(raw, str) or not _SHA1_RE.fullmatch(raw):
            raise _bad(where, "must be 40 hexadecimal digits")
        normal = raw.lower()
    elif ifi == "openid":
        normal = _iri(where, raw if isinstance(raw, str) else None)
    else:
        if not isinstance(raw, dict):
            raise _bad(where, "must be an object with homePage and name")
        home = _iri(
            f"{where}.homePage",
            raw.get("homePage") if isinstance(raw.get("homePage"), str) else None,
        )
        account_name = raw.get("name")
        if not isinstance(account_name, str) or not account_name:
            raise _bad(f"{where}.name", "is required (a string)")
        _plain(f"{where}.name", account_name, MAX_ID)
        normal = {"homePage": home, "name": account_name}
    key = statement_store.agent_key({ifi: normal})
    assert key is not None  # a valid identifier always has a key
    return Agent(key=key, ifi=ifi, value=normal, name=display)


def _preconditions(request: Query) -> Preconditions:
    return Preconditions(
        if_match=request.headers.get("if-match"), if_none_match=request.headers.get("if-none-match")
    )


def _http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def _refused(exc: DocumentError) -> ClientException:
    return _bad(exc.field, exc.message, exc.status)


async def _get(
    request: Query, scope: Scope, id_name: str, document_id: str | None, since: str | None
) -> Response[Any]:
    headers = _headers(request)
    ctx, org_id = app_context(request.app.state), current_principal(request).organisation_id
    if document_id is None:
        ids, latest = await documents.list_ids(ctx.sessionmaker, org_id, scope, _since(since))
        if latest is not None:
            headers["Last-Modified"] = _http_date(latest)
        return Response(ids, headers=headers)
    found = await documents.get_document(
        ctx.sessionmaker, org_id, scope, _plain(id_name, document_id, MAX_ID)
    )
    if found is None:
        raise _bad(id_name, "no such document", 404)
    headers |= {"ETag": f'"{found.etag}"', "Last-Modified": _http_date(found.updated_at)}
    return Response(found.content, media_type=found.content_type, headers=headers)


async def _write(
    request: Query, scope: Scope, id_name: str, document_id: str | None, *, merge: bool
) -> Response[None]:
    headers = _headers(request)
    document_id = _plain(id_name, _required(id_name, document_id), MAX_ID)
    ctx, org_id = app_context(request.app.state), current_principal(request).organisation_id
    try:
        stored = await documents.write_document(
            ctx.sessionmaker,
            org_id,
            scope,
            document_id,
            await request.body(),
            request.headers.get("content-type", ""),
            _preconditions(request),
            merge=merge,
            now=utcnow(),
        )
    except DocumentError as exc:
        raise _refused(exc) from exc
    headers["ETag"] = f'"{stored.etag}"'
    return Response(None, status_code=204, headers=headers)


async def _delete(
    request: Query, scope: Scope, id_name: str, document_id: str | None, *, all_allowed: bool
) -> Response[None]:
    headers = _headers(request)
    ctx, org_id = app_context(request.app.state), current_principal(request).organisation_id
    if document_id is None and all_allowed:
        await documents.delete_all(ctx.sessionmaker, org_id, scope)
        return Response(None, status_code=204, headers=headers)
    document_id = _plain(id_name, _required(id_name, document_id), MAX_ID)
    try:
        await documents.delete_document(
            ctx.sessionmaker, org_id, scope, document_id, _preconditions(request)
        )
    except DocumentError as exc:
        raise _refused(exc) from exc
    return Response(None, status_code=204, headers=headers)


def _state_scope(activity_id: str | None, agent: str | None, registration: str | None) -> Scope:
    return Scope(
        "state",
        activity_id=_iri("activityId", activity_id),
        agent_key=parse_agent(agent).key,
        registration=_registration(registration),
    )


def _activity_scope(activity_id: str | None) -> Scope:
    return Scope("activity_profile", activity_id=_iri("activityId", activity_id))


def _agent_scope(agent: str | None) -> Scope:
    return Scope("agent_profile", agent_key=parse_agent(agent).key)


async def _person(request: Query, agent: str | None) -> Response[Any]:
    """The Agents resource: a Person object with what is known about the agent."""
    headers = _headers(request)
    found = parse_agent(agent)
    person: dict[str, list[Any]] = {
        "name": [],
        "mbox": [],
        "mbox_sha1sum": [],
        "openid": [],
        "account": [],
    }
    if found.name:
        person["name"].append(found.name)
    person[found.ifi].append(found.value)
    ctx, org_id = app_context(request.app.state), current_principal(request).organisation_id
    query = select(User.display_name, User.email).where(User.organisation_id == org_id)
    known = None
    async with ctx.sessionmaker() as session:
        if found.ifi in ("mbox", "account"):
            if found.ifi == "mbox":
                query = query.where(User.email == found.value[7:])
            else:
                query = query.where(User.external_id == found.value["name"])
            known = (await session.exec(query.limit(1))).first()
        # the names the organisation's statements gave this agent as their actor
        said = (
            await session.exec(
                select(XapiStatement.document)
                .where(
                    XapiStatement.organisation_id == org_id,
                    XapiStatement.actor_key == found.key,
                )
                .order_by(col(XapiStatement.stored).desc(), col(XapiStatement.id).desc())
                .limit(DEFINITIONS_READ)
            )
        ).all()
    if known is not None:
        display_name, email = known
        if display_name and display_name not in person["name"]:
            person["name"].append(display_name)
        if f"mailto:{email.lower()}" not in person["mbox"]:
            person["mbox"].append(f"mailto:{email.lower()}")
    for document in said:
        name = _actor_name_in(document)
        if name and name not in person["name"]:
            person["name"].append(name)
    body = {"objectType": "Person"} | {k: v for k, v in person.items() if v}
    return Response(body, headers=headers)


async def _activity(request: Query, activity_id: str | None) -> Response[Any]:
    """The Activities resource: the activity with all that is known of its definition: the
    catalogue course's (if a course has this ``xapi_activity_id``), then what the
    organisation's statements said of it, oldest first (Communication 2.5: language maps
    gather every language, other properties take the latest)."""
    headers = _headers(request)
    iri = _iri("activityId", activity_id)
    ctx, org_id = app_context(request.app.state), current_principal(request).organisation_id
    async with ctx.sessionmaker() as session:
        row = (
            await session.exec(
                select(Course.title, Course.description, Course.url, Organisation.default_locale)
                .join(Organisation, Organisation.id == Course.organisation_id)  # type: ignore[arg-type]
                .where(Course.organisation_id == org_id, Course.xapi_activity_id == iri)
                .order_by(col(Course.archived_at).is_not(None), col(Course.id))
                .limit(1)
            )
        ).first()
        said = (
            await session.exec(
                select(XapiStatement.document)
                .where(
                    XapiStatement.organisation_id == org_id,
                    XapiStatement.activity_id == iri,
                    col(XapiStatement.document).contains('"definition"'),
                )
                .order_by(col(XapiStatement.stored).desc(), col(XapiStatement.id).desc())
                .limit(DEFINITIONS_READ)
            )
        ).all()
    definition: dict[str, Any] = {}
    if row is not None:
        title, description, url, locale = row
        definition = {"name": {locale: title}, "type": "http://adlnet.gov/expapi/activities/course"}
        if description:
            definition["description"] = {locale: description}
        if url:
            definition["moreInfo"] = url
    for document in reversed(said):
        _merge_definition(definition, _definition_in(document, iri))
    activity: dict[str, Any] = {"objectType": "Activity", "id": iri}
    if definition:
        activity["definition"] = definition
    return Response(activity, headers=headers)


DEFINITIONS_READ = 100  # the latest statements defining an activity that its answer reads
_LANGUAGE_MAPS = ("name", "description")


def _actor_name_in(document: str) -> str | None:
    """The ``name`` a stored statement gives its actor, if any."""
    try:
        statement = msgspec.json.decode(document)
    except (msgspec.DecodeError, RecursionError):
        return None
    actor = statement.get("actor") if isinstance(statement, dict) else None
    name = actor.get("name") if isinstance(actor, dict) else None
    return name if isinstance(name, str) else None


def _definition_in(document: str, iri: str) -> dict[str, Any]:
    """The definition a stored statement gives its object ``iri`` (``{}`` if none)."""
    try:
        statement = msgspec.json.decode(document)
    except (msgspec.DecodeError, RecursionError):
        return {}
    target = statement.get("object") if isinstance(statement, dict) else None
    if not isinstance(target, dict) or target.get("id") != iri:
        return {}
    definition = target.get("definition")
    return definition if isinstance(definition, dict) else {}


def _merge_definition(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        if key in _LANGUAGE_MAPS and isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key] = {**into[key], **value}
        else:
            into[key] = value


def _headless(answer: Response[Any]) -> Response[None]:
    """A HEAD answer: the GET answer's status and headers, no body. The content is ``b""``,
    not ``None``: ``None`` would be rendered as ``null`` in JSON (announcing four bytes that
    never come) and cannot be rendered at all in a binary document's media type."""
    empty: Any = b""
    return Response(
        empty, status_code=answer.status_code, headers=answer.headers, media_type=answer.media_type
    )


ActivityId = Parameter(query="activityId", required=False, description="the activity's IRI")
AgentParam = Parameter(query="agent", required=False, description="a JSON Agent object")
Registration = Parameter(query="registration", required=False, description="a UUID")
StateId = Parameter(query="stateId", required=False)
ProfileId = Parameter(query="profileId", required=False)
Since = Parameter(query="since", required=False, description="a timestamp: list only later ones")
_BODY = 16 * 1024 * 1024

_KIND_NOTE: dict[Kind, str] = {
    "state": "a learner's state in an activity",
    "activity_profile": "an activity's profile document",
    "agent_profile": "an agent's profile document",
}


class XapiDocumentController(Controller):
    """``/xapi/activities/state``, ``/xapi/activities/profile``, ``/xapi/agents/profile``,
    ``/xapi/agents`` and ``/xapi/activities``."""

    path = "/xapi"
    tags = ["xAPI"]
    guards = [requires_api_key]

    # ----------------------------------------------------------------- State (2.3)

    @get("/activities/state", summary="A state document, or the ids of those stored (since)")
    async def get_state(
        self,
        request: Query,
        activity_id: str | None = ActivityId,
        agent: str | None = AgentParam,
        registration: str | None = Registration,
        state_id: str | None = StateId,
        since: str | None = Since,
    ) -> Response[Any]:
        _headers(request)
        scope = _state_scope(activity_id, agent, registration)
        return await _get(request, scope, "stateId", state_id, since)

    @put(
        "/activities/state",
        summary="Store a state document",
        status_code=204,
        request_max_body_size=_BODY,
    )
    async def put_state(
        self,
        request: Query,
        activity_id: str | None = ActivityId,
        agent: str | None = AgentParam,
        registration: str | None = Registration,
        state_id: str | None = StateId,
    ) -> Response[None]:
        _headers(request)
        scope = _state_scope(activity_id, agent, registration)
        return await _write(request, scope, "stateId", state_id, merge=False)

    @post(
        "/activities/state",
        summary="Merge a JSON object into a state document",
        status_code=204,
        request_max_body_size=_BODY,
    )
    async def post_state(
        self,
        request: Query,
        activity_id: str | None = ActivityId,
        agent: str | None = AgentParam,
        registration: str | None = Registration,
        state_id: str | None = StateId,
    ) -> Response[None]:
        _headers(request)
        scope = _state_scope(activity_id, agent, registration)
        return await _write(request, scope, "stateId", state_id, merge=True)

    @delete("/activities/state", summary="Delete a state document, or all of them", status_code=204)
    async def delete_state(
        self,
        request: Query,
        activity_id: str | None = ActivityId,
        agent: str | None = AgentParam,
        registration: str | None = Registration,
        state_id: str | None = StateId,
    ) -> Response[None]:
        _headers(request)
        scope = _state_scope(activity_id, agent, registration)
        return await _delete(request, scope, "stateId", state_id, all_allowed=True)

    # ----------------------------------------------------------------- Activity Profile (2.7)

    @get("/activities/profile", summary="An activity profile document, or the ids stored (since)")
    async def get_activity_profile(
        self,
        request: Query,
        activity_id: str | None = ActivityId,
        profile_id: str | None = ProfileId,
        since: str | None = Since,
    ) -> Response[Any]:
        _headers(request)
        return await _get(request, _activity_scope(activity_id), "profileId", profile_id, since)

    @put(
        "/activities/profile",
        summary="Store an activity profile document (If-Match)",
        status_code=204,
        request_max_body_size=_BODY,
    )
    async def put_activity_profile(
        self,
        request: Query,
        activity_id: str | None = ActivityId,
        profile_id: str | None = ProfileId,
    ) -> Response[None]:
        _headers(request)
        scope = _activity_scope(activity_id)
        return await _write(request, scope, "profileId", profile_id, merge=False)

    @post(
        "/activities/profile",
        summary="Merge a JSON object into an activity profile document",
        status_code=204,
        request_max_body_size=_BODY,
    )
    async def post_activity_profile(
        self,
        request: Query,
        activity_id: str | None = ActivityId,
        profile_id: str | None = ProfileId,
    ) -> Response[None]:
        _headers(request)
        scope = _activity_scope(activity_id)
        return await _write(request, scope, "profileId", profile_id, merge=True)

    @delete("/activities/profile", summary="Delete an activity profile document", status_code=204)
    async def delete_activity_profile(
        self,
        request: Query,
        activity_id: str | None = ActivityId,
        profile_id: str | None = ProfileId,
    ) -> Response[None]:
        _headers(request)
        scope = _activity_scope(activity_id)
        return await _delete(request, scope, "profileId", profile_id, all_allowed=False)

    # ----------------------------------------------------------------- Agent Profile (2.6)

    @get("/agents/profile", summary="An agent profile document, or the ids stored (since)")
    async def get_agent_profile(
        self,
        request: Query,
        agent: str | None = AgentParam,
        profile_id: str | None = ProfileId,
        since: str | None = Since,
    ) -> Response[Any]:
        _headers(request)
        return await _get(request, _agent_scope(agent), "profileId", profile_id, since)

    @put(
        "/agents/profile",
        summary="Store an agent profile document (If-Match)",
        status_code=204,
        request_max_body_size=_BODY,
    )
    async def put_agent_profile(
        self, request: Query, agent: str | None = AgentParam, profile_id: str | None = ProfileId
    ) -> Response[None]:
        _headers(request)
        return await _write(request, _agent_scope(agent), "profileId", profile_id, merge=False)

    @post(
        "/agents/profile",
        summary="Merge a JSON object into an agent profile document",
        status_code=204,
        request_max_body_size=_BODY,
    )
    async def post_agent_profile(
        self, request: Query, agent: str | None = AgentParam, profile_id: str | None = ProfileId
    ) -> Response[None]:
        _headers(request)
        return await _write(request, _agent_scope(agent), "profileId", profile_id, merge=True)

    @delete("/agents/profile", summary="Delete an agent profile document", status_code=204)
    async def delete_agent_profile(
        self, request: Query, agent: str | None = AgentParam, profile_id: str | None = ProfileId
    ) -> Response[None]:
        _headers(request)
        return await _delete(
            request, _agent_scope(agent), "profileId", profile_id, all_allowed=False
        )

    # ----------------------------------------------------------------- Agents (2.4)

    @get("/agents", summary="Everything known about an agent, as a Person object")
    async def get_person(self, request: Query, agent: str | None = AgentParam) -> Response[Any]:
        return await _person(request, agent)

    # ----------------------------------------------------------------- Activities (2.5)

    @get("/activities", summary="An activity with all that is known of its definition")
    async def get_activity(
        self, request: Query, activity_id: str | None = ActivityId
    ) -> Response[Any]:
        return await _activity(request, activity_id)

    # ----------------------------------------------------------------- HEAD (1.1)
    # not in the OpenAPI document: a HEAD answer has no body, errors included

    @head("/activities/state", include_in_schema=False)
    async def head_state(
        self,
        request: Query,
        activity_id: str | None = ActivityId,
        agent: str | None = AgentParam,
        registration: str | None = Registration,
        state_id: str | None = StateId,
        since: str | None = Since,
    ) -> Response[None]:
        _headers(request)
        scope = _state_scope(activity_id, agent, registration)
        return _headless(await _get(request, scope, "stateId", state_id, since))

    @head("/activities/profile", include_in_schema=False)
    async def head_activity_profile(
        self,
        request: Query,
        activity_id: str | None = ActivityId,
        profile_id: str | None = ProfileId,
        since: str | None = Since,
    ) -> Response[None]:
        _headers(request)
        scope = _activity_scope(activity_id)
        return _headless(await _get(request, scope, "profileId", profile_id, since))

    @head("/agents/profile", include_in_schema=False)
    async def head_agent_profile(
        self,
        request: Query,
        agent: str | None = AgentParam,
        profile_id: str | None = ProfileId,
        since: str | None = Since,
    ) -> Response[None]:
        _headers(request)
        scope = _agent_scope(agent)
        return _headless(await _get(request, scope, "profileId", profile_id, since))

    @head("/agents", include_in_schema=False)
    async def head_person(self, request: Query, agent: str | None = AgentParam) -> Response[None]:
        return _headless(await _person(request, agent))

    @head("/activities", include_in_schema=False)
    async def head_activity(
        self, request: Query, activity_id: str | None = ActivityId
    ) -> Response[None]:
        return _headless(await _activity(request, activity_id))
