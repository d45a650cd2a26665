"""The outbox statements on PostgreSQL: raw asyncpg, one statement per claim and per record.

The SQLAlchemy statements in :mod:`backend.push.delivery` serve SQLite (and any other
database); on PostgreSQL these do the same work in fewer round trips and without SQL
compilation or row processing per batch (SQLAlchemy was ~15 % of a worker's CPU). Id lists
travel as array parameters (``= ANY($1)``, ``unnest``), so each statement is prepared once
per connection (asyncpg's statement cache) whatever the batch size.
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

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
# meanwhile). Gone devices are deleted by DELETE_GONE in the same transaction.
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
    RETURNING 1
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
    RETURNING 1
), succeeded AS (
    UPDATE push_subscription SET last_success_at = $1, failure_count = 0
    WHERE id = ANY(ARRAY(SELECT unnest($8::int[])))
    RETURNING 1
), failed AS (
    UPDATE push_subscription SET failure_count = failure_count + 1
    WHERE id = ANY(ARRAY(SELECT unnest($9::int[])))
    RETURNING 1
), both_ AS (
    UPDATE push_subscription SET last_success_at = $1, failure_count = 1
    WHERE id = ANY(ARRAY(SELECT unnest($10::int[])))
    RETURNING 1
), deliveries AS (
    INSERT INTO push_delivery (organisation_id, nudge_id, subscription_id, status, delivered_at)
    SELECT r.organisation_id, r.nudge_id, r.subscription_id, r.status, $1
    FROM unnest($11::int[], $12::text[], $13::int[], $14::int[])
        AS r(organisation_id, nudge_id, subscription_id, status)
    WHERE r.nudge_id = ANY(
          ARRAY(SELECT id FROM nudge WHERE id = ANY(ARRAY(SELECT unnest($12::text[]))))
      )
      AND r.subscription_id = ANY(
          ARRAY(
              SELECT id FROM push_subscription WHERE id = ANY(ARRAY(SELECT unnest($13::int[])))
          )
      )
    ORDER BY r.subscription_id, r.nudge_id
    ON CONFLICT (nudge_id, subscription_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM sent) + (SELECT count(*) FROM judged),
       (SELECT count(*) FROM succeeded) + (SELECT count(*) FROM failed)
           + (SELECT count(*) FROM both_),
       (SELECT count(*) FROM deliveries)
"""

LOCK_GONE = "SELECT id FROM push_subscription WHERE id = ANY($1::int[]) ORDER BY id FOR UPDATE"
DELETE_GONE = "DELETE FROM push_subscription WHERE id = ANY($1::int[])"

# a concurrent deletion (foreign key), a deadlock between workers updating the same devices
TRANSIENT = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.ForeignKeyViolationError,
)


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """The asyncpg connection under one of the engine's pooled connections.

    SQLAlchemy never sees what is done on it, so a connection the server or the network
    dropped is taken out of the pool here (SQLAlchemy would do so for its own statements).
    """
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection
        try:
            yield driver
        finally:
            if driver.is_closed():
                await conn.invalidate()


async def claim(
    engine: AsyncEngine, now: datetime, limit: int, claimed_until: datetime
) -> list[asyncpg.Record]:
    async with driver_connection(engine) as conn:
        rows: list[asyncpg.Record] = await conn.fetch(CLAIM, now, limit, claimed_until)
        return rows


async def release(engine: AsyncEngine, nudge_ids: Sequence[str]) -> None:
    async with driver_connection(engine) as conn:
        await conn.execute(RELEASE, list(nudge_ids))


async def insert_deliveries(engine: AsyncEngine, columns: Sequence[Sequence[Any]]) -> None:
    """``columns``: organisation ids, nudge ids, subscription ids, statuses, times."""
    async with driver_connection(engine) as conn:
        await conn.execute(INSERT_DELIVERIES, *columns)


async def record(
    engine: AsyncEngine,
    now: datetime,
    sent: Sequence[str],
    verdicts: Sequence[Sequence[Any]],
    devices: Sequence[Sequence[int]],
    deliveries: Sequence[Sequence[Any]],
    gone: Sequence[int],
) -> None:
    """One batch's outcome (:data:`RECORD`, and :data:`DELETE_GONE` when devices are gone).

    ``sent``: nudges sent with nothing else to change; ``verdicts``: the other nudges as ids,
    statuses, errors, attempts, due times (None: unchanged); ``devices``: ids that succeeded,
    that failed, that did both; ``deliveries``: organisation ids, nudge ids, subscription
    ids, statuses; ``gone``: devices to delete.
    """
    args = (now, sent, *verdicts, *devices, *deliveries)
    async with driver_connection(engine) as conn:
        if not gone:
            await conn.fetchrow(RECORD, *args)
            return
        async with conn.transaction():
            # in id order, before anything else, so workers removing devices cannot deadlock
            await conn.execute(LOCK_GONE, list(gone))
            await conn.fetchrow(RECORD, *args)
            await conn.execute(DELETE_GONE, list(gone))
