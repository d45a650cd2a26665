"""The Statement resource's storage: every statement ``POST``/``PUT /xapi/statements``
accepts, as the LRS returns it, and the SQL that reads them back (``backend.lrs.statements``).

A statement is kept as JSON (as :func:`_document_text` writes it) with what the LRS fills in:
``stored`` (when this request stored it), ``authority`` (the API key as an Agent, xAPI 1.0.3
Data 2.4.9), ``version`` (``1.0.0`` when absent, Data 2.4.10) and ``timestamp`` (``stored``
when absent, Data 2.4.7). Beside it, the columns the spec's filters read, each index ordered
by ``stored``, then ``id``.

A request's statements are written in the same transaction as their learning events: the
optimistic ingestion statement inserts them with :func:`insert_sql` (``backend.learning.
store``), the locked way and requests without events with :func:`store_on`, which writes all
of a request's statements or none: an id already stored with other content is a conflict
(409, nothing written), with the same content a duplicate (nothing changes). Agents are
compared by their inverse functional identifier (:func:`agent_key`).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from backend.learning import xapi

VOIDED_VERB = "http://adlnet.gov/expapi/verbs/voided"
DEFAULT_VERSION = "1.0.0"


def agent_key(agent: object) -> str | None:
    """An Agent's or identified Group's identifier, as filters compare them: ``mbox:mailto:
    sam@example.com`` (lowercased), ``mbox_sha1sum:<hex>``, ``openid:<iri>`` or
    ``account:["<homePage>","<name>"]``; None for an anonymous Group or no agent."""
    if not isinstance(agent, Mapping):
        return None
    mbox = agent.get("mbox")
    if isinstance(mbox, str):
        return "mbox:" + mbox.lower()
    sha1 = agent.get("mbox_sha1sum")
    if isinstance(sha1, str):
        return "mbox_sha1sum:" + sha1.lower()
    openid = agent.get("openid")
    if isinstance(openid, str):
        return "openid:" + openid
    account = agent.get("account")
    if isinstance(account, Mapping):
        home, name = account.get("homePage"), account.get("name")
        if isinstance(home, str) and isinstance(name, str):
            return "account:" + msgspec.json.encode([home, name]).decode()
    return None


def authority_of(api_key_id: int | None, key_name: str, base_url: str) -> dict[str, Any]:
    """The ``authority`` of statements sent with an API key: the key as an Agent whose
    account is the key's number on this installation."""
    agent: dict[str, Any] = {
        "objectType": "Agent",
        "account": {"homePage": base_url.rstrip("/") + "/", "name": f"api-key-{api_key_id}"},
    }
    if key_name:
        agent["name"] = key_name
    return agent


def stored_text(moment: datetime) -> str:
    """``moment`` as the statements' ``stored``: UTC, milliseconds, ``Z``."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Row:
    """One statement's row, ready to insert."""

    statement_id: str
    document: str
    fingerprint: str
    actor_key: str | None
    object_agent_key: str | None
    verb_id: str
    activity_id: str | None
    registration: str | None
    timestamp: datetime
    related_agents: list[str] = field(default_factory=list)
    related_activities: list[str] = field(default_factory=list)
    voids: str | None = None  # the statement id a voiding statement names


def _related(statement: Mapping[str, Any], agents: set[str], activities: set[str]) -> None:
    """The agents and activities a statement (or its SubStatement) is about, for the
    ``related_agents``/``related_activities`` filters (Communication 2.1.3)."""
    for agent in (statement.get("actor"), statement.get("authority")):
        if (key := agent_key(agent)) is not None:
            agents.add(key)
    target = statement.get("object")
    if isinstance(target, Mapping):
        kind = target.get("objectType", "Activity")
        if kind == "Activity" and isinstance(target.get("id"), str):
            activities.add(target["id"])
        elif kind in ("Agent", "Group") and (key := agent_key(target)) is not None:
            agents.add(key)
        elif kind == "SubStatement":
            _related(target, agents, activities)
    context = statement.get("context")
    if isinstance(context, Mapping):
        for role in ("instructor", "team"):
            if (key := agent_key(context.get(role))) is not None:
                agents.add(key)
        groups = context.get("contextActivities")
        if isinstance(groups, Mapping):
            for listed in groups.values():
                for activity in listed if isinstance(listed, list) else [listed]:
                    if isinstance(activity, Mapping) and isinstance(activity.get("id"), str):
                        activities.add(activity["id"])


_encode = msgspec.json.Encoder().encode


def _document_text(document: Mapping[str, Any]) -> str:
    """A statement's stored JSON: msgspec's (the fingerprint, not this text, tells contents
    apart), or the canonical writer's for what msgspec cannot write (integers past 64 bits)."""
    try:
        return _encode(document).decode()
    except (TypeError, ValueError, OverflowError, msgspec.MsgspecError):
        return xapi.canonical_json(document)


def row_of(
    statement: xapi.ParsedStatement, authority: Mapping[str, Any], stored: str, now: datetime
) -> Row:
    """The row of one parsed statement, stored now (``stored`` is ``now`` as text)."""
    document = dict(statement.statement)
    document["stored"] = stored
    document["authority"] = authority
    document.setdefault("version", DEFAULT_VERSION)
    document.setdefault("timestamp", stored)
    target = document.get("object")
    target = target if isinstance(target, Mapping) else {}
    kind = target.get("objectType", "Activity")
    context = document.get("context")
    registration = context.get("registration") if isinstance(context, Mapping) else None
    agents: set[str] = set()
    activities: set[str] = set()
    _related(document, agents, activities)
    verb = document.get("verb")
    return Row(
        statement_id=statement.id,
        document=_document_text(document),
        fingerprint=statement.stored_fingerprint,
        actor_key=agent_key(document.get("actor")),
        object_agent_key=agent_key(target) if kind in ("Agent", "Group") else None,
        verb_id=statement.verb_id,
        activity_id=target.get("id") if kind == "Activity" else None,
        registration=registration.lower() if isinstance(registration, str) else None,
        timestamp=statement.timestamp or now,
        related_agents=sorted(agents),
        related_activities=sorted(activities),
        voids=(
            target.get("id")
            if isinstance(verb, Mapping)
            and verb.get("id") == VOIDED_VERB
            and kind == "StatementRef"
            and isinstance(target.get("id"), str)
            else None
        ),
    )


_STATEMENT_PARAMETERS = (
    "${}::uuid[]",  # statement id
    "${}::text[]",  # document
    "${}::text[]",  # fingerprint
    "${}::text[]",  # actor key
    "${}::text[]",  # object agent key
    "${}::text[]",  # verb
    "${}::text[]",  # activity
    "${}::uuid[]",  # registration
    "${}::timestamptz[]",  # timestamp
    # newline-joined: no IRI and no agent key (JSON-escaped) holds a raw newline
    "${}::text[]",  # related agents
    "${}::text[]",  # related activities
    "${}::int",  # API key
    "${}::timestamptz",  # stored
)
STATEMENT_PARAMETER_COUNT = len(_STATEMENT_PARAMETERS)


def _unnest(first: int) -> str:
    """The statements' columns as ``v``, from parameters ``$first`` on (:func:`columns`)."""
    arrays = ", ".join(p.format(first + i) for i, p in enumerate(_STATEMENT_PARAMETERS[:-2]))
    return f"""unnest({arrays}) WITH ORDINALITY
       AS v(sid, doc, fp, actor, object_agent, verb, activity, registration, ts, agents,
            activities, n)"""


# A statement a stored voiding statement names is stored voided (its voiding may come first:
# Data 2.3.2), unless it is a voiding statement itself; a voiding statement keeps the id it
# names (its object, a StatementRef: the parser checked) in ``voids`` (migration 0032).
# One uncorrelated lookup for the request's ids (a hashed SubPlan, costed once), not one per
# row: with a per-row EXISTS the generic plan of the ingestion statement looked ~100 times
# costlier than a custom one (unnest over a parameter is estimated at 100 rows), so
# PostgreSQL planned every single statement afresh, a third of its CPU per statement.
def _voided_on_arrival(first: int) -> str:
    return f"""(v.verb <> '{VOIDED_VERB}' AND v.sid IN (
      SELECT w.voids FROM xapi_statement w
      WHERE w.organisation_id = $1 AND w.voids = ANY(${first}::uuid[])))"""


_VOIDS = f"""CASE WHEN v.verb = '{VOIDED_VERB}'
      THEN (v.doc::json -> 'object' ->> 'id')::uuid END"""


def insert_sql(first: int, where: str = "true") -> str:
    """``INSERT INTO xapi_statement`` of the statements passed as parameters ``$first`` on
    (:func:`columns`), for organisation ``$1``, where ``where`` holds; a
    statement id already stored is skipped (``ON CONFLICT DO NOTHING``)."""
    return f"""INSERT INTO xapi_statement (organisation_id, statement_id, document, fingerprint,
    actor_key, object_agent_key, verb_id, activity_id, registration, related_agents,
    related_activities, voided, voids, api_key_id, timestamp, stored)
  SELECT $1, v.sid, v.doc, v.fp, v.actor, v.object_agent, v.verb, v.activity, v.registration,
    string_to_array(v.agents, E'\\n'), string_to_array(v.activities, E'\\n'),
    {_voided_on_arrival(first)}, {_VOIDS},
    ${first + STATEMENT_PARAMETER_COUNT - 2}, v.ts, ${first + STATEMENT_PARAMETER_COUNT - 1}
  FROM {_unnest(first)}
  WHERE {where}
  ORDER BY v.n
  ON CONFLICT (organisation_id, statement_id) DO NOTHING
  RETURNING statement_id, voided, verb_id, voids"""


# All of a request's statements or none: ids stored before with other content ("clash")
# stop every insert; ids stored before with the same content ("same") are left alone. Then,
# read after the inserts with a snapshot of its own (migration 0037), the new ones a voiding
# statement of another request names: "voided" if they were stored voided, "unmarked" if
# that voiding was stored after this statement began (it did not see it).
_PG_STORE = f"""
WITH known AS (
  SELECT s.statement_id, CASE WHEN s.fingerprint = v.fp THEN 'same' ELSE 'clash' END AS kind
  FROM xapi_statement s JOIN {_unnest(2)} ON s.statement_id = v.sid
  WHERE s.organisation_id = $1
), ins AS (
  {insert_sql(2, "NOT EXISTS (SELECT 1 FROM known WHERE kind = 'clash')")}
), named AS (
  SELECT unnest(xapi_statements_voided_now($1, ARRAY(
    SELECT statement_id FROM ins WHERE verb_id <> '{VOIDED_VERB}'
    EXCEPT SELECT voids FROM ins WHERE voids IS NOT NULL))) AS sid
)
SELECT statement_id::text, kind FROM known
UNION ALL SELECT statement_id::text, 'new' FROM ins
UNION ALL SELECT i.statement_id::text, CASE WHEN i.voided THEN 'voided' ELSE 'unmarked' END
  FROM ins i JOIN named ON named.sid = i.statement_id
"""

_PG_FINGERPRINTS = """
SELECT statement_id::text, fingerprint FROM xapi_statement
WHERE organisation_id = $1 AND statement_id = ANY($2::uuid[])
"""

_PG_FORGET = """
DELETE FROM xapi_statement WHERE organisation_id = $1 AND statement_id = ANY($2::uuid[])
"""


@dataclass
class Stored:
    """What :func:`store_on` did: the ids it inserted, and the ids stored before with other
    content (then nothing was inserted). ``voided``: inserted ids a voiding statement of
    another request names, as seen after they were inserted (it may have been stored after
    the caller last looked: then what their events earn must not stay); ``unmarked``: those
    of them stored unvoided (their voiding was stored while they were)."""

    inserted: list[str]
    conflicts: list[str]
    voided: list[str] = field(default_factory=list)
    unmarked: list[str] = field(default_factory=list)


@dataclass
class Batch:
    """A request's statements, ready to store: rows and the moment they are stored (to the
    millisecond, as the documents say it: since/until compare what clients read). After
    they are written, ``inserted`` holds the ids that were new."""

    api_key_id: int | None
    rows: list[Row]
    now: datetime
    inserted: list[str] = field(default_factory=list)

    @property
    def voids(self) -> list[str]:
        """The ids of the statements this batch's voiding statements name."""
        return [r.voids for r in self.rows if r.voids is not None]

    def columns(self) -> list[Any]:
        """The statements as parameters of :func:`insert_sql`, in its order."""
        rows = self.rows
        return [
            [r.statement_id for r in rows],
            [r.document for r in rows],
            [r.fingerprint for r in rows],
            [r.actor_key for r in rows],
            [r.object_agent_key for r in rows],
            [r.verb_id for r in rows],
            [r.activity_id for r in rows],
            [r.registration for r in rows],
            [r.timestamp for r in rows],
            ["\n".join(r.related_agents) for r in rows],
            ["\n".join(r.related_activities) for r in rows],
            self.api_key_id,
            self.now,
        ]


def batch_of(
    statements: Sequence[xapi.ParsedStatement],
    api_key_id: int | None,
    authority: Mapping[str, Any],
    now: datetime,
) -> Batch:
    """``statements`` (parsed, valid), sent with the API key ``api_key_id`` (``authority``),
    as stored ``now``."""
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    stored = stored_text(now)
    return Batch(api_key_id, [row_of(s, authority, stored, now) for s in statements], now)


async def store_on(pg: Any, org_id: int, batch: Batch) -> Stored:
    """Store ``batch`` of organisation ``org_id`` on the connection ``pg``: all of it, or
    nothing if an id was stored before with other content. In a transaction, the caller
    rolls back on conflicts; outside one, a conflict found after a concurrent request stored
    the same id undoes this one's inserts."""
    result = await pg.fetch(_PG_STORE, org_id, *batch.columns())
    inserted = [sid for sid, kind in result if kind == "new"]
    conflicts = [sid for sid, kind in result if kind == "clash"]
    seen = {sid for sid, _ in result}
    fingerprints = {r.statement_id: r.fingerprint for r in batch.rows}
    raced = [sid for sid in fingerprints if sid not in seen]
    if raced and not conflicts:  # stored by a concurrent request since this one looked
        for sid, fingerprint in await pg.fetch(_PG_FINGERPRINTS, org_id, raced):
            if fingerprint != fingerprints[sid]:
                conflicts.append(sid)
        if conflicts and inserted and not pg.is_in_transaction():
            await pg.execute(_PG_FORGET, org_id, inserted)
            inserted = []
    if conflicts:
        return Stored(inserted=[], conflicts=sorted(conflicts))
    batch.inserted = inserted
    unmarked = sorted(sid for sid, kind in result if kind == "unmarked")
    voided = sorted([sid for sid, kind in result if kind == "voided"] + unmarked)
    return Stored(inserted=inserted, conflicts=[], voided=voided, unmarked=unmarked)
