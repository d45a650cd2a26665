"""Voided statements take back what they earned (issue 19 item 4)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 22:45:00.000000

- ``learning_event.voided``: the event's statement was voided (``backend.learning.voiding``);
  the game, the histories and the learner's pages leave it out.
- ``xapi_statement.voids``: the statement id a voiding statement names, indexed, so a
  statement that arrives after its voiding is stored voided and earns nothing (Data 2.3.2:
  the LRS does not refuse a voiding statement whose target it does not have yet).
- The insights rollups of migration 0022 take a voided event out again: an UPDATE trigger
  subtracts what the insert trigger added, with the same SQL; the rebuild leaves voided
  events out.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VOIDED_VERB = "http://adlnet.gov/expapi/verbs/voided"


def _rollups() -> ModuleType:
    """Migration 0022, whose SQL keeps the rollups (one place for it)."""
    path = Path(__file__).with_name("0022_insights_rollups.py")
    spec = importlib.util.spec_from_file_location("learnloop_migration_0022", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _unroll(source: str) -> str:
    """0022's upserts over ``source``, subtracting instead of adding."""
    sql: str = _rollups()._rollup(source)
    return sql.replace("count(*) FILTER", "-count(*) FILTER").replace(
        "coalesce(sum(", "-coalesce(sum("
    )


def _rebuild(condition: str) -> str:
    sql: str = _rollups()._REBUILD_FUNCTION
    return sql.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION").replace(
        "WHERE organisation_id = org)", f"WHERE organisation_id = org{condition})"
    )


def upgrade() -> None:
    op.add_column(
        "learning_event",
        sa.Column("voided", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("xapi_statement", sa.Column("voids", sa.Uuid(), nullable=True))
    op.execute(
        sa.text(
            "UPDATE xapi_statement SET voids = (document::json #>> '{object,id}')::uuid "
            "WHERE verb_id = :verb AND document::json #>> '{object,objectType}' = 'StatementRef'"
        ).bindparams(verb=VOIDED_VERB)
    )
    op.create_index(
        "ix_xapi_statement_org_voids",
        "xapi_statement",
        ["organisation_id", "voids"],
        postgresql_where=sa.text("voids IS NOT NULL"),
    )
    voided_now = (
        "(SELECT n.* FROM voided_new n JOIN voided_old o ON o.id = n.id "
        "WHERE n.voided AND NOT o.voided)"
    )
    op.execute(
        f"""
CREATE FUNCTION learnloop_insights_unroll() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
{_unroll(voided_now)}
  RETURN NULL;
END $$
"""
    )
    # transition tables cannot go with a column list: the function keeps only newly voided rows
    op.execute(
        "CREATE TRIGGER learning_event_insights_unroll AFTER UPDATE ON learning_event "
        "REFERENCING OLD TABLE AS voided_old NEW TABLE AS voided_new FOR EACH STATEMENT "
        "EXECUTE FUNCTION learnloop_insights_unroll()"
    )
    op.execute(_rebuild(" AND NOT voided"))


def downgrade() -> None:
    op.execute(_rebuild(""))
    op.execute("DROP TRIGGER IF EXISTS learning_event_insights_unroll ON learning_event")
    op.execute("DROP FUNCTION IF EXISTS learnloop_insights_unroll()")
    op.drop_index("ix_xapi_statement_org_voids", table_name="xapi_statement")
    op.drop_column("xapi_statement", "voids")
    op.drop_column("learning_event", "voided")
