"""Indexes for reading statements at ten million rows

- GIN on ``related_activities``, and on ``related_agents`` without the actor (whose
  statements the actor's index reads in order): ``activity`` with
  ``related_activities=true`` and ``agent`` with ``related_agents=true`` read only the
  statements that name them, however rare; a common one is read in ``stored`` order
  instead (the planner picks by the arrays' statistics).
- ``target_keys``: what the statement a StatementRef targets matches, so that a filter also
  finds the statements that target a match (Communication 2.1.3, "Filter Conditions for
  StatementRefs") with an index, not by reading every StatementRef's target. Each key is
  ``<kind>:<value>`` for the target's own ``agent`` (actor or object), ``verb``,
  ``activity``, ``registration``, ``ragent`` (its related agents) and ``ractivity`` (its
  related activities), and for those of the statement it targets in turn (up to
  :data:`LEVELS` deep); each also as ``<level> <kind>:<value>``, for a filter of several
  conditions, which one statement of the chain must meet together. A BEFORE INSERT trigger
  fills it, and fires only for the rare rows whose object is neither an Activity nor an
  Agent (StatementRefs; SubStatements and anonymous Groups get ``'{}'``): every other
  insert pays one ``WHEN`` test of two columns. A StatementRef whose target is not stored
  yet keeps NULL; the few such rows are matched when read, through their document (a
  partial index lists them).
- Migration 0031's ordered indexes include the columns the filters test besides the one
  they lead with (``voided``; ``actor_key`` and ``related_*`` for the order of everything,
  ``verb_id`` for an agent's or an activity's): a filter that drops most rows is tested in the index.
- Partial indexes over the rows with ``target_keys``: GIN (a rare key), and ``(organisation_id,
  stored, id)`` with ``voided`` and ``target_keys`` included (a common key: read in order,
  the keys tested in the index, not the table).

See backend/lrs/statements.py (``page_sql``) and benchmarks/lrs_reads.py.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 22:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVELS = 3
REFS = "activity_id IS NULL AND object_agent_key IS NULL"

# what the statement ``target`` of organisation ``org`` matches: its own keys at level 1,
# its target_keys a level down, and each key without its level too (the index's common
# case: one condition, any level); NULL when it is not stored (yet), or is a StatementRef
# whose own target was not
_KEYS = f"""
CREATE FUNCTION xapi_statement_target_keys(org integer, target uuid) RETURNS text[]
LANGUAGE sql STABLE AS $$
  WITH t AS (
    SELECT s.actor_key, s.object_agent_key, s.verb_id, s.activity_id, s.registration,
           s.related_agents, s.related_activities, s.target_keys,
           (s.target_keys IS NULL AND s.activity_id IS NULL AND s.object_agent_key IS NULL)
             AS unresolved
    FROM xapi_statement s WHERE s.organisation_id = org AND s.statement_id = target
  ), own AS (
    SELECT '1 agent:' || actor_key AS k FROM t
    UNION ALL SELECT '1 agent:' || object_agent_key FROM t
    UNION ALL SELECT '1 verb:' || verb_id FROM t
    UNION ALL SELECT '1 activity:' || activity_id FROM t
    UNION ALL SELECT '1 registration:' || registration::text FROM t
    UNION ALL SELECT '1 ragent:' || a FROM t, unnest(t.related_agents) a
    UNION ALL SELECT '1 ractivity:' || a FROM t, unnest(t.related_activities) a
    UNION ALL SELECT (left(k, 1)::int + 1)::text || substr(k, 2)
      FROM t, unnest(t.target_keys) k WHERE k ~ '^[1-{LEVELS - 1}] '
  )
  SELECT CASE WHEN NOT EXISTS (SELECT FROM t) OR (SELECT unresolved FROM t) THEN NULL
    ELSE ARRAY(
      SELECT DISTINCT k FROM (
        SELECT k FROM own
        UNION ALL SELECT substr(k, 3) FROM own
        UNION ALL SELECT k FROM t, unnest(t.target_keys) k WHERE k !~ '^[0-9] '
      ) keys WHERE k IS NOT NULL ORDER BY k)
    END
$$
"""

_TRIGGER_FUNCTION = """
CREATE FUNCTION xapi_statement_fill_target_keys() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  target jsonb := NEW.document::jsonb -> 'object';
BEGIN
  IF target ->> 'objectType' = 'StatementRef' THEN
    NEW.target_keys := xapi_statement_target_keys(
      NEW.organisation_id, (target ->> 'id')::uuid);
  ELSE
    NEW.target_keys := '{}';
  END IF;
  RETURN NEW;
END
$$
"""


# target_keys of the statements stored before (benchmarks/lrs_reads.py runs these too,
# after a COPY with the trigger disabled); a chain whose links are all older keeps level 1
BACKFILL = (
    "UPDATE xapi_statement SET target_keys = '{}' "
    f"WHERE {REFS} AND document::jsonb #>> '{{object,objectType}}' IS DISTINCT FROM "
    "'StatementRef'",
    "UPDATE xapi_statement s SET target_keys = xapi_statement_target_keys("
    "s.organisation_id, (s.document::jsonb #>> '{object,id}')::uuid) "
    f"WHERE {REFS} AND s.target_keys IS NULL",
)


# migration 0031's ordered indexes, again, with the columns a filter tests beside the one it
# leads with: an index-only scan tests them in the index, not in the table (a related
# activity shared by one statement in 200 is 20,000 index entries to pass over, not 20,000
# table pages); the table is only read for the page's rows
INCLUDES = {
    "ix_xapi_statement_org_stored": (
        ["organisation_id", "stored", "id"],
        ["voided", "actor_key", "related_agents", "related_activities"],
    ),
    "ix_xapi_statement_org_actor": (
        ["organisation_id", "actor_key", "stored", "id"],
        ["voided", "verb_id", "activity_id"],
    ),
    "ix_xapi_statement_org_verb": (["organisation_id", "verb_id", "stored", "id"], ["voided"]),
    "ix_xapi_statement_org_activity": (
        ["organisation_id", "activity_id", "stored", "id"],
        ["voided", "verb_id"],
    ),
}


def upgrade() -> None:
    for name, (columns, included) in INCLUDES.items():
        op.drop_index(name, table_name="xapi_statement")
        op.create_index(name, "xapi_statement", columns, postgresql_include=included)
    op.add_column(
        "xapi_statement", sa.Column("target_keys", postgresql.ARRAY(sa.Text()), nullable=True)
    )
    op.execute(_KEYS)
    op.execute(_TRIGGER_FUNCTION)
    op.execute(
        "CREATE TRIGGER xapi_statement_target_keys BEFORE INSERT ON xapi_statement "
        f"FOR EACH ROW WHEN (NEW.{REFS.replace(' AND ', ' AND NEW.')}) "
        "EXECUTE FUNCTION xapi_statement_fill_target_keys()"
    )
    for sql in BACKFILL:
        op.execute(sql)
    op.create_index(
        "ix_xapi_statement_related_agents",
        "xapi_statement",
        [sa.text("array_remove(related_agents, actor_key)")],
        postgresql_using="gin",
    )
    op.create_index(
        "ix_xapi_statement_related_activities",
        "xapi_statement",
        ["related_activities"],
        postgresql_using="gin",
    )
    op.create_index(
        "ix_xapi_statement_target_keys",
        "xapi_statement",
        ["target_keys"],
        postgresql_using="gin",
        postgresql_where=sa.text("target_keys IS NOT NULL"),
    )
    op.create_index(
        "ix_xapi_statement_org_refs",
        "xapi_statement",
        ["organisation_id", "stored", "id"],
        postgresql_include=["voided", "target_keys"],
        postgresql_where=sa.text("target_keys IS NOT NULL"),
    )
    op.create_index(
        "ix_xapi_statement_org_unresolved",
        "xapi_statement",
        ["organisation_id", "stored", "id"],
        postgresql_where=sa.text(f"target_keys IS NULL AND {REFS}"),
    )


def downgrade() -> None:
    for name in ("org_unresolved", "org_refs", "target_keys", "related_activities"):
        op.drop_index(f"ix_xapi_statement_{name}", table_name="xapi_statement")
    op.drop_index("ix_xapi_statement_related_agents", table_name="xapi_statement")
    op.execute("DROP TRIGGER xapi_statement_target_keys ON xapi_statement")
    op.execute("DROP FUNCTION xapi_statement_fill_target_keys()")
    op.execute("DROP FUNCTION xapi_statement_target_keys(integer, uuid)")
    op.drop_column("xapi_statement", "target_keys")
    for name, (columns, _) in INCLUDES.items():
        op.drop_index(name, table_name="xapi_statement")
        op.create_index(name, "xapi_statement", columns)
