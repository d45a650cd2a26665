"""The nudge tick's SQL, on the raw asyncpg connection: what it reads and what it writes.

A batch costs two statements: :data:`BATCH_SQL` picks the due learners (``FOR UPDATE SKIP
LOCKED`` through the ``next_nudge_at`` index) and returns, per learner, everything the
policy needs as arrays (recent learning, nudges of the last days, badges, kudos, teams, this
month's budget key) and, for a learner whose state changed lately, the XP recorded since
(did it take them to their level?), so Python never groups rows; :data:`WRITE_SQL` inserts
the outbox rows, stores every ``next_nudge_at`` and records learning after sent nudges in
one statement. Rare inputs (testimonial asks, long-lived dedupe keys, the budget spend of
learners who may get a budget reminder) are one more query each, only when a batch has any;
organisations and their variant statistics are read once per tick
(:mod:`backend.nudges.scheduler`).
"""

import json
import secrets
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import func
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from backend.db.engine import driver_connection
from backend.db.models import LearnerState
from backend.nudges.happenings import EVENT_DAYS, budget_keys_around
from backend.nudges.policy_input import ACTIVITY_DAYS, HISTORY_DAYS
from gamification.nudge_policy import PlannedNudge

# every lateral is one index range scan per learner; the arrays of one lateral come from the
# same rows in the same order, so they line up
BATCH_SQL = """
WITH due AS (
    SELECT s.user_id, s.organisation_id, s.current_streak, s.freezes_banked,
           s.last_active_date, s.weekly_goal_minutes, s.level, s.xp_total, s.longest_streak,
           s.updated_at
    FROM learner_state s
    WHERE s.next_nudge_at <= $1
    ORDER BY s.next_nudge_at
    LIMIT $2
    FOR UPDATE OF s SKIP LOCKED
)
SELECT d.user_id, d.organisation_id, d.current_streak, d.freezes_banked, d.last_active_date,
       d.weekly_goal_minutes,
       u.timezone, u.locale, u.reminder_time, u.quiet_hours_start, u.quiet_hours_end,
       u.nudge_kinds_off::text, u.start_date, coalesce(u.is_active, false),
       ev.at, ev.day, ev.minutes, ev.kind, ev.course,
       nh.kind, nh.key, nh.due, nh.unlearned, nh.sent,
       bd.code, bd.tier, bd.at, bd.name, bd.name_en,
       kd.id, kd.at, kd.name,
       ARRAY(SELECT m.team_id FROM team_membership m WHERE m.user_id = d.user_id),
       ARRAY(SELECT n.dedupe_key FROM nudge n
             WHERE n.user_id = d.user_id AND n.dedupe_key = ANY($6::text[])),
       d.level, d.xp_total, d.longest_streak, d.updated_at,
       CASE WHEN d.level > 1 AND d.updated_at >= $5 THEN
           (SELECT coalesce(sum(x.amount), 0) FROM xp_ledger x
            WHERE x.user_id = d.user_id AND x.local_date >= $7 AND x.created_at >= $5)
       END
FROM due d
LEFT JOIN user_account u ON u.id = d.user_id
LEFT JOIN LATERAL (
    SELECT array_agg(e.occurred_at) AS at, array_agg(e.local_date) AS day,
           array_agg(e.minutes) AS minutes, array_agg(e.kind) AS kind,
           array_agg(e.course_id) AS course
    FROM (SELECT e.occurred_at, e.local_date, e.minutes, e.kind, e.course_id
          FROM learning_event e
          WHERE e.user_id = d.user_id AND e.occurred_at >= $3 AND e.occurred_at <= $1
            AND e.kind <> 'testimonial' AND NOT e.voided
          ORDER BY e.occurred_at) e
) ev ON true
LEFT JOIN LATERAL (
    SELECT array_agg(n.kind) AS kind, array_agg(n.dedupe_key) AS key, array_agg(n.due_at) AS due,
           array_agg(n.id) FILTER (WHERE n.sent_at IS NOT NULL AND n.learned_at IS NULL)
               AS unlearned,
           array_agg(n.sent_at) FILTER (WHERE n.sent_at IS NOT NULL AND n.learned_at IS NULL)
               AS sent
    FROM nudge n
    WHERE n.user_id = d.user_id AND n.created_at >= $4 AND n.dedupe_key NOT LIKE 'preview:%'
) nh ON true
LEFT JOIN LATERAL (
    SELECT array_agg(a.badge_code) AS code, array_agg(a.tier) AS tier,
           array_agg(a.awarded_at) AS at, array_agg(b.name) AS name,
           array_agg(b.name_en) AS name_en
    FROM badge_award a
    LEFT JOIN badge_definition b
           ON b.organisation_id = a.organisation_id AND b.code = a.badge_code
    WHERE a.user_id = d.user_id AND a.awarded_at >= $5
) bd ON true
LEFT JOIN LATERAL (
    SELECT array_agg(k.id) AS id, array_agg(k.created_at) AS at,
           array_agg(f.display_name) AS name
    FROM kudos k
    JOIN user_account f ON f.id = k.from_user_id
    WHERE k.to_user_id = d.user_id AND k.created_at >= $5
) kd ON true
"""

# the outbox rows, every next_nudge_at and the learning after sent nudges, in one statement;
# the tick's commit need not wait for its WAL flush: a push worker that sees one of these
# nudges commits its claim later in the WAL, and that commit flushes this one with it
WRITE_SQL = """
WITH created AS (
    INSERT INTO nudge (id, organisation_id, user_id, kind, variant, dedupe_key, locale, title,
                       body, url, due_at, status, attempts, last_error, created_at)
    SELECT v.*, 'pending', 0, '', $12
    FROM unnest($1::varchar[], $2::int[], $3::int[], $4::varchar[], $5::varchar[],
                $6::varchar[], $7::varchar[], $8::varchar[], $9::varchar[], $10::varchar[],
                $11::timestamptz[]) AS v
    ON CONFLICT (user_id, dedupe_key) DO NOTHING
    RETURNING 1
), moved AS (
    UPDATE learner_state s SET next_nudge_at = v.at
    FROM unnest($13::int[], $14::timestamptz[]) AS v(user_id, at)
    WHERE s.user_id = v.user_id
), learned AS (
    UPDATE nudge n SET learned_at = v.at
    FROM unnest($15::varchar[], $16::timestamptz[]) AS v(id, at)
    WHERE n.id = v.id AND n.learned_at IS NULL
)
SELECT (SELECT count(*) FROM created), set_config('synchronous_commit', 'off', true)
"""

ORGANISATIONS_SQL = """
SELECT o.id, o.name, o.default_timezone, o.settings::text
FROM organisation o WHERE o.id = ANY($1::int[])
"""

# every timezone's today is within a day of UTC's: $2 and $3 are UTC's today -1 and +1
CHALLENGES_SQL = """
SELECT c.id, c.organisation_id, c.kind, c.team_id, c.title, c.starts_on, c.ends_on,
       c.created_at, c.progress, c.pledge, c.completed_at, u.display_name
FROM challenge c
LEFT JOIN user_account u ON u.id = c.sponsor_id
WHERE c.organisation_id = ANY($1::int[]) AND c.ends_on >= $2 AND c.starts_on <= $3
ORDER BY c.id
"""

NEW_COURSES_SQL = """
SELECT k.id, k.organisation_id, k.title, k.created_at
FROM course k
WHERE k.organisation_id = ANY($1::int[]) AND k.hot_skill AND k.created_at >= $2
  AND k.archived_at IS NULL
ORDER BY k.id
"""

# a preview L&D sent to themself (PREVIEW_PREFIX) measures nothing
VARIANT_STATS_SQL = """
SELECT n.organisation_id, n.kind, n.variant, count(n.sent_at), count(n.learned_at)
FROM nudge n
WHERE n.organisation_id = ANY($1::int[]) AND n.created_at >= $2
  AND n.dedupe_key NOT LIKE 'preview:%'
GROUP BY n.organisation_id, n.kind, n.variant
"""

TEXT_VARIANTS_SQL = """
SELECT t.organisation_id, t.kind, t.variant, t.locale, t.title, t.body, t.retired_at IS NOT NULL
FROM nudge_text_variant t
WHERE t.organisation_id = ANY($1::int[])
ORDER BY t.organisation_id, t.id
"""

TESTIMONIALS_SQL = """
SELECT w.user_id, w.course_id, k.title
FROM unnest($1::int[], $2::int[]) AS w(user_id, course_id)
JOIN course k ON k.id = w.course_id
WHERE NOT EXISTS (
    SELECT 1 FROM testimonial t WHERE t.user_id = w.user_id AND t.course_id = w.course_id
)
"""

# what backend.budgets.services counts as used: approved requests, by the day they were made;
# with each learner's own yearly budget (NULL: the organisation's), one row per learner at least
SPENT_SQL = """
SELECT u.id, u.yearly_budget_cents, r.created_at, r.cost_cents
FROM user_account u
LEFT JOIN training_request r
       ON r.user_id = u.id AND r.status = 'approved' AND r.created_at >= $2
WHERE u.id = ANY($1::int[])
"""

# one probe of the (user_id, dedupe_key) unique index per pair
KNOWN_KEYS_SQL = """
SELECT n.user_id, n.kind, n.dedupe_key, n.due_at
FROM nudge n
JOIN unnest($1::int[], $2::varchar[]) AS w(user_id, dedupe_key)
  ON n.user_id = w.user_id AND n.dedupe_key = w.dedupe_key
"""


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """One transaction on the asyncpg connection under one of the engine's pooled ones."""
    async with driver_connection(engine) as pg, pg.transaction():
        yield pg


def batch_parameters(now: datetime, limit: int) -> tuple[Any, ...]:
    """:data:`BATCH_SQL`'s parameters ``$1``-``$7``: the due learners at ``now``, at most
    ``limit`` of them."""
    return (
        now,
        limit,
        now - timedelta(days=ACTIVITY_DAYS),
        now - timedelta(days=HISTORY_DAYS),
        now - timedelta(days=EVENT_DAYS),
        budget_keys_around(now),
        # recent XP is read from the ledger's rows of learning dated in the last days (a
        # day more for the timezones behind UTC): XP of learning dated earlier and
        # recorded lately does not make a level new, so the rows read stay few
        (now - timedelta(days=EVENT_DAYS + 1)).date(),
    )


async def fetch_due(pg: asyncpg.Connection, now: datetime, limit: int) -> list[asyncpg.Record]:
    """The due learners of one batch (locked), each with their policy input as arrays."""
    return list(await pg.fetch(BATCH_SQL, *batch_parameters(now, limit)))


async def fetch_organisations(
    pg: asyncpg.Connection, org_ids: Sequence[int], today: date, new_since: datetime
) -> tuple[list[tuple[int, str, str, dict[str, Any]]], list[dict[str, Any]], list[asyncpg.Record]]:
    """The organisations (settings decoded), their challenges running around ``today`` (as
    dicts) and their hot-skill courses created since ``new_since``."""
    ids = sorted(org_ids)
    orgs = [
        (org_id, name, tz, json.loads(settings) if settings else {})
        for org_id, name, tz, settings in await pg.fetch(ORGANISATIONS_SQL, ids)
    ]
    day = timedelta(days=1)
    challenges = [dict(r) for r in await pg.fetch(CHALLENGES_SQL, ids, today - day, today + day)]
    courses = list(await pg.fetch(NEW_COURSES_SQL, ids, new_since))
    return orgs, challenges, courses


async def fetch_variant_stats(
    pg: asyncpg.Connection, org_ids: Sequence[int], since: datetime
) -> list[asyncpg.Record]:
    """(organisation, kind, variant, sent, learned within 24 h) since ``since``."""
    return list(await pg.fetch(VARIANT_STATS_SQL, sorted(org_ids), since))


async def fetch_text_variants(
    pg: asyncpg.Connection, org_ids: Sequence[int]
) -> list[asyncpg.Record]:
    """(organisation, kind, variant, locale, title, body, retired) of the organisations' own
    nudge texts."""
    return list(await pg.fetch(TEXT_VARIANTS_SQL, sorted(org_ids)))


async def fetch_unwritten_testimonials(
    pg: asyncpg.Connection, pairs: Sequence[tuple[int, int]]
) -> list[asyncpg.Record]:
    """(learner, course, course title) of the pairs without a testimonial yet."""
    return list(await pg.fetch(TESTIMONIALS_SQL, [u for u, _ in pairs], [c for _, c in pairs]))


async def fetch_spent(
    pg: asyncpg.Connection, user_ids: Sequence[int], since: datetime
) -> list[asyncpg.Record]:
    """(learner, own yearly budget, requested at, cost) of approved budget requests made
    since ``since`` (requested at and cost NULL for a learner with none)."""
    return list(await pg.fetch(SPENT_SQL, list(user_ids), since))


async def fetch_known_keys(
    pg: asyncpg.Connection, pairs: Sequence[tuple[int, str]]
) -> list[asyncpg.Record]:
    """(learner, kind, dedupe key, due at) of the nudges these (learner, key) pairs have."""
    return list(await pg.fetch(KNOWN_KEYS_SQL, [u for u, _ in pairs], [k for _, k in pairs]))


class Outbox:
    """A batch's writes as column arrays, for :data:`WRITE_SQL`."""

    def __init__(self) -> None:
        # id, organisation, learner, kind, variant, dedupe key, locale, title, body, url, due
        self.columns: tuple[list[Any], ...] = tuple([] for _ in range(11))
        self.user_ids: list[int] = []
        self.next_at: list[datetime | None] = []

    def add(
        self,
        organisation_id: int,
        user_id: int,
        nudges: Iterable[PlannedNudge],
        next_at: datetime,
    ) -> None:
        """One learner's planned nudges (``PlannedNudge``) and their next moment."""
        self.user_ids.append(user_id)
        self.next_at.append(next_at)
        ids, orgs, users, kinds, variants, keys, locales, titles, bodies, urls, due_at = (
            self.columns
        )
        for nudge in nudges:
            ids.append(None)  # filled in write(): one random draw for the whole batch
            orgs.append(organisation_id)
            users.append(user_id)
            kinds.append(nudge.kind.value)
            variants.append(nudge.variant)
            keys.append(nudge.dedupe_key)
            locales.append(nudge.locale)
            titles.append(nudge.title[:200])
            bodies.append(nudge.body[:500])
            urls.append(nudge.url)
            due_at.append(nudge.due_at)

    def nothing_for(self, user_ids: Sequence[int]) -> None:
        """Learners with nothing to plan (inactive): not looked at again until woken."""
        self.user_ids.extend(user_ids)
        self.next_at.extend([None] * len(user_ids))

    async def write(
        self,
        pg: asyncpg.Connection,
        now: datetime,
        learned_ids: Sequence[str],
        learned_at: Sequence[datetime],
    ) -> int:
        """Insert the nudges (a dedupe key the learner already has is skipped), store every
        next moment and record learning after sent nudges (nudge id, first learning) in one
        statement; returns the nudges created."""
        ids = self.columns[0]
        if ids:
            blob = secrets.token_hex(16 * len(ids))
            ids[:] = [blob[i : i + 32] for i in range(0, len(blob), 32)]
        created, _ = await pg.fetchrow(
            WRITE_SQL,
            *self.columns,
            now,
            self.user_ids,
            self.next_at,
            learned_ids,
            learned_at,
        )
        return int(created)


async def wake(
    conn: AsyncConnection, organisation_id: int, user_ids: Iterable[int], at: datetime
) -> None:
    """``next_nudge_at`` no later than ``at`` for these learners (their state row is
    created when missing), in the caller's transaction."""
    table = LearnerState.__table__  # type: ignore[attr-defined]
    stmt = postgresql.insert(table)
    current, wanted = table.c.next_nudge_at, stmt.excluded.next_nudge_at
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id"],
            # LEAST ignores NULL: a learner with nothing planned gets ``at``
            set_={"next_nudge_at": func.least(func.coalesce(current, wanted), wanted)},
            where=table.c.organisation_id == organisation_id,  # never another tenant's row
        ),
        [
            {
                "user_id": uid,
                "organisation_id": organisation_id,
                "data": {},
                "next_nudge_at": at,
                "updated_at": at,
            }
            for uid in sorted(set(user_ids))
        ],
    )
