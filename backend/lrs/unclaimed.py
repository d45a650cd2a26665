"""Statements kept for people who were no learners yet, counted once they are added.

``POST``/``PUT /xapi/statements`` stores every valid statement, whoever it is about
(``backend.lrs.statement_store``); one about someone who is no active learner of the
organisation earns nothing then ("learner unknown" in the intake log). When L&D adds that
person (``accounts.services.create_user``) or imports them (``imports.people``), :func:`claim`
replays their stored statements through ``service.record_events``, the one way learning is
recorded: XP, streak days and badges as if they had arrived late (the engine backfills).

A statement names its actor by its key (``statement_store.agent_key``): ``mbox``,
``mbox_sha1sum`` or ``account`` (any ``homePage``). They are matched as ingestion matches them
(``lookup.LearnerDirectory.find``): the e-mail address, its SHA-1, or an account name equal
to the person's external id or e-mail address. Replaying is idempotent: a statement's event
key is ``xapi:<statement id>``, and statements that already have an event are not read again.
Only the organisation's own statements are read; voided ones are left out.
"""

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import msgspec
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.types import utcnow
from backend.learning import adapters, xapi
from backend.learning import lookup as ingestion_lookup
from backend.learning.connections import session_connection
from backend.learning.model import EventResult
from backend.learning.service import record_events

log = logging.getLogger("learnloop.lrs")

_PG_PEOPLE = """
SELECT id, email, external_id FROM user_account
WHERE organisation_id = $1 AND id = ANY($2::int[]) AND is_active
"""

# the organisation's distinct actors, one index probe each (a loose index scan)
_PG_ACTORS = """
WITH RECURSIVE k(actor_key) AS (
  (SELECT actor_key FROM xapi_statement
   WHERE organisation_id = $1 AND actor_key IS NOT NULL ORDER BY actor_key LIMIT 1)
  UNION ALL
  SELECT (SELECT s.actor_key FROM xapi_statement s
          WHERE s.organisation_id = $1 AND s.actor_key > k.actor_key
          ORDER BY s.actor_key LIMIT 1)
  FROM k WHERE k.actor_key IS NOT NULL
)
SELECT actor_key FROM k WHERE actor_key IS NOT NULL AND actor_key LIKE 'account:%'
"""

# their statements that earned nothing yet, oldest first
_PG_STATEMENTS = """
SELECT s.document, s.fingerprint FROM xapi_statement s
WHERE s.organisation_id = $1 AND s.actor_key = ANY($2::text[]) AND NOT s.voided
  AND NOT EXISTS (
    SELECT 1 FROM learning_event e
    WHERE e.organisation_id = $1 AND e.idempotency_key = 'xapi:' || s.statement_id::text
  )
ORDER BY s.stored, s.id
"""

_decode = msgspec.json.Decoder().decode


def _keys(people: Sequence[Any], account_keys: Sequence[str]) -> list[str]:
    """The actor keys that name ``people`` (rows of id, email, external id)."""
    keys: list[str] = []
    names: set[str] = set()
    for _id, email, external_id in people:
        keys.append("mbox:mailto:" + email.lower())
        keys.append("mbox_sha1sum:" + xapi.mbox_sha1sum(email))
        names.add(email.lower())
        if external_id:
            names.add(external_id)
    for key in account_keys:
        try:
            _home, name = _decode(key.removeprefix("account:"))
        except (msgspec.DecodeError, ValueError, TypeError):
            continue
        if isinstance(name, str) and (name in names or name.lower() in names):
            keys.append(key)
    return keys


async def claim(
    session: AsyncSession,
    organisation_id: int,
    user_ids: Sequence[int],
    now: datetime | None = None,
) -> list[EventResult]:
    """Record what the stored statements about these (just added) people earn, in
    ``session``'s transaction, which is committed. Call it after the people are committed;
    it never raises (they are added whatever happens here: a failure is logged)."""
    if not user_ids:
        return []
    try:
        return await _claim(session, organisation_id, user_ids, now or utcnow())
    except Exception:
        log.exception("stored statements of people %s not replayed", list(user_ids)[:20])
        await session.rollback()
        return []


async def _claim(
    session: AsyncSession, organisation_id: int, user_ids: Sequence[int], now: datetime
) -> list[EventResult]:
    pg = await session_connection(session)
    people = await pg.fetch(_PG_PEOPLE, organisation_id, list(user_ids))
    if not people:
        return []
    account_keys = [row[0] for row in await pg.fetch(_PG_ACTORS, organisation_id)]
    rows = await pg.fetch(_PG_STATEMENTS, organisation_id, _keys(people, account_keys))
    statements: list[xapi.ParsedStatement] = []
    for document, fingerprint in rows:
        try:
            parsed = xapi.parse_statement(_decode(document))
        except xapi.XapiError:  # stored by an earlier, more lenient parser: left alone
            log.warning("stored statement not replayed: it no longer parses", exc_info=True)
            continue
        # the fingerprint it was received with, so a resend is a duplicate, not a conflict
        statements.append(replace(parsed, stored_fingerprint=fingerprint))
    if not statements:
        await session.commit()
        return []
    lookup = await ingestion_lookup.read(
        pg, None, organisation_id, adapters.statement_keys(statements), now
    )
    wanted = {row[0] for row in people}
    events = [
        e for e in adapters.statements_to_events(statements, lookup, now) if e.user_id in wanted
    ]
    return await record_events(session, organisation_id, events, lookup=lookup, now=now)
