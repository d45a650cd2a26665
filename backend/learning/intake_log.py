"""The intake log: what became of each statement and event an integration sent.

Every ingestion route (xAPI, the signed LMS webhook, the events API) notes one entry per
request once its outcome is known: the organisation, the source, the HTTP status the sender
got, the credential it used, and per statement or event a compact item: ``o`` outcome
(:data:`OUTCOMES`), ``k`` its id or idempotency key, ``u`` and ``c`` the learner and course it
resolved to, ``x`` the XP it earned, ``r`` the reason the sender was told (word for word),
``n`` a note the console explains (:data:`NOTES`), ``a`` the actor a statement named when no
learner matched, ``p`` a trimmed copy of what was sent where nothing was stored (what was
stored is read from ``learning_event`` when someone looks).

Ingestion is the hot path, so noting costs the request no round trip: entries wait in this
process's buffer (:class:`IntakeWriter`, one per engine) and are written together at most
:data:`FLUSH_SECONDS` later by one ``INSERT ... SELECT FROM unnest``; each organisation is
pruned to its newest :data:`KEEP_REQUESTS` requests once :data:`PRUNE_AFTER_ROWS` rows came
in or :data:`PRUNE_SECONDS` passed. The console reads after writing out its own process's
buffer, so other processes' entries show up within a second. Noting never raises and a
failed write is logged and dropped: the log must never lose or fail an ingestion. The
buffer is bounded (:data:`MAX_PENDING`), so a database outage does not grow memory.
"""

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar.exceptions import NotFoundException
from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import col, select

from backend.db.models import Course, LearningEvent, User
from backend.db.types import utcnow
from backend.learning.connections import on_pooled_connection
from backend.ops.metrics import count_ingestion
from backend.tenancy import OrgScope
from pwa.i18n import N_

log = logging.getLogger("learnloop.intake")

Outcome = Literal["accepted", "duplicate", "conflict", "rejected", "unknown_learner", "voided"]
OUTCOMES: dict[str, str] = {
    "accepted": N_("Accepted"),
    "duplicate": N_("Duplicate"),
    "voided": N_("Voided"),
    "conflict": N_("Conflict"),
    "rejected": N_("Rejected"),
    "unknown_learner": N_("Learner unknown"),
}
SOURCES: dict[str, str] = {
    "xapi": N_("xAPI"),
    "webhook": N_("Webhook"),
    "api": N_("Events API"),
}
NOTES: dict[str, str] = {
    "batch": N_(
        "Not stored: another statement in the same request was refused, and an LRS refuses "
        "a whole batch then. Fix that one and send the batch again."
    ),
    "verb": N_("Accepted but not counted as learning: its verb is not one learnloop records."),
    "conflict": N_(
        "This id was used before for a different statement or event. Each one needs an id "
        "of its own; a retry must send exactly the same content."
    ),
    "unknown": N_(
        "No active person of your organisation has this e-mail address or external id. Add "
        "them under People (or fix the address in the LMS), then send it again."
    ),
    "duplicate": N_("Already received earlier with the same content: nothing changed."),
    "voided": N_(
        "Stored as voided: the LMS had already sent a statement voiding it, so it earns "
        "nothing and reads back only by voidedStatementId."
    ),
    "kept": N_(
        "Stored, but no active person of your organisation has this e-mail address or "
        "account yet. It counts for them as soon as they are added under People (or imported) "
        "with it; nothing needs to be sent again."
    ),
}

SHOWN = 200
"""Statements and events the console shows at most (newest first)."""
KEEP_REQUESTS = 200
"""Requests kept per organisation after a prune (each holds at least one item)."""
FLUSH_SECONDS = 1.0
PRUNE_SECONDS = 60.0
PRUNE_AFTER_ROWS = 500
MAX_PENDING = 20_000
PAYLOAD_CHARS = 1500
REASON_CHARS = 500

Item = dict[str, Any]
_Row = tuple[int, datetime, str, int, str, list[Item]]


def trimmed(payload: Any, limit: int = PAYLOAD_CHARS) -> str:
    """``payload`` as compact JSON (text and bytes as they are), cut to ``limit`` characters."""
    if isinstance(payload, bytes):
        text = payload[: limit * 4].decode("utf-8", errors="replace")
    elif isinstance(payload, str):
        text = payload
    else:
        try:
            text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
        except (TypeError, ValueError):
            text = repr(payload)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def item(
    outcome: Outcome,
    *,
    key: str = "",
    user_id: int | None = None,
    course_id: int | None = None,
    reason: str = "",
    note: str = "",
    actor: str = "",
    payload: Any = None,
    xp: int = 0,
) -> Item:
    """One statement's or event's entry (empty fields left out)."""
    entry: Item = {"o": outcome}
    if key:
        entry["k"] = key[:200]
    if user_id is not None:
        entry["u"] = user_id
    if course_id is not None:
        entry["c"] = course_id
    if xp:
        entry["x"] = xp
    if reason:
        entry["r"] = reason[:REASON_CHARS]
    if note:
        entry["n"] = note
    if actor:
        entry["a"] = actor[:200]
    if payload is not None:
        entry["p"] = trimmed(payload)
    return entry


# --------------------------------------------------------------------------- writing


class IntakeWriter:
    """This process's entries not yet written for one engine (see the module docstring).

    Safe across event loops (a test's clients each run the app on a loop of their own, all on
    one engine): nothing here waits for another loop. The buffer is swapped out whole, each
    loop has its own timer, and a reader waits for writes under way by polling, not on a
    lock another loop would have to release."""

    def __init__(self, engine: Any) -> None:
        self._engine = weakref.ref(engine)
        self.pending: list[_Row] = []
        self.dropped = 0
        self._timers: dict[asyncio.AbstractEventLoop, asyncio.TimerHandle] = {}
        self._writing = 0  # flushes under way, on any loop
        self._rows_since_prune: dict[int, int] = {}
        self._pruned_at: dict[int, float] = {}

    def note(self, row: _Row) -> None:
        if len(self.pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self.pending.append(row)
        loop = asyncio.get_running_loop()
        if loop not in self._timers:
            for other in list(self._timers):  # a copy: other loops' threads may change it
                if other.is_closed():  # a test client's loop, closed before its timer ran
                    self._timers.pop(other, None)
            self._timers[loop] = loop.call_later(FLUSH_SECONDS, self._due, loop)

    def _due(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timers.pop(loop, None)
        task = loop.create_task(self.flush())
        _flushing.add(task)
        task.add_done_callback(_flushing.discard)

    async def flush(self, *, wait: bool = False) -> None:
        """Write what is pending; never raises. ``wait``: first let writes under way (on any
        loop) land, for a reader who must see every entry noted so far (at most 5 s)."""
        for _ in range(1000 if wait else 0):
            if not self._writing:
                break
            await asyncio.sleep(0.005)
        rows, self.pending = self.pending, []
        engine = self._engine()
        if not rows or engine is None:
            return
        self._writing += 1
        try:
            await on_pooled_connection(engine, lambda pg: _insert(pg, rows))
        except Exception:  # the log must never fail anything else
            log.warning("intake log: %d requests not written", len(rows), exc_info=True)
            return
        finally:
            self._writing -= 1
        if self.dropped:
            log.warning("intake log: %d requests dropped (buffer full)", self.dropped)
            self.dropped = 0
        due = self._due_for_pruning(rows)
        if due:
            try:
                await on_pooled_connection(engine, lambda pg: _prune(pg, due))
            except Exception:
                log.warning("intake log: pruning failed", exc_info=True)

    def _due_for_pruning(self, rows: Sequence[_Row]) -> list[int]:
        now = time.monotonic()
        for row in rows:
            self._rows_since_prune[row[0]] = self._rows_since_prune.get(row[0], 0) + 1
        due = [
            org_id
            for org_id, count in self._rows_since_prune.items()
            if count >= PRUNE_AFTER_ROWS or now - self._pruned_at.get(org_id, 0.0) > PRUNE_SECONDS
        ]
        for org_id in due:
            self._pruned_at[org_id] = now
            del self._rows_since_prune[org_id]
        return sorted(due)


_writers: "weakref.WeakKeyDictionary[Any, IntakeWriter]" = weakref.WeakKeyDictionary()
_flushing: set["asyncio.Task[None]"] = set()


def writer_for(engine: Any) -> IntakeWriter:
    """The intake log writer of ``engine`` (an ``AsyncEngine``; tests run many in a process)."""
    writer = _writers.get(engine)
    if writer is None:
        writer = _writers[engine] = IntakeWriter(engine)
    return writer


def note(
    engine: Any,
    organisation_id: int,
    source: str,
    status: int,
    items: list[Item],
    credential: str = "",
) -> None:
    """Note one request's outcome for the console; never raises, costs no round trip."""
    try:
        count_ingestion(source, items)  # /metrics: learnloop_ingested_total
        writer_for(engine).note((organisation_id, utcnow(), source, status, credential[:40], items))
    except Exception:  # ingestion goes on whatever happens here
        log.warning("intake log: an entry was not noted", exc_info=True)


async def flush(engine: Any) -> None:
    """Write this process's pending entries now, after those being written (before reading,
    and at shutdown)."""
    writer = _writers.get(engine)
    if writer is not None:
        await writer.flush(wait=True)


_INSERT = """
INSERT INTO intake_log (organisation_id, received_at, source, status, credential, items)
SELECT o, r, s, st, c, i::json
FROM unnest($1::int[], $2::timestamptz[], $3::text[], $4::int[], $5::text[], $6::text[])
    AS t(o, r, s, st, c, i)
"""

# the newest KEEP_REQUESTS rows of each organisation stay
_PRUNE = """
DELETE FROM intake_log l
USING (
    SELECT o.org, (
        SELECT id FROM intake_log WHERE organisation_id = o.org
        ORDER BY id DESC OFFSET $2 LIMIT 1
    ) AS floor
    FROM unnest($1::int[]) AS o(org)
) f
WHERE l.organisation_id = f.org AND l.id <= f.floor
"""

_encode = msgspec.json.Encoder().encode


async def _insert(pg: Any, rows: Sequence[_Row]) -> None:
    await pg.execute(
        _INSERT,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
        [_encode(r[5]).decode() for r in rows],
    )


async def _prune(pg: Any, organisation_ids: list[int]) -> None:
    await pg.execute(_PRUNE, organisation_ids, KEEP_REQUESTS)


# --------------------------------------------------------------------------- per source


def statement_actor(actor: Any) -> str:
    """How an xAPI actor names its learner, for L&D to recognise."""
    if actor.email:
        return str(actor.email)
    if actor.account_name:
        return f"account {actor.account_name}"
    if actor.mbox_sha1sum:
        return f"mbox_sha1sum {actor.mbox_sha1sum}"
    return ""


def xapi_recorded(
    statements: Sequence[Any], events: Sequence[Any], results: Sequence[Any], learners: Any
) -> list[Item]:
    """The items of statements recorded (or duplicates) in request order: ``events`` are the
    statements' events (none for a verb that is not learning, or for someone who is no
    learner yet: "learner unknown", kept for when they are added), ``results`` their results,
    ``learners`` the lookup's (who a statement without an event was about)."""
    by_key = {r.key: r for r in results}
    event_of = {e.key: e for e in events}
    items: list[Item] = []
    for statement in statements:
        key = "xapi:" + statement.id
        event = event_of.get(key)
        if event is None:
            user = learners.find(statement.actor)
            if user is None and statement.kind is not None and statement.earns:  # kept
                items.append(
                    item(
                        "unknown_learner",
                        key=statement.id,
                        note="kept",
                        actor=statement_actor(statement.actor),
                        payload=statement.statement,
                    )
                )
                continue
            items.append(
                {"o": "accepted", "k": statement.id, "n": "verb", "u": user.id if user else None}
            )
            continue
        result = by_key.get(key)
        status = result.status if result is not None else "duplicate"
        items.append(
            {
                "o": "accepted" if status == "created" else status,
                "k": statement.id,
                "u": event.user_id,
                "c": event.course_id,
                "x": result.xp if result is not None else 0,
            }
        )
    return items


def xapi_refused(
    statements: Sequence[Any],
    reason: str,
    *,
    unknown: Iterable[int] = (),
    conflicts: Iterable[str] = (),
    events: Iterable[Any] = (),
    user_ids: Mapping[int, int] | None = None,
    course_ids: Mapping[int, int] | None = None,
) -> list[Item]:
    """The items of a batch refused as a whole: statements at the ``unknown`` indexes named
    no learner, ``conflicts`` (statement ids) reused an id; the rest were not stored.
    ``events`` (or ``user_ids`` and ``course_ids`` by index) say what the others were about."""
    unknown_at = set(unknown)
    conflicting = set(conflicts)
    event_of = {e.key: e for e in events}
    items: list[Item] = []
    for index, statement in enumerate(statements):
        event = event_of.get("xapi:" + statement.id)
        common: dict[str, Any] = {
            "key": statement.id,
            "reason": reason,
            "payload": statement.statement,
            "user_id": event.user_id if event is not None else (user_ids or {}).get(index),
            "course_id": event.course_id if event is not None else (course_ids or {}).get(index),
        }
        if index in unknown_at:
            items.append(item("unknown_learner", actor=statement_actor(statement.actor), **common))
        elif statement.id in conflicting:
            items.append(item("conflict", note="conflict", **common))
        else:
            items.append(item("rejected", note="batch", **common))
    return items


def request_refused(reason: str, body: bytes | None = None, key: str = "") -> list[Item]:
    """The one item of a request refused before its statements could be told apart (not
    JSON, an invalid statement, a bad signature): the reason the sender got and its body."""
    return [item("rejected", key=key, reason=reason, payload=body)]


def outcome_of(status: str) -> Outcome:
    return "accepted" if status == "created" else status  # type: ignore[return-value]


def event_items(
    items: Sequence[Any],
    events: Mapping[int, Any],
    rejected: Mapping[int, str],
    results: Sequence[Any],
) -> list[Item]:
    """The items of an events API request (each event judged on its own): ``events`` by
    index, ``rejected`` reasons by index (a reason about the learner: nobody matched)."""
    entries: list[Item] = []
    for index, (sent, result) in enumerate(zip(items, results, strict=True)):
        event = events.get(index)
        if index in rejected:
            reason = rejected[index]
            entries.append(
                item(
                    "unknown_learner" if reason.startswith("learner:") else "rejected",
                    key=sent.id,
                    reason=reason,
                    actor=sent.learner.email or sent.learner.external_id or "",
                    payload=sent.model_dump(mode="json"),
                )
            )
        elif result.status == "conflict":
            entries.append(
                item(
                    "conflict",
                    key=sent.id,
                    user_id=event.user_id if event else None,
                    course_id=event.course_id if event else None,
                    reason=result.detail,
                    note="conflict",
                    payload=sent.model_dump(mode="json"),
                )
            )
        else:
            entries.append(
                {
                    "o": outcome_of(result.status),
                    "k": sent.id,
                    "u": event.user_id if event else None,
                    "c": event.course_id if event else None,
                    "x": result.xp,
                }
            )
    return entries


# --------------------------------------------------------------------------- reading

KEY_PREFIXES = {"xapi": "xapi:", "webhook": "webhook:", "api": "api:"}
SHOWN_PAYLOAD_CHARS = 6000


class IntakeEntry(BaseModel):
    """One statement or event as the console and ``GET /api/v1/integrations/intake`` show it."""

    log_id: int
    index: int
    received_at: datetime
    source: str
    status: int
    credential: str
    outcome: str
    key: str
    user_id: int | None = None
    learner: str = ""
    course_id: int | None = None
    course: str = ""
    xp: int = 0
    reason: str = ""
    note: str = ""
    actor: str = ""


class IntakeEntryDetail(IntakeEntry):
    payload: str = ""
    """What was sent (trimmed), or what was stored of it."""
    payload_trimmed: bool = False


_RECENT = """
SELECT l.id, e.ord - 1, l.received_at, l.source, l.status, l.credential, e.item
FROM intake_log l
CROSS JOIN LATERAL json_array_elements(l.items) WITH ORDINALITY AS e(item, ord)
WHERE l.organisation_id = :org
  AND (CAST(:source AS text) = '' OR l.source = :source)
  AND (CAST(:outcome AS text) = '' OR e.item ->> 'o' = :outcome)
ORDER BY l.id DESC, e.ord
LIMIT :limit
"""

_ONE = """
SELECT l.id, CAST(:index AS int), l.received_at, l.source, l.status, l.credential,
       l.items -> CAST(:index AS int)
FROM intake_log l
WHERE l.organisation_id = :org AND l.id = :log_id
"""


def _entry(row: Sequence[Any], cls: type[IntakeEntry] = IntakeEntry) -> IntakeEntry:
    log_id, index, received_at, source, status, credential, data = row
    if isinstance(data, str):
        data = json.loads(data)
    return cls(
        log_id=log_id,
        index=index,
        received_at=received_at,
        source=source,
        status=status,
        credential=credential,
        outcome=data.get("o", ""),
        key=data.get("k", ""),
        user_id=data.get("u"),
        course_id=data.get("c"),
        xp=data.get("x") or 0,
        reason=data.get("r", ""),
        note=data.get("n", ""),
        actor=data.get("a", ""),
    )


async def _name_them(scope: OrgScope, entries: Sequence[IntakeEntry]) -> None:
    """Fill in the learners' and courses' names (of this organisation only)."""
    user_ids = {e.user_id for e in entries if e.user_id is not None}
    course_ids = {e.course_id for e in entries if e.course_id is not None}
    people: dict[int, str] = {}
    courses: dict[int, str] = {}
    if user_ids:
        rows = await scope.session.exec(
            select(User.id, User.display_name, User.email).where(
                scope.owns(User), col(User.id).in_(user_ids)
            )
        )
        people = {uid: name or email for uid, name, email in rows.all() if uid is not None}
    if course_ids:
        rows2 = await scope.session.exec(
            select(Course.id, Course.title).where(
                scope.owns(Course), col(Course.id).in_(course_ids)
            )
        )
        courses = {cid: title for cid, title in rows2.all() if cid is not None}
    for entry in entries:
        if entry.user_id is not None:
            entry.learner = people.get(entry.user_id, "")
        if entry.course_id is not None:
            entry.course = courses.get(entry.course_id, "")


async def recent(
    scope: OrgScope, engine: Any, *, outcome: str = "", source: str = "", limit: int = SHOWN
) -> list[IntakeEntry]:
    """The newest statements and events of the caller's organisation, newest first (this
    process's pending entries written first), filtered by ``outcome`` and ``source``."""
    await flush(engine)
    rows = await (await scope.session.connection()).execute(
        text(_RECENT),
        {
            "org": scope.organisation_id,
            "source": source,
            "outcome": outcome,
            "limit": min(limit, SHOWN),
        },
    )
    entries = [_entry(row) for row in rows.all()]
    await _name_them(scope, entries)
    return entries


async def detail(scope: OrgScope, engine: Any, log_id: int, index: int) -> IntakeEntryDetail:
    """One statement or event with what was sent (trimmed); 404 when the caller's
    organisation has no such entry (any more: the log keeps only the newest)."""
    missing = NotFoundException(f"intake log entry {log_id}/{index} not found")
    if not (0 <= index < 100_000 and 0 < log_id < 2**63):
        raise missing
    await flush(engine)
    row = (
        await (await scope.session.connection()).execute(
            text(_ONE), {"org": scope.organisation_id, "log_id": log_id, "index": index}
        )
    ).first()
    if row is None or row[-1] is None:
        raise missing
    entry = _entry(row, IntakeEntryDetail)
    assert isinstance(entry, IntakeEntryDetail)
    data = row[-1] if not isinstance(row[-1], str) else json.loads(row[-1])
    sent = data.get("p")
    if sent is None and entry.key and entry.source in KEY_PREFIXES:
        stored = (
            await scope.session.exec(
                select(LearningEvent.payload).where(
                    scope.owns(LearningEvent),
                    LearningEvent.idempotency_key == KEY_PREFIXES[entry.source] + entry.key,
                )
            )
        ).first()
        if stored is not None:
            sent = json.dumps(stored, ensure_ascii=False, default=str)
    if sent:
        entry.payload, entry.payload_trimmed = _readable(sent)
    await _name_them(scope, [entry])
    return entry


def _readable(sent: str) -> tuple[str, bool]:
    """Indented JSON when ``sent`` is whole JSON, else the text; whether it was cut."""
    try:
        text_ = json.dumps(json.loads(sent), ensure_ascii=False, indent=2)
        cut = False
    except ValueError:
        text_, cut = sent, sent.endswith("…")
    if len(text_) > SHOWN_PAYLOAD_CHARS:
        return text_[:SHOWN_PAYLOAD_CHARS] + "…", True
    return text_, cut
