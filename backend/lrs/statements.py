"""Reading the Statement resource: ``GET``/``HEAD /xapi/statements`` (xAPI 1.0.3,
Communication 2.1.3), over what ``backend.lrs.statement_store`` kept.

- ``statementId`` answers that statement (404 if unknown or voided), ``voidedStatementId``
  a voided one (404 otherwise); with ``Last-Modified`` = its ``stored``. Only ``format``
  and ``attachments`` may come with them.
- Otherwise a StatementResult ``{"statements": [...], "more": ""}``, newest ``stored`` first
  (``ascending=true``: oldest first), voided statements left out, filtered by ``agent``
  (actor or object; with ``related_agents=true`` also authority, instructor, team and a
  SubStatement's), ``verb``, ``activity`` (the object; ``related_activities=true``: also
  context activities and a SubStatement's), ``registration``, ``since`` (stored after) and
  ``until`` (stored at or before); ``limit`` (0: the most, :data:`MAX_LIMIT`). A statement
  whose object is a StatementRef also matches when the statement it targets does, voided or
  not (:func:`page_sql`). ``Last-Modified`` is the page's newest ``stored``.
  ``more`` is ``/xapi/statements?more=<cursor>``: the query and where the page ended
  (stored, row id), opaque to the client.
- ``format``: ``exact`` (as stored), ``ids`` (agents, groups, activities and the verb by
  their identifiers only, an Activity by its id alone, a SubStatement's too) or
  ``canonical`` (one language per language map, the request's ``Accept-Language`` first).
  ``attachments=true`` answers multipart/mixed: the JSON, then the attachments' data
  (``backend.lrs.attachments.with_attachments``).
- Each API key reads its own organisation's statements only. A parameter the resource does
  not know, or one that is malformed, answers 400 naming it.
"""

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import ClientException, HTTPException, NotFoundException

from backend.auth.guards import current_principal
from backend.db.replica import consistent_through, read_engine
from backend.db.types import utcnow
from backend.learning import xapi
from backend.learning.connections import pooled_connection
from backend.lrs import attachments
from backend.lrs.statement_store import agent_key, stored_text

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
FORMATS = ("exact", "ids", "canonical")
_SINGLE = ("statementId", "voidedStatementId")
_SINGLE_COMPANIONS = {"format", "attachments"}
_FILTERS = {
    "agent",
    "verb",
    "activity",
    "registration",
    "related_activities",
    "related_agents",
    "since",
    "until",
    "limit",
    "format",
    "attachments",
    "ascending",
}
_KNOWN = {*_SINGLE, *_FILTERS, "more"}
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_IRI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")
_IFIS = ("mbox", "mbox_sha1sum", "openid", "account")

Query = Request[Any, Any, Any]


def _bad(field: str, message: str) -> ClientException:
    return ClientException(f"{field}: {message}", extra={"field": field})


@dataclass
class StatementQuery:
    """A StatementResult query, as the ``more`` cursor carries it too."""

    agent: str | None = None  # agent_key
    verb: str | None = None
    activity: str | None = None
    registration: str | None = None
    related_activities: bool = False
    related_agents: bool = False
    since: str | None = None  # ISO timestamps, as datetimes below
    until: str | None = None
    limit: int = DEFAULT_LIMIT
    ascending: bool = False
    format: str = "exact"
    after: tuple[str, int] | None = None  # (stored, row id) the previous page ended at


def _boolean(name: str, value: str) -> bool:
    if value not in ("true", "false"):
        raise _bad(name, f'must be true or false, got "{value[:40]}"')
    return value == "true"


def _uuid(name: str, value: str) -> str:
    if not _UUID_RE.fullmatch(value):
        raise _bad(name, f'must be a UUID, got "{value[:60]}"')
    return value.lower()


def _iri(name: str, value: str) -> str:
    if not _IRI_RE.fullmatch(value) or len(value) > xapi.MAX_ID_LENGTH:
        raise _bad(
            name,
            f'must be an IRI such as http://adlnet.gov/expapi/verbs/completed, got "{value[:60]}"',
        )
    return value


def _agent(value: str) -> str:
    try:
        agent = msgspec.json.decode(value.encode())
    except (msgspec.DecodeError, RecursionError):
        agent = None
    if not isinstance(agent, dict):
        raise _bad(
            "agent", 'must be a JSON Agent or Group, such as {"mbox": "mailto:sam@example.com"}'
        )
    if agent.get("objectType", "Agent") not in ("Agent", "Group"):
        raise _bad("agent.objectType", 'must be "Agent" or "Group"')
    present = [k for k in _IFIS if k in agent]
    key = agent_key(agent)
    if len(present) != 1 or key is None:
        raise _bad(
            "agent",
            "must have exactly one of mbox, mbox_sha1sum, openid or account, got "
            + (", ".join(present) or "none"),
        )
    return key


def _timestamp(name: str, value: str) -> str:
    try:
        return xapi.parse_timestamp(value, field=name).isoformat()
    except xapi.XapiError as exc:
        raise _bad(name, exc.message) from exc


def parse_query(params: Mapping[str, list[str]]) -> StatementQuery | tuple[str, str, str]:
    """The StatementResult query of ``params``, or ``(parameter, id, format)`` for a single
    statement; 400 naming the parameter when one is unknown, repeated or malformed."""
    for name, values in params.items():
        if name not in _KNOWN:
            raise _bad(name, "is not a parameter of the Statement resource")
        if len(values) > 1:
            raise _bad(name, "is given more than once")
    given = {name: values[0] for name, values in params.items()}
    fmt = given.get("format", "exact")
    if fmt not in FORMATS:
        raise _bad("format", f'must be exact, ids or canonical, got "{fmt[:40]}"')
    if "attachments" in given:
        _boolean("attachments", given["attachments"])
    single = [name for name in _SINGLE if name in given]
    if single:
        others = sorted(set(given) - _SINGLE_COMPANIONS - {single[0]})
        if others:
            raise _bad(
                others[0],
                f"cannot be combined with {single[0]} (only format and attachments can)",
            )
        return single[0], _uuid(single[0], given[single[0]]), fmt
    if "more" in given:
        if len(given) > 1:
            raise _bad(sorted(set(given) - {"more"})[0], "cannot be combined with more")
        return _cursor(given["more"])
    query = StatementQuery(format=fmt)
    if "agent" in given:
        query.agent = _agent(given["agent"])
    if "verb" in given:
        query.verb = _iri("verb", given["verb"])
    if "activity" in given:
        query.activity = _iri("activity", given["activity"])
    if "registration" in given:
        query.registration = _uuid("registration", given["registration"])
    for name in ("related_activities", "related_agents", "ascending"):
        if name in given:
            setattr(query, name, _boolean(name, given[name]))
    for name in ("since", "until"):
        if name in given:
            setattr(query, name, _timestamp(name, given[name]))
    if "limit" in given:
        text = given["limit"]
        if not text.isdigit() or len(text) > 9:
            raise _bad("limit", f'must be a whole number from 0 to {MAX_LIMIT}, got "{text[:20]}"')
        query.limit = min(int(text), MAX_LIMIT) or MAX_LIMIT
    return query


def _cursor(token: str) -> StatementQuery:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        fields = msgspec.json.decode(raw)
        query = StatementQuery(**fields)
        if query.after is not None:
            stored, row = query.after
            query.after = (str(stored), int(row))
        if not isinstance(query.limit, int) or not 0 < query.limit <= MAX_LIMIT:
            raise ValueError(query.limit)
    except (binascii.Error, msgspec.DecodeError, TypeError, ValueError, RecursionError):
        raise _bad("more", "is not a cursor this LRS gave out") from None
    return query


def _more_link(query: StatementQuery, stored: datetime, row_id: int) -> str:
    fields = asdict(query) | {"after": (stored.isoformat(), row_id)}
    token = base64.urlsafe_b64encode(msgspec.json.encode(fields)).decode().rstrip("=")
    return f"/xapi/statements?more={token}"


_CONSISTENT = "X-Experience-API-Consistent-Through"


def _always() -> dict[str, str]:
    """The headers of every answer, refusals included (Communication 2.1.3)."""
    return {
        xapi.VERSION_HEADER: xapi.XAPI_VERSION,
        # a page's answer moves it back to the oldest open transaction (_consistent_through)
        _CONSISTENT: stored_text(utcnow()),
    }


def _headers(request: Query) -> dict[str, str]:
    try:
        xapi.check_version_header(request.headers.get(xapi.VERSION_HEADER))
    except xapi.XapiError as exc:
        raise _bad(exc.field, exc.message) from exc
    return _always()


READ_SETTINGS = (
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
    "set_config('max_parallel_workers_per_gather', '0', true), "
    # when the oldest transaction still open began (stored before it may yet commit)
    "(SELECT min(xact_start) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()) AS oldest"
)


def _consistent_through(headers: dict[str, str], oldest: datetime | None) -> None:
    """X-Experience-API-Consistent-Through: not later than the start of the oldest
    transaction still open, which may be storing statements stored before now."""
    if oldest is not None and stored_text(oldest) < headers[_CONSISTENT]:
        headers[_CONSISTENT] = stored_text(oldest)


def single_sql(org_id: int, statement_id: str) -> tuple[str, list[Any]]:
    """The SQL of one statement by its id (voided or not)."""
    return _PG_ONE, [org_id, statement_id]


_PG_ONE = """
SELECT document, stored, voided FROM xapi_statement
WHERE organisation_id = $1 AND statement_id = $2::uuid
"""


REF_LEVELS = 3
"""How many StatementRefs deep a statement is found by what its target matches: the levels
of ``xapi_statement.target_keys`` (migration 0033)."""


def page_sql(query: StatementQuery, org_id: int) -> tuple[str, list[Any]]:
    """The SQL of a StatementResult page: rows (id, stored, document), one more than the
    limit (is there more?).

    A statement matches when it does itself, or when the statement its StatementRef
    targets matches, voided or not (Communication 2.1.3, "Filter Conditions for
    StatementRefs"; :data:`REF_LEVELS` deep): its ``target_keys`` hold what its target
    matches (migration 0033), or, for the few whose target arrived after them, their
    target is read. since, until, the cursor and voided apply to the statement returned.
    Each way to match is its own ordered, limited subquery (an index read in ``stored``
    order stops after ``limit + 1`` rows), merged."""
    params: list[Any] = [org_id]

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    order = "ASC" if query.ascending else "DESC"
    page = f"ORDER BY {{a}}.stored {order}, {{a}}.id {order} LIMIT {query.limit + 1}"
    window: list[str] = []  # on the statement returned
    if query.since is not None:
        window.append(f"{{a}}.stored > {param(datetime.fromisoformat(query.since))}")
    if query.until is not None:
        window.append(f"{{a}}.stored <= {param(datetime.fromisoformat(query.until))}")
    if query.after is not None:
        stored, row_id = query.after
        compare = ">" if query.ascending else "<"
        window.append(
            f"({{a}}.stored, {{a}}.id) {compare} "
            f"({param(datetime.fromisoformat(stored))}, {param(row_id)})"
        )
    matches: list[str] = []  # on the matching statement, each condition ANDed
    keys: list[str] = []  # the same, as target_keys name them
    agent_ways: list[str] = []  # ways to be the agent, each its own index read
    agent_target = ""  # the same, on a statement a StatementRef targets
    if query.agent is not None:
        p = param(query.agent)
        agent_ways = [f"{{a}}.actor_key = {p}", f"{{a}}.object_agent_key = {p}"]
        if query.related_agents:  # else: the rest of them, by index (migration 0033)
            agent_ways.append(f"array_remove({{a}}.related_agents, {{a}}.actor_key) @> ARRAY[{p}]")
            agent_target = f"{{a}}.related_agents @> ARRAY[{p}]::text[]"
            keys.append("ragent:" + query.agent)
        else:
            agent_target = f"({{a}}.actor_key = {p} OR {{a}}.object_agent_key = {p})"
            keys.append("agent:" + query.agent)
    if query.verb is not None:
        matches.append(f"{{a}}.verb_id = {param(query.verb)}")
        keys.append("verb:" + query.verb)
    if query.activity is not None:
        p = param(query.activity)
        if query.related_activities:
            matches.append(f"{{a}}.related_activities @> ARRAY[{p}]::text[]")
            keys.append("ractivity:" + query.activity)
        else:
            matches.append(f"{{a}}.activity_id = {p}")
            keys.append("activity:" + query.activity)
    if query.registration is not None:
        matches.append(f"{{a}}.registration = {param(query.registration)}::uuid")
        keys.append("registration:" + query.registration)
    own = ["{a}.organisation_id = $1", "NOT {a}.voided", *window]

    def where(conditions: list[str], alias: str) -> str:
        return " AND ".join(c.format(a=alias) for c in conditions)

    if not keys:
        return (
            f"SELECT s.id, s.stored, s.document FROM xapi_statement s WHERE {where(own, 's')} "
            + page.format(a="s")
        ), params
    direct = [[way, *matches] for way in agent_ways] or [matches]
    branches = [
        f"(SELECT s.id, s.stored FROM xapi_statement s WHERE {where(own + d, 's')} "
        f"{page.format(a='s')})"
        for d in direct
    ]

    def targets_match(alias: str, levels: int) -> str:
        """``alias``'s target_keys hold every key (one condition: at any level; more: all
        at one level)."""
        condition = f"{alias}.target_keys @> {param(keys)}::text[]"
        if len(keys) > 1:
            condition += " AND ({})".format(
                " OR ".join(
                    f"{alias}.target_keys @> {param([f'{n} {k}' for k in keys])}::text[]"
                    for n in range(1, levels + 1)
                )
            )
        return condition

    # a StatementRef whose target matches
    branches.append(
        f"(SELECT s.id, s.stored FROM xapi_statement s WHERE {where(own, 's')} "
        f"AND s.target_keys IS NOT NULL AND {targets_match('s', REF_LEVELS)} "
        f"{page.format(a='s')})"
    )
    # one whose target was not stored yet when it was (its target_keys are NULL, and so are
    # those of a StatementRef to it): few, so each one's target is read, and that one's if
    # it is such a StatementRef too (a subplan: never a read of every match to join them)
    target = [agent_target, *matches] if agent_target else matches
    unresolved = (
        "{a}.target_keys IS NULL AND {a}.activity_id IS NULL AND {a}.object_agent_key IS NULL"
    )

    def targeted(a: str) -> str:
        """The statement id ``a`` targets, if ``a`` is such a StatementRef (CASE: conditions
        of a join may run in any order, and another object's id is no UUID)."""
        return (
            f"(CASE WHEN {unresolved.format(a=a)} "
            f"THEN ({a}.document::jsonb #>> '{{object,id}}')::uuid END)"
        )

    branches.append(
        f"(SELECT s.id, s.stored FROM xapi_statement s WHERE {where(own, 's')} "
        f"AND {unresolved.format(a='s')} "
        "AND (SELECT true FROM xapi_statement t LEFT JOIN xapi_statement t2 "
        f"ON t2.organisation_id = $1 AND t2.statement_id = {targeted('t')} "
        f"WHERE t.organisation_id = $1 AND t.statement_id = {targeted('s')} "
        f"AND (({where(target, 't')}) OR ({targets_match('t', REF_LEVELS - 1)}) "
        f"OR ({where(target, 't2')}) OR ({targets_match('t2', REF_LEVELS - 2)})) "
        f"LIMIT 1) {page.format(a='s')})"
    )
    sql = (
        "SELECT s.id, s.stored, s.document FROM ("
        + " UNION ".join(branches)
        + f" ORDER BY stored {order}, id {order} LIMIT {query.limit + 1}) u "
        + "JOIN xapi_statement s ON s.id = u.id "
        + f"ORDER BY s.stored {order}, s.id {order}"
    )
    return sql, params


def _languages(request: Query) -> list[str]:
    """The request's Accept-Language tags, most wanted first (lowercase)."""
    tags: list[tuple[float, int, str]] = []
    for index, part in enumerate(request.headers.get("accept-language", "").split(",")):
        tag, _, weight = part.strip().partition(";q=")
        try:
            quality = float(weight) if weight else 1.0
        except ValueError:
            quality = 0.0
        if tag and tag != "*":
            tags.append((-quality, index, tag.lower()))
    return [tag for _, _, tag in sorted(tags)]


def _one_language(names: Mapping[str, Any], languages: list[str]) -> dict[str, Any]:
    if not names:
        return {}
    lowered = {k.lower(): k for k in names}
    for tag in languages:
        if tag in lowered:
            return {lowered[tag]: names[lowered[tag]]}
        for key in names:  # "en" also wants "en-US"
            if key.lower().startswith(tag + "-") or tag.startswith(key.lower() + "-"):
                return {key: names[key]}
    first = sorted(names)[0]
    return {first: names[first]}


_LANGUAGE_MAPS = {"name", "description", "display"}
_INTERACTION_LISTS = {"choices", "scale", "source", "target", "steps"}


def _canonical(value: Any, languages: list[str], key: str = "") -> Any:
    if isinstance(value, dict):
        if key in _LANGUAGE_MAPS and all(isinstance(v, str) for v in value.values()):
            return _one_language(value, languages)
        return {k: _canonical(v, languages, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v, languages, "") for v in value]
    return value


def _ids_only(value: Any) -> Any:
    """A statement with Agents, Groups, Activities and the verb reduced to what identifies
    them (format=ids)."""
    if not isinstance(value, dict):
        return value
    kind = value.get("objectType")
    out: dict[str, Any] = {}
    for k, v in value.items():
        if k in ("actor", "authority", "object") or k in ("instructor", "team"):
            out[k] = _identified(v)
        elif k == "verb" and isinstance(v, dict):
            out[k] = {"id": v.get("id")}
        elif k == "context" and isinstance(v, dict):
            out[k] = _ids_only(v)
        elif k == "contextActivities" and isinstance(v, dict):
            out[k] = {
                group: [_identified(a) for a in (items if isinstance(items, list) else [items])]
                for group, items in v.items()
            }
        else:
            out[k] = v
    if kind == "SubStatement":
        out["objectType"] = kind
    return out


def _identified(thing: Any) -> Any:
    if not isinstance(thing, dict):
        return thing
    kind = thing.get("objectType", "Activity" if "id" in thing else "Agent")
    if kind == "SubStatement":
        return _ids_only(thing)
    if kind == "Activity":  # its id is all that identifies it, objectType included
        return {"id": thing.get("id")}
    if kind == "StatementRef":
        return {"id": thing.get("id"), "objectType": kind}
    out = {k: thing[k] for k in ("objectType", *_IFIS) if k in thing}
    if kind == "Group" and "member" in thing and not any(k in thing for k in _IFIS):
        out["member"] = [_identified(m) for m in thing["member"]]
    return out


def _formatted(document: str, fmt: str, languages: list[str]) -> str:
    if fmt == "exact":
        return document
    statement = msgspec.json.decode(document)
    shaped = _ids_only(statement) if fmt == "ids" else _canonical(statement, languages)
    return msgspec.json.encode(shaped).decode()


async def answer(request: Query) -> Response[bytes]:
    """The answer to ``GET /xapi/statements`` (HEAD drops its body)."""
    try:
        # with attachments=true: multipart/mixed with the attachments' data (lane lrs-write)
        return await attachments.with_attachments(request, await _answer(request))
    except HTTPException as exc:
        exc.headers = {**(exc.headers or {}), **_always()}
        raise


async def _answer(request: Query) -> Response[bytes]:
    headers = _headers(request)
    parsed = parse_query(request.query_params.dict())
    engine = await read_engine(request)  # the replica, once it has this key's writes
    org_id = current_principal(request).organisation_id
    languages = _languages(request)
    if isinstance(parsed, tuple):
        name, statement_id, fmt = parsed
        async with pooled_connection(engine) as pg:
            row = await pg.fetchrow(_PG_ONE, org_id, statement_id)
        if row is None or row["voided"] != (name == "voidedStatementId"):
            what = "voided statement" if name == "voidedStatementId" else "statement"
            raise NotFoundException(f"{name}: no {what} with this id")
        headers["Last-Modified"] = format_datetime(row["stored"], usegmt=True)
        body = _formatted(row["document"], fmt, languages)
        return Response(body.encode(), media_type="application/json", headers=headers)
    sql, params = page_sql(parsed, org_id)
    async with pooled_connection(engine) as pg, pg.transaction():
        # planned for these values, each time: a plan cached for any agent or verb would
        # read a busy learner's statements the way that suits a rare one (or the reverse)
        # and without parallel workers: starting them costs more than these reads
        settings = await pg.fetchrow(READ_SETTINGS)
        rows = await pg.fetch(sql, *params)
    _consistent_through(headers, settings["oldest"])
    _consistent_through(headers, consistent_through(request))  # a replica: what it replayed
    more = ""
    if len(rows) > parsed.limit:
        rows = rows[: parsed.limit]
        more = _more_link(parsed, rows[-1]["stored"], rows[-1]["id"])
    if rows:  # the newest statement of the page
        newest = max(r["stored"] for r in rows)
        headers["Last-Modified"] = format_datetime(newest, usegmt=True)
    documents = ",".join(_formatted(r["document"], parsed.format, languages) for r in rows)
    body = f'{{"statements":[{documents}],"more":"{more}"}}'
    return Response(body.encode(), media_type="application/json", headers=headers)
