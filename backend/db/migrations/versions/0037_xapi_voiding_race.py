"""Voided statements: found while being stored, and left out from the indexes (issue 19)

``xapi_statements_voided_now(org, ids)``: which of ``ids`` a voiding statement of ``org``
names, read with a snapshot of its own (a VOLATILE function takes one per query under READ
COMMITTED). Ingestion calls it in the statement that stores a request's statements, after
they are inserted: a voiding stored after that statement's snapshot was taken is still seen
(the statement's own subqueries miss it). Either the request sees the voiding, or the
voiding's request (``backend.learning.voiding``), whose probe waits on the statement ids
being inserted, sees the statement: never neither. PL/pgSQL keeps its plan per connection.

``learning_event.voided`` joins the INCLUDE of the two indexes that readers scan index-only
(a learner's recent learning for the nudge tick and recommendation starts; an
organisation's days for challenge participation): they leave voided events out now, and
would otherwise read the table for that one column.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-08 01:55:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VOIDED_NOW = """
CREATE FUNCTION xapi_statements_voided_now(org integer, ids uuid[]) RETURNS uuid[]
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN ARRAY(SELECT DISTINCT w.voids FROM xapi_statement w
               WHERE w.organisation_id = org AND w.voids = ANY(ids));
END
$$
"""


# name: (key columns, included columns before this migration)
_COVERING = {
    "ix_learning_event_user_occurred": (
        ["user_id", "occurred_at", "id"],
        ["local_date", "minutes", "kind", "course_id"],
    ),
    "ix_learning_event_org_local_date": (
        ["organisation_id", "local_date"],
        ["user_id", "kind", "course_id", "competency_id"],
    ),
}


def _rebuild(name: str, columns: list[str], included: list[str]) -> None:
    """``name`` again with ``included``: the new one built before the old one goes."""
    op.create_index(name + "_new", "learning_event", columns, postgresql_include=included)
    op.drop_index(name, table_name="learning_event")
    op.execute(f"ALTER INDEX {name}_new RENAME TO {name}")


def upgrade() -> None:
    op.execute(_VOIDED_NOW)
    for name, (columns, included) in _COVERING.items():
        _rebuild(name, columns, [*included, "voided"])


def downgrade() -> None:
    for name, (columns, included) in _COVERING.items():
        _rebuild(name, columns, included)
    op.execute("DROP FUNCTION xapi_statements_voided_now(integer, uuid[])")
