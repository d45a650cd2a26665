"""The push outbox in SQL: claim due nudges, give claims back, record deliveries and outcomes.

The outbox is the ``nudge`` table; ``push_delivery`` holds one row per (nudge, device) a push
service accepted, the key that stops a message from going to a device twice. Each operation
is one raw asyncpg statement (three when devices are gone) on a connection of the app's engine:
no SQL compilation or row processing per batch (SQLAlchemy was ~15 % of a worker's CPU), and
id lists travel as array parameters (``= ANY($1)``, ``unnest``), so each statement is
prepared once per connection (asyncpg's statement cache) whatever the batch size.
"""

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.db.engine import driver_connection
from backend.push.model import Batch, ClaimedNudge, Outcomes
from backend.push.payload import PushMessage
from backend.push.sender import Device

# due rows claimed and returned with their learners' devices and what is already delivered,
# all in one statement (one snapshot): the claim, the device list and the dedupe set agree.
# Every table is reached through an index with an id array (``= ANY(ARRAY(...))``): joined
# directly to a CTE or to an array parameter whose length it knows, the planner hashes the
# whole nudge table per batch while it is small (a few ms on 20,000 rows, every batch).
CLAIM = """
WITH due AS (
    SELECT id FROM nudge
    WHERE status = 'pending' AND due_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1)
    ORDER BY due_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE nudge SET claimed_until = $3
    WHERE id = ANY(ARRAY(SELECT id FROM due))
    RETURNING id, organisation_id, user_id, kind, locale, title, body, url, attempts
), devices AS (
    SELECT id, user_id, endpoint, p256dh, auth FROM push_subscription
    WHERE user_id = ANY(ARRAY(SELECT user_id FROM claimed))
), done AS (
    SELECT d.nudge_id, d.subscription_id
    FROM unnest(ARRAY(SELECT id FROM due)) AS due_id(id)
    JOIN push_delivery AS d ON d.nudge_id = due_id.id
)
SELECT c.id, c.organisation_id, c.user_id, c.kind, c.locale, c.title, c.body, c.url,
       c.attempts, s.id, s.endpoint, s.p256dh, s.auth, d.nudge_id IS NOT NULL
FROM claimed AS c
LEFT JOIN devices AS s ON s.user_id = c.user_id
LEFT JOIN done AS d ON d.nudge_id = c.id AND d.subscription_id = s.id
ORDER BY c.id, s.id
"""

RELEASE = """
UPDATE nudge SET claimed_until = NULL WHERE id = ANY($1::text[]) AND status = 'pending'
"""

# push_delivery rows; a nudge or device deleted meanwhile makes the whole insert fail (the
# foreign keys), which the caller treats as "record these with the batch instead"
INSERT_DELIVERIES = """
INSERT INTO push_delivery (organisation_id, nudge_id, subscription_id, status, delivered_at)
SELECT * FROM unnest($1::int[], $2::text[], $3::int[], $4::int[], $5::timestamptz[])
ON CONFLICT (nudge_id, subscription_id) DO NOTHING
"""

# one batch's outcome in one statement: each nudge's verdict (only while still pending: an
# expired claim may have been finished by another worker), the devices' success/failure
# counters, and the deliveries not recorded early (skipping nudges and devices deleted
# meanwhile), which is the statement itself: the CTEs' writes run to completion whether or
# not anything reads them, so none returns rows. Gone devices are deleted by DELETE_GONE in
# the same transaction.
# The common outcomes (sent; device answered 2xx) are id lists, not rows to join: a join with
# an unnest() is planned, once the plan is generic (cached after five runs), as a nested loop
# over every (row, array element) pair. ``(status = 'pending') IS TRUE`` is no index
# condition: with a plain ``status = 'pending'`` PostgreSQL reads every pending row through
# the status index whenever its statistics think few are pending (a burst of new nudges).
# ``ARRAY(SELECT unnest($n))`` hides an array's length from the planner, which then always
# reaches the rows through the primary key (on a small table it would scan it instead).
RECORD = """
WITH sent AS (
    UPDATE nudge SET status = 'sent', last_error = '', claimed_until = NULL, sent_at = $1
    WHERE id = ANY(ARRAY(SELECT unnest($2::text[]))) AND (status = 'pending') IS TRUE
), verdict AS MATERIALIZED (
    SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::int[], $7::timestamptz[])
        AS v(id, status, error, attempts, due_at)
), judged AS (
    UPDATE nudge AS n
    SET status = v.status, last_error = v.error, attempts = v.attempts, claimed_until = NULL,
        due_at = COALESCE(v.due_at, n.due_at),
        sent_at = CASE v.status WHEN 'sent' THEN $1 WHEN 'pending' THEN n.sent_at END
    FROM verdict AS v
    WHERE n.id = ANY(ARRAY(SELECT unnest($3::text[]))) AND n.id = v.id
      AND (n.status = 'pending') IS TRUE
), succeeded AS (
    -- a device that failed for another nudge of the batch too ($9) starts again at one failure
    UPDATE push_subscription SET last_success_at = $1, failure_count = (id = ANY($9::int[]))::int
    WHERE id = ANY(ARRAY(SELECT unnest($8::int[])))
), failed AS (
    UPDATE push_subscription SET failure_count = failure_count + 1
    WHERE id = ANY(ARRAY(SELECT unnest($9::int[]))) AND id <> ALL($8::int[])
)
INSERT INTO push_delivery (organisation_id, nudge_id, subscription_id, status, delivered_at)
SELECT r.organisation_id, r.nudge_id, r.subscription_id, r.status, $1
FROM unnest($10::int[], $11::text[], $12::int[], $13::int[])
    AS r(organisation_id, nudge_id, subscription_id, status)
WHERE r.nudge_id = ANY(
      ARRAY(SELECT id FROM nudge WHERE id = ANY(ARRAY(SELECT unnest($11::text[]))))
  )
  AND r.subscription_id = ANY(
      ARRAY(SELECT id FROM push_subscription WHERE id = ANY(ARRAY(SELECT unnest($12::int[]))))
  )
ORDER BY r.subscription_id, r.nudge_id
ON CONFLICT (nudge_id, subscription_id) DO NOTHING
"""

LOCK_GONE = "SELECT id FROM push_subscription WHERE id = ANY($1::int[]) ORDER BY id FOR UPDATE"
DELETE_GONE = "DELETE FROM push_subscription WHERE id = ANY($1::int[])"

# a concurrent deletion (foreign key), a deadlock between workers updating the same devices
TRANSIENT = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.ForeignKeyViolationError,
)


# a delivery as DeliveryLog keeps it: organisation id, nudge id, subscription id, status, time
DeliveryRow = tuple[int, str, int, int, datetime]


async def claim(engine: AsyncEngine, now: datetime, *, limit: int, lease_seconds: float) -> Batch:
    """Claim up to ``limit`` due nudges for ``lease_seconds`` (:data:`CLAIM`)."""
    async with driver_connection(engine) as conn:
        rows = await conn.fetch(CLAIM, now, limit, now + timedelta(seconds=lease_seconds))
    return _batch_of(rows)


def _batch_of(rows: Iterable[asyncpg.Record]) -> Batch:
    """A batch from :data:`CLAIM` rows: one per (nudge, device or none), in nudge id order."""
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
    """Give up claims (stopped before sending): other workers may take them at once."""
    if nudge_ids:
        async with driver_connection(engine) as conn:
            await conn.execute(RELEASE, list(nudge_ids))


async def insert_deliveries(engine: AsyncEngine, rows: Sequence[DeliveryRow]) -> None:
    """``push_delivery`` rows (duplicates ignored), in one lock order so inserts cannot deadlock."""
    rows = sorted(rows, key=lambda r: (r[2], r[1]))  # the order RECORD inserts in
    async with driver_connection(engine) as conn:
        await conn.execute(INSERT_DELIVERIES, *zip(*rows, strict=True))


async def record(
    engine: AsyncEngine,
    batch: Batch,
    out: Outcomes,
    now: datetime,
    written_early: set[tuple[str, int]],
) -> None:
    """Write one batch's outcomes in one transaction (:data:`RECORD`), retried on a deadlock.

    ``written_early``: (nudge id, subscription id) pairs the delivery log has written.
    """
    attempts = {n.message.nudge_id: n.attempts for n in batch.nudges}
    # the common outcome, a nudge sent at the first go, as a plain id list (see RECORD)
    sent: list[str] = []
    # the others: ids, statuses, errors, attempts, due times (None: unchanged)
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
    # devices that answered 2xx, devices that failed (for different nudges, a device may do both)
    succeeded = sorted({d.subscription_id for _, d, _ in out.delivered} - out.gone)
    failed = sorted(out.failed_devices - out.gone)
    deliveries: tuple[list[Any], ...] = ([], [], [], [])  # organisations, nudges, devices, statuses
    for nudge, device, status in out.delivered:
        if (nudge.message.nudge_id, device.subscription_id) not in written_early:
            deliveries[0].append(nudge.organisation_id)
            deliveries[1].append(nudge.message.nudge_id)
            deliveries[2].append(device.subscription_id)
            deliveries[3].append(status)
    args = (now, sent, *verdicts, succeeded, failed, *deliveries)
    gone = sorted(out.gone)
    for attempt in range(5):
        try:
            async with driver_connection(engine) as conn:
                await _write_record(conn, args, gone)
            return
        except TRANSIENT:
            if attempt == 4:
                raise
        await asyncio.sleep(0.05 * (attempt + 1))


async def _write_record(conn: asyncpg.Connection, args: Sequence[Any], gone: list[int]) -> None:
    """:data:`RECORD` alone (one statement, one transaction), or with the gone devices."""
    if not gone:
        await conn.execute(RECORD, *args)
        return
    async with conn.transaction():
        # in id order, before anything else, so workers removing devices cannot deadlock
        await conn.execute(LOCK_GONE, gone)
        await conn.execute(RECORD, *args)
        await conn.execute(DELETE_GONE, gone)
