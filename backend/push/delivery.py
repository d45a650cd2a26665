"""Claim due outbox rows, send each to every device of its learner, record what happened.

The outbox is the ``nudge`` table. A batch goes through three steps:

1. **claim** (one transaction): due ``pending`` rows whose claim is free or expired get
   ``claimed_until = now + lease`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number
   of workers take disjoint rows; SQLite's write lock serialises the claim). The learners'
   devices and the deliveries already recorded for these nudges are read in the same go.
2. **send** concurrently, skipping every (nudge, device) pair that ``push_delivery`` already
   holds: that unique pair is the dedupe key, checked before any retry. Each success is
   written to ``push_delivery`` within milliseconds (:class:`DeliveryLog`), not at batch end.
3. **record** (one transaction): a ``push_delivery`` row per success, devices gone (404/410)
   removed, device success/failure counters, and each nudge ``sent`` / ``skipped`` / ``dead``
   or back to ``pending`` with a later ``due_at`` (429: Retry-After; 5xx/timeout: exponential
   backoff with jitter, ``dead`` with the reason after ``max_attempts``).

A worker that dies between 1 and 3 loses nothing: its claim expires and another worker
sends again. Messages it had already handed to a push service but not yet recorded are the
only ones that can reach a device twice; their Topic header (the push service keeps only the
newest undelivered message of a topic) and the notification tag (the device replaces a shown
notification of the same tag) keep that invisible. The window is a response's way through
the event loop plus the early record's commit: killing one of two busy workers re-sends
50-130 of 6,000 messages (tests/push/test_workers_postgres.py).
"""

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import (
    Column,
    ColumnElement,
    Table,
    any_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from backend.db.models import Nudge, PushDelivery, PushSubscription
from backend.push import postgres_outbox
from backend.push.payload import PushMessage, payload_json
from backend.push.sender import Device, Outcome, PushSender, SendJob, SendLanes, SendResult

log = logging.getLogger("learnloop.push")

NUDGE: Table = Nudge.__table__  # type: ignore[attr-defined]
DELIVERY: Table = PushDelivery.__table__  # type: ignore[attr-defined]
SUBSCRIPTION: Table = PushSubscription.__table__  # type: ignore[attr-defined]

BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0


def _among(column: "Column[Any]", values: Iterable[Any], dialect: str) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY($1)`` with one array parameter.

    An IN list renders one bind parameter per value, so every batch size is a new statement
    to compile and for the server to prepare; the array form is one prepared statement.
    """
    values = list(values)
    if dialect == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def backoff_seconds(attempt: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with equal jitter: 30 s, 60 s, 120 s ... at most an hour."""
    delay: float = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** max(0, attempt - 1))
    jitter = (rng or random.Random()).uniform(0.0, delay / 2)
    return delay / 2 + jitter


@dataclass(frozen=True, slots=True)
class ClaimedNudge:
    message: PushMessage
    organisation_id: int
    user_id: int
    attempts: int


@dataclass
class Batch:
    nudges: list[ClaimedNudge]
    devices: dict[int, list[Device]]  # by user id
    delivered: set[tuple[str, int]]  # (nudge id, subscription id) already recorded


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0  # messages the push services accepted
    nudges_sent: int = 0
    skipped: int = 0
    retried: int = 0
    dead: int = 0
    gone: int = 0  # devices removed

    def add(self, other: "DeliveryReport") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Verdict:
    status: str = "pending"
    due_at: datetime | None = None
    error: str = ""
    attempts: int = 0


@dataclass
class _Outcomes:
    delivered: list[tuple[ClaimedNudge, Device, int]] = field(default_factory=list)
    gone: set[int] = field(default_factory=set)
    failed_devices: set[int] = field(default_factory=set)
    verdicts: dict[str, _Verdict] = field(default_factory=dict)


def _on_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


async def claim(engine: AsyncEngine, now: datetime, *, limit: int, lease_seconds: float) -> Batch:
    """Claim up to ``limit`` due nudges for ``lease_seconds`` (see the module docstring)."""
    if _on_postgres(engine):
        return _batch_of(
            await postgres_outbox.claim(engine, now, limit, now + timedelta(seconds=lease_seconds))
        )
    due = (
        select(NUDGE.c.id)
        .where(
            NUDGE.c.status == "pending",
            NUDGE.c.due_at <= now,
            or_(NUDGE.c.claimed_until.is_(None), NUDGE.c.claimed_until < now),
        )
        .order_by(NUDGE.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claim_rows = (
        update(NUDGE)
        .where(NUDGE.c.id.in_(due.scalar_subquery()))
        .values(claimed_until=now + timedelta(seconds=lease_seconds))
        .returning(
            NUDGE.c.id,
            NUDGE.c.organisation_id,
            NUDGE.c.user_id,
            NUDGE.c.kind,
            NUDGE.c.locale,
            NUDGE.c.title,
            NUDGE.c.body,
            NUDGE.c.url,
            NUDGE.c.attempts,
        )
    )
    async with engine.begin() as conn:
        rows = (await conn.execute(claim_rows)).all()
        if not rows:
            return Batch([], {}, set())
        nudges = [
            ClaimedNudge(
                PushMessage(r.id, r.kind, r.locale, r.title, r.body, r.url),
                r.organisation_id,
                r.user_id,
                r.attempts,
            )
            for r in rows
        ]
        user_ids = sorted({n.user_id for n in nudges})
        devices: dict[int, list[Device]] = defaultdict(list)
        for user_id, *device in (
            await conn.execute(
                select(
                    SUBSCRIPTION.c.user_id,
                    SUBSCRIPTION.c.id,
                    SUBSCRIPTION.c.endpoint,
                    SUBSCRIPTION.c.p256dh,
                    SUBSCRIPTION.c.auth,
                )
                .where(_among(SUBSCRIPTION.c.user_id, user_ids, conn.dialect.name))
                .order_by(SUBSCRIPTION.c.id)
            )
        ).all():
            devices[user_id].append(Device(*device))
        nudge_ids = [n.message.nudge_id for n in nudges]
        delivered = {
            (nudge_id, subscription_id)
            for nudge_id, subscription_id in (
                await conn.execute(
                    select(DELIVERY.c.nudge_id, DELIVERY.c.subscription_id).where(
                        _among(DELIVERY.c.nudge_id, nudge_ids, conn.dialect.name)
                    )
                )
            ).all()
        }
    return Batch(nudges, dict(devices), delivered)


def _batch_of(rows: Sequence[Any]) -> Batch:
    """A batch from :data:`postgres_outbox.CLAIM` rows: one per (nudge, device or none)."""
    nudges: list[ClaimedNudge] = []
    devices: dict[int, list[Device]] = {}
    delivered: set[tuple[str, int]] = set()
    seen: set[int] = set()  # a learner's devices come once per nudge of theirs in the batch
    last = None
    for nid, org, user, kind, locale, title, body, url, attempts, sid, *keys, done in rows:
        if nid != last:
            last = nid
            nudges.append(
                ClaimedNudge(PushMessage(nid, kind, locale, title, body, url), org, user, attempts)
            )
        if sid is None:
            continue
        if sid not in seen:
            seen.add(sid)
            devices.setdefault(user, []).append(Device(sid, *keys))
        if done:
            delivered.add((nid, sid))
    return Batch(nudges, devices, delivered)


async def release(engine: AsyncEngine, nudge_ids: Sequence[str]) -> None:
    """Give up claims (graceful stop before sending): other workers may take them at once."""
    if not nudge_ids:
        return
    if _on_postgres(engine):
        await postgres_outbox.release(engine, nudge_ids)
        return
    async with engine.begin() as conn:
        await conn.execute(
            update(NUDGE)
            .where(_among(NUDGE.c.id, nudge_ids, conn.dialect.name), NUDGE.c.status == "pending")
            .values(claimed_until=None)
        )


_DELIVERY_COLUMNS = ("organisation_id", "nudge_id", "subscription_id", "status", "delivered_at")


class DeliveryLog:
    """Writes ``push_delivery`` rows within ``interval`` seconds of the push service's 2xx.

    The batch's final :func:`record` writes them too (duplicates ignored); recording early
    shrinks the window in which a worker that dies has sent a message it has not recorded
    (which another worker would then send again) from a whole batch to ``interval``.
    """

    def __init__(self, engine: AsyncEngine, interval: float = 0.05) -> None:
        self.engine = engine
        self.interval = interval
        # (organisation id, nudge id, subscription id, status, delivered at)
        self._rows: list[tuple[int, str, int, int, datetime]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # recorded early and committed; dropped once their batch's record is written
        self.recorded: set[tuple[str, int]] = set()

    def forget(self, batch: Batch) -> None:
        ids = {n.message.nudge_id for n in batch.nudges}
        self.recorded = {key for key in self.recorded if key[0] not in ids}

    def add(self, nudge: ClaimedNudge, device: Device, status: int) -> None:
        self._rows.append(
            (
                nudge.organisation_id,
                nudge.message.nudge_id,
                device.subscription_id,
                status,
                datetime.now(UTC),
            )
        )
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="push-delivery-log")

    async def _run(self) -> None:
        while not self._closing or self._rows:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.interval)  # gather what completes meanwhile
            await self.flush()

    async def flush(self) -> None:
        rows, self._rows = self._rows, []
        if not rows:
            return
        rows.sort(key=lambda r: (r[2], r[1]))  # one lock order
        try:
            if _on_postgres(self.engine):
                await postgres_outbox.insert_deliveries(self.engine, list(zip(*rows, strict=True)))
            else:
                async with self.engine.begin() as conn:
                    await conn.execute(
                        _insert_ignoring_duplicates(conn),
                        [dict(zip(_DELIVERY_COLUMNS, row, strict=True)) for row in rows],
                    )
            self.recorded.update((r[1], r[2]) for r in rows)
        except (DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            # a device or nudge deleted meanwhile, a deadlock, a lost connection: the final
            # record sorts it out
            log.debug("early delivery record failed (%s); recorded with the batch", exc)

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()


async def send_batch(
    lanes: SendLanes,
    batch: Batch,
    delivery_log: DeliveryLog | None = None,
) -> list[tuple[ClaimedNudge, Device, SendResult]]:
    """Send every (nudge, device) pair of the batch not delivered before, on ``lanes``."""
    pairs: list[tuple[ClaimedNudge, Device]] = []
    jobs: list[SendJob] = []
    for nudge in batch.nudges:
        payload = payload_json(nudge.message)
        for device in batch.devices.get(nudge.user_id, []):
            if (nudge.message.nudge_id, device.subscription_id) in batch.delivered:
                continue  # the dedupe key: this device has it already
            pairs.append((nudge, device))
            jobs.append((device, nudge.message.kind, payload))

    def delivered(index: int, result: SendResult) -> None:
        if delivery_log is not None and result.outcome is Outcome.DELIVERED:
            nudge, device = pairs[index]
            delivery_log.add(nudge, device, result.status)

    results = await lanes.send_all(jobs, delivered)
    return [(n, d, r) for (n, d), r in zip(pairs, results, strict=True)]


def judge(
    batch: Batch,
    results: Iterable[tuple[ClaimedNudge, Device, SendResult]],
    now: datetime,
    *,
    max_attempts: int,
    rng: random.Random | None = None,
) -> _Outcomes:
    """Decide each nudge's next state from its devices' answers (pure: no I/O)."""
    out = _Outcomes()
    by_nudge: dict[str, list[tuple[Device, SendResult]]] = defaultdict(list)
    for nudge, device, result in results:
        by_nudge[nudge.message.nudge_id].append((device, result))
        if result.outcome is Outcome.DELIVERED:
            out.delivered.append((nudge, device, result.status))
        elif result.outcome is Outcome.GONE:
            out.gone.add(device.subscription_id)
        else:
            out.failed_devices.add(device.subscription_id)
    for nudge in batch.nudges:
        nid = nudge.message.nudge_id
        answers = by_nudge.get(nid, [])
        devices = batch.devices.get(nudge.user_id, [])
        ever_delivered = any((nid, d.subscription_id) in batch.delivered for d in devices) or any(
            r.outcome is Outcome.DELIVERED for _, r in answers
        )
        limited = [r for _, r in answers if r.outcome is Outcome.RATE_LIMITED]
        retry = [r for _, r in answers if r.outcome is Outcome.RETRY]
        rejected = [r for _, r in answers if r.outcome is Outcome.REJECTED]
        verdict = _Verdict(attempts=nudge.attempts)
        if not devices:
            verdict.status, verdict.error = "skipped", "no device subscribed to push"
        elif limited or retry:
            attempts = nudge.attempts + (1 if retry else 0)  # waiting out a 429 is no failure
            reason = (retry or limited)[-1].error
            if retry and attempts >= max_attempts:
                verdict.status = "sent" if ever_delivered else "dead"
                verdict.error = f"gave up after {attempts} attempts: {reason}"
            else:
                wait = max(
                    [r.retry_after for r in limited]
                    + ([backoff_seconds(attempts, rng)] if retry else [0.0])
                )
                verdict.due_at = now + timedelta(seconds=wait)
                verdict.error = reason
            verdict.attempts = attempts
        elif ever_delivered:
            verdict.status = "sent"
            if rejected:
                verdict.error = rejected[-1].error
        elif rejected:
            verdict.status, verdict.error = "dead", rejected[-1].error
        else:  # every device answered 404/410
            verdict.status, verdict.error = "skipped", "every device had unsubscribed"
        out.verdicts[nid] = verdict
    return out


def _insert_ignoring_duplicates(conn: AsyncConnection) -> Any:
    if conn.dialect.name == "postgresql":
        return pg_insert(DELIVERY).on_conflict_do_nothing(
            index_elements=["nudge_id", "subscription_id"]
        )
    if conn.dialect.name == "sqlite":
        return sqlite_insert(DELIVERY).on_conflict_do_nothing()
    return insert(DELIVERY)


async def record(
    engine: AsyncEngine,
    batch: Batch,
    out: _Outcomes,
    now: datetime,
    delivery_log: "DeliveryLog | None" = None,
) -> None:
    """Write the outcomes of one batch in one transaction (retried on a deadlock)."""
    for attempt in range(5):
        already = delivery_log.recorded if delivery_log is not None else set()
        try:
            if _on_postgres(engine):
                await _record_postgres(engine, batch, out, now, already)
            else:
                async with engine.begin() as conn:
                    await _record(conn, batch, out, now, already)
            if delivery_log is not None:
                delivery_log.forget(batch)
            return
        except postgres_outbox.TRANSIENT:
            if attempt == 4:
                raise
        except DBAPIError as exc:
            if attempt == 4 or not _is_transient(exc):
                raise
        await asyncio.sleep(0.05 * (attempt + 1))


async def _record_postgres(
    engine: AsyncEngine,
    batch: Batch,
    out: _Outcomes,
    now: datetime,
    already_recorded: set[tuple[str, int]],
) -> None:
    """:func:`_record` as id lists and column arrays for :data:`postgres_outbox.RECORD`."""
    attempts = {n.message.nudge_id: n.attempts for n in batch.nudges}
    sent: list[str] = []
    verdicts: tuple[list[Any], ...] = ([], [], [], [], [])
    for nid, verdict in out.verdicts.items():
        if verdict.status == "sent" and not verdict.error and verdict.attempts == attempts[nid]:
            sent.append(nid)
            continue
        verdicts[0].append(nid)
        verdicts[1].append(verdict.status)
        verdicts[2].append(verdict.error[:500])
        verdicts[3].append(verdict.attempts)
        verdicts[4].append(verdict.due_at if verdict.status == "pending" else None)
    succeeded = {d.subscription_id for _, d, _ in out.delivered} - out.gone
    failed = out.failed_devices - out.gone
    devices = (sorted(succeeded - failed), sorted(failed - succeeded), sorted(succeeded & failed))
    deliveries: tuple[list[Any], ...] = ([], [], [], [])
    for nudge, device, status in out.delivered:
        if (nudge.message.nudge_id, device.subscription_id) not in already_recorded:
            deliveries[0].append(nudge.organisation_id)
            deliveries[1].append(nudge.message.nudge_id)
            deliveries[2].append(device.subscription_id)
            deliveries[3].append(status)
    await postgres_outbox.record(engine, now, sent, verdicts, devices, deliveries, sorted(out.gone))


def _is_transient(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return "deadlock" in text or "could not serialize" in text or "database is locked" in text


async def _record(
    conn: AsyncConnection,
    batch: Batch,
    out: _Outcomes,
    now: datetime,
    already_recorded: set[tuple[str, int]],
) -> None:
    nudge_ids = [n.message.nudge_id for n in batch.nudges]
    dialect = conn.dialect.name
    # nudges and devices may have been deleted meanwhile (account or device removed): lock
    # the ones still there, devices in id order so concurrent workers cannot deadlock
    alive_nudges = set(
        (
            await conn.execute(
                select(NUDGE.c.id)
                .where(_among(NUDGE.c.id, nudge_ids, dialect))
                .order_by(NUDGE.c.id)
                .with_for_update(key_share=True)
            )
        ).scalars()
    )
    touched = sorted(
        {d.subscription_id for _, d, _ in out.delivered} | out.gone | out.failed_devices
    )
    alive_devices: set[int] = set()
    if touched:
        alive_devices = set(
            (
                await conn.execute(
                    select(SUBSCRIPTION.c.id)
                    .where(_among(SUBSCRIPTION.c.id, touched, dialect))
                    .order_by(SUBSCRIPTION.c.id)
                    .with_for_update(key_share=not out.gone)
                )
            ).scalars()
        )
    deliveries = [
        {
            "organisation_id": n.organisation_id,
            "nudge_id": n.message.nudge_id,
            "subscription_id": d.subscription_id,
            "status": status,
            "delivered_at": now,
        }
        for n, d, status in out.delivered
        if n.message.nudge_id in alive_nudges
        and d.subscription_id in alive_devices
        and (n.message.nudge_id, d.subscription_id) not in already_recorded
    ]
    if deliveries:
        # the same order as DeliveryLog.flush: inserts racing on a key cannot deadlock
        deliveries.sort(key=lambda r: (r["subscription_id"], r["nudge_id"]))
        await conn.execute(_insert_ignoring_duplicates(conn), deliveries)
    ok = sorted({d.subscription_id for _, d, _ in out.delivered} & alive_devices)
    if ok:
        await conn.execute(
            update(SUBSCRIPTION)
            .where(_among(SUBSCRIPTION.c.id, ok, dialect))
            .values(last_success_at=now, failure_count=0)
        )
    failed = sorted((out.failed_devices & alive_devices) - out.gone)
    if failed:
        await conn.execute(
            update(SUBSCRIPTION)
            .where(_among(SUBSCRIPTION.c.id, failed, dialect))
            .values(failure_count=SUBSCRIPTION.c.failure_count + 1)
        )
    if out.gone:
        await conn.execute(
            delete(SUBSCRIPTION).where(_among(SUBSCRIPTION.c.id, sorted(out.gone), dialect))
        )
    final: dict[tuple[str, str, int], list[str]] = defaultdict(list)
    retries: list[dict[str, Any]] = []
    for nid, verdict in out.verdicts.items():
        if nid not in alive_nudges:
            continue
        if verdict.status == "pending":
            retries.append(
                {
                    "nid": nid,
                    "due": verdict.due_at,
                    "err": verdict.error[:500],
                    "att": verdict.attempts,
                }
            )
        else:
            final[(verdict.status, verdict.error[:500], verdict.attempts)].append(nid)
    for (status, error, attempts), ids in final.items():
        # only while still pending: a claim that expired may have been finished by another worker
        await conn.execute(
            update(NUDGE)
            .where(_among(NUDGE.c.id, ids, dialect), NUDGE.c.status == "pending")
            .values(
                status=status,
                last_error=error,
                attempts=attempts,
                claimed_until=None,
                sent_at=now if status == "sent" else None,
            )
        )
    if retries:
        await conn.execute(
            update(NUDGE)
            .where(NUDGE.c.id == bindparam("nid"), NUDGE.c.status == "pending")
            .values(
                due_at=bindparam("due"),
                last_error=bindparam("err"),
                attempts=bindparam("att"),
                claimed_until=None,
            ),
            retries,
        )


def tally(batch: Batch, out: _Outcomes) -> DeliveryReport:
    statuses = [v.status for v in out.verdicts.values()]
    return DeliveryReport(
        claimed=len(batch.nudges),
        sent=len(out.delivered),
        nudges_sent=statuses.count("sent"),
        skipped=statuses.count("skipped"),
        retried=statuses.count("pending"),
        dead=statuses.count("dead"),
        gone=len(out.gone),
    )


async def deliver_due(
    engine: AsyncEngine,
    sender: PushSender,
    now: datetime,
    *,
    limit: int = 100,
    lease_seconds: float = 120.0,
    max_attempts: int = 5,
    concurrency: int = 64,
) -> DeliveryReport:
    """One batch: claim due nudges, send them (``concurrency`` at a time), record the outcomes."""
    batch = await claim(engine, now, limit=limit, lease_seconds=lease_seconds)
    if not batch.nudges:
        return DeliveryReport()
    delivery_log = DeliveryLog(engine)
    try:
        async with SendLanes(sender, concurrency) as lanes:
            results = await send_batch(lanes, batch, delivery_log)
    finally:
        await asyncio.shield(delivery_log.close())
    outcomes = judge(batch, results, now, max_attempts=max_attempts)
    await record(engine, batch, outcomes, now, delivery_log)
    return tally(batch, outcomes)
