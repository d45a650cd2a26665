"""Voided statements take back what they earned: :func:`void_statements`.

An LMS voids a statement it sent by mistake with a voiding statement (xAPI 1.0.3 Data 2.3.2:
verb ``http://adlnet.gov/expapi/verbs/voided``, object a StatementRef). The Statement resource
then answers the statement only by ``voidedStatementId`` (``backend.lrs.statement_store``);
here the game forgets it, once:

- its learning event is marked ``voided``: learner histories, the Today and Progress pages and
  the insights rollups (migration 0032's trigger) leave it out;
- the learner's state is recomputed without it (``gamification.voiding.without_facts``:
  streak days, weekly and dated goals, challenge and badge tallies), keeping the learner's
  own settings (weekly goal, dated goals, pauses);
- XP goes back by a countering ``xp_ledger`` entry per voided event (reason ``voided``,
  dated on the event's day, so weekly XP and leaderboards move with it): the ledger still
  sums to the learner's total;
- team challenges the event counted for have that day recounted and their progress
  recomputed (a team challenge already marked completed stays completed);
- **badges already awarded stay.** An award was celebrated (a push message, the badge wall)
  and may have been shared through its public page; taking it away silently, because an LMS
  corrected its own data, surprises the learner more than it helps. The tallies go down, so
  a tier not yet awarded needs new learning, and L&D can revoke an award by hand
  (``backend.badges.services.revoke_award``) when a correction should take it back.

Voiding twice changes nothing the second time (an event already voided is skipped). A
statement whose voiding arrived first is stored voided and never recorded as an event:
:func:`voided_on_arrival` tells ingestion which. When the two arrive at once, on two
connections, one of them sees the other: the statement's request looks for its voiding again
after inserting the statement, with a fresh snapshot (migration 0037; a late one: nothing
is written and the request tries again), and the voiding's request waits for statements
still being stored before it voids them (:func:`_wait_for_requests_storing`).
"""

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import Challenge, XpLedgerEntry
from backend.db.types import utcnow
from backend.learning import lookup as ingestion_lookup
from backend.learning import service as ingestion  # a module: it imports this one too
from backend.learning.connections import session_connection
from backend.learning.history import learner_histories
from backend.learning.ingest_cache import cache_for
from backend.learning.lookup import CHALLENGE_GRACE_DAYS
from backend.learning.model import LookupKeys, UnknownReference
from backend.lrs.statement_store import VOIDED_VERB
from gamification import LearnerState as EngineState
from gamification import local_day
from gamification.voiding import without_facts

SessionMaker = async_sessionmaker[AsyncSession]
log = logging.getLogger("learnloop.ingestion")
VOIDED_REASON = "voided"
KEY_PREFIX = "xapi:"

_PG_LEARNERS = """
SELECT DISTINCT user_id FROM learning_event
WHERE organisation_id = $1 AND idempotency_key = ANY($2::text[]) AND NOT voided
ORDER BY user_id
"""

# under the learners' row locks: only this transaction can void their events now
_PG_VOID = """
UPDATE learning_event SET voided = true
WHERE organisation_id = $1 AND idempotency_key = ANY($2::text[]) AND NOT voided
RETURNING id, user_id, idempotency_key, local_date, kind, minutes
"""

# The days the voided events counted for in running team challenges, recounted: their
# minutes taken off, and the day dropped when no learning is left on it
# (gamification.events.LearningFact.counts_as_activity).
_PG_TEAM_DAYS = """
WITH v AS (
  SELECT u, d, sum(m) AS m FROM unnest($2::int[], $3::date[], $4::int[]) AS v(u, d, m)
  GROUP BY u, d
), rest AS (
  SELECT v.u, v.d, v.m, EXISTS (
    SELECT 1 FROM learning_event e
    WHERE e.organisation_id = $1 AND e.user_id = v.u AND e.local_date = v.d AND NOT e.voided
      AND e.kind <> 'testimonial' AND (e.kind <> 'progress' OR e.minutes > 0)
  ) AS learned
  FROM v
), running AS (
  SELECT id FROM challenge WHERE organisation_id = $1 AND kind = 'team' AND ends_on >= $5
), gone AS (
  DELETE FROM team_challenge_day t USING rest
  WHERE t.organisation_id = $1 AND t.user_id = rest.u AND t.local_date = rest.d
    AND NOT rest.learned AND t.challenge_id IN (SELECT id FROM running)
  RETURNING t.challenge_id
), kept AS (
  UPDATE team_challenge_day t SET minutes = GREATEST(t.minutes - rest.m, 0) FROM rest
  WHERE t.organisation_id = $1 AND t.user_id = rest.u AND t.local_date = rest.d
    AND rest.learned AND t.challenge_id IN (SELECT id FROM running)
  RETURNING t.challenge_id
)
SELECT challenge_id FROM gone UNION SELECT challenge_id FROM kept
"""

_PG_VOID_STATEMENTS = """
UPDATE xapi_statement SET voided = true
WHERE organisation_id = $1 AND statement_id = ANY($2::uuid[]) AND NOT voided AND verb_id <> $3
"""

_PG_WAIT_FOR_STORING = """
INSERT INTO xapi_statement (organisation_id, statement_id, document, fingerprint, verb_id,
  related_agents, related_activities, voided, timestamp, stored)
SELECT $1, sid, '{}', '', '', '{}', '{}', true, now(), now() FROM unnest($2::uuid[]) AS sid
ON CONFLICT (organisation_id, statement_id) DO NOTHING
"""

# which of the ids a stored voiding statement names (migration 0037's function, which the
# ingestion statements call too)
_PG_VOIDED_BEFORE = "SELECT unnest(xapi_statements_voided_now($1, $2::uuid[]))::text"


@dataclass
class VoidedEvents:
    """What :func:`void_statements` did: the statement ids whose events it voided (none
    when they were voided before or never earned) and the XP it took back per learner."""

    statement_ids: list[str] = field(default_factory=list)
    xp_change: dict[int, int] = field(default_factory=dict)


async def voided_on_arrival(
    pg: Any, org_id: int, keys: Iterable[str], voided_with: Collection[str]
) -> list[str]:
    """Which of the event ``keys`` come from statements voided on arrival: named by a voiding
    statement of organisation ``org_id`` stored before (read on the asyncpg connection
    ``pg``) or by one in the same request (``voided_with``, the ids they name). Their events
    are not recorded: they earn nothing."""
    ids = {key.removeprefix(KEY_PREFIX): key for key in keys if key.startswith(KEY_PREFIX)}
    if not ids:
        return []
    named = {sid.lower() for sid in voided_with}
    named.update(row[0] for row in await pg.fetch(_PG_VOIDED_BEFORE, org_id, list(ids)))
    return [key for sid, key in ids.items() if sid in named]


async def void_statements(
    db: AsyncSession | SessionMaker,
    org_id: int,
    statement_ids: Sequence[str],
    now: datetime | None = None,
    *,
    commit: bool = True,
) -> VoidedEvents:
    """Take back what the learning events of organisation ``org_id``'s statements
    ``statement_ids`` earned (see the module docstring), and mark those statements voided.

    ``db`` is the caller's session (its transaction, committed unless ``commit`` is false)
    or the app's sessionmaker. Events already voided, and statements without an event, are
    left alone.
    """
    now = now or utcnow()
    if not isinstance(db, AsyncSession):
        async with db() as session:
            return await void_statements(session, org_id, statement_ids, now, commit=True)
    session = db
    keys = sorted({KEY_PREFIX + sid.lower() for sid in statement_ids})
    done = VoidedEvents()
    pg = await session_connection(session)
    if keys:
        ids = [k.removeprefix(KEY_PREFIX) for k in keys]
        await _wait_for_requests_storing(pg, org_id, ids)
        # the one place statements are marked voided: after any request still storing them
        await pg.execute(_PG_VOID_STATEMENTS, org_id, ids, VOIDED_VERB)
    user_ids = [row[0] for row in await pg.fetch(_PG_LEARNERS, org_id, keys)] if keys else []
    if user_ids:
        rows = await ingestion.lock_learner_states(session, org_id, user_ids)
        histories = await learner_histories(session, org_id, user_ids)  # the targets included
        voided = await pg.fetch(_PG_VOID, org_id, keys)
        lookup = await ingestion_lookup.read(pg, None, org_id, LookupKeys(ids=user_ids), now)
        context = lookup.context
        by_user: dict[int, list[Any]] = defaultdict(list)
        for event in voided:
            by_user[event["user_id"]].append(event)
        for user_id, events in sorted(by_user.items()):
            try:
                tz = lookup.learners.timezone(user_id)
            except UnknownReference:  # no active learner any more: the organisation's zone
                tz = context.default_timezone
            row = rows[user_id]
            result = without_facts(
                EngineState.from_dict(row.data or {}),
                histories.get(user_id, []),
                [e["idempotency_key"] for e in events],
                context.rules,
                context.badges,
                now,
                tz,
                challenges=context.individual_challenges,
            )
            ingestion.sync_state_columns(row, result.state, context.rules)
            session.add(row)
            by_key = {e["idempotency_key"]: e for e in events}
            for key, amount in result.counters:
                event = by_key[key]
                session.add(
                    XpLedgerEntry(
                        organisation_id=org_id,
                        user_id=user_id,
                        event_id=event["id"],
                        amount=amount,
                        reason=VOIDED_REASON,
                        local_date=event["local_date"],
                        created_at=now,
                    )
                )
            done.xp_change[user_id] = result.xp_change
        done.statement_ids = sorted(e["idempotency_key"].removeprefix(KEY_PREFIX) for e in voided)
        if context.team_challenge_team_ids and voided:
            await _recount_team_days(session, org_id, voided, now, context.default_timezone)
        cache_for(session.bind).forget_states(user_ids)
    if commit:
        await session.commit()
    else:
        await session.flush()
    return done


async def _wait_for_requests_storing(pg: Any, org_id: int, statement_ids: list[str]) -> None:
    """Wait until no open request is still storing one of ``statement_ids`` (with its event):
    one that began before the voiding statement was stored did not see it. An insert of the
    same ids waits on theirs (the unique key); it is undone at once. Should the probe fail
    (a column it does not fill), voiding goes on without waiting."""
    await pg.execute("SAVEPOINT voiding_wait")
    try:
        await pg.execute(_PG_WAIT_FOR_STORING, org_id, statement_ids)
    except asyncpg.PostgresError:
        log.warning("could not wait for statements being stored", exc_info=True)
    await pg.execute("ROLLBACK TO SAVEPOINT voiding_wait")
    await pg.execute("RELEASE SAVEPOINT voiding_wait")


async def _recount_team_days(
    session: AsyncSession, org_id: int, voided: Sequence[Any], now: datetime, tz: str
) -> None:
    """Recount the days the voided events counted for in running team challenges and
    recompute those challenges' progress."""
    learned = [
        e
        for e in voided
        if e["kind"] != "testimonial" and (e["kind"] != "progress" or e["minutes"])
    ]
    if not learned:
        return
    today = local_day(now, tz)
    oldest_end = date.fromordinal(today.toordinal() - CHALLENGE_GRACE_DAYS)
    pg = await session_connection(session)
    changed = await pg.fetch(
        _PG_TEAM_DAYS,
        org_id,
        [e["user_id"] for e in learned],
        [e["local_date"] for e in learned],
        [e["minutes"] for e in learned],
        oldest_end,
    )
    if not changed:
        return
    challenges = (
        await session.exec(
            select(Challenge)
            .where(
                Challenge.organisation_id == org_id,
                col(Challenge.id).in_([row[0] for row in changed]),
            )
            .order_by(col(Challenge.id))
            .with_for_update()
        )
    ).all()
    for challenge in challenges:
        await ingestion.recompute_team_challenge(session, challenge, today, now)
