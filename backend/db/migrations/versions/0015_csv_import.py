"""CSV imports with their progress; config_version bumped once per statement

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 14:00:00.000000

``import_job``: one row per CSV import (its problems, progress and counts).

The triggers of migration 0008 on ``course``, ``course_competency`` and ``user_account``
updates ran once per row, each an UPDATE of the same organisation row: a statement writing
10,000 courses updated that row 10,000 times in one transaction, and every update walks the
row's growing chain of versions (the 10,000-row import took 85 s instead of 3 s). They become
statement triggers over transition tables that bump each organisation touched once per
statement; the number still changes in the same statement as the rows, so what ingestion
checks is unchanged.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.types import UtcDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_STATEMENT_BUMP = """
CREATE FUNCTION learnloop_bump_config_version_per_statement() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE organisation SET config_version = config_version + 1
     WHERE id IN (SELECT organisation_id FROM new_rows);
  ELSIF TG_OP = 'UPDATE' THEN
    UPDATE organisation SET config_version = config_version + 1
     WHERE id IN (SELECT organisation_id FROM new_rows UNION SELECT organisation_id FROM old_rows);
  ELSE
    UPDATE organisation SET config_version = config_version + 1
     WHERE id IN (SELECT organisation_id FROM old_rows);
  END IF;
  RETURN NULL;
END $$
"""
# learners: only changes of what ingestion looks people up by (as migration 0008's WHEN)
_LEARNER_BUMP = """
CREATE FUNCTION learnloop_bump_config_version_for_learners() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE organisation SET config_version = config_version + 1
   WHERE id IN (
     SELECT n.organisation_id FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE o.email IS DISTINCT FROM n.email
         OR o.external_id IS DISTINCT FROM n.external_id
         OR o.timezone IS DISTINCT FROM n.timezone
         OR o.is_active IS DISTINCT FROM n.is_active
         OR o.organisation_id IS DISTINCT FROM n.organisation_id
     UNION
     SELECT o.organisation_id FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE o.organisation_id IS DISTINCT FROM n.organisation_id);
  RETURN NULL;
END $$
"""
_PER_STATEMENT = ("course", "course_competency")


def _statement_triggers() -> None:
    op.execute(_STATEMENT_BUMP)
    op.execute(_LEARNER_BUMP)
    for table in _PER_STATEMENT:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_config_version ON {table}")
        # a trigger with transition tables takes one event each
        for event, tables in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        ):
            op.execute(
                f"CREATE TRIGGER {table}_config_version_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {tables} FOR EACH STATEMENT "
                "EXECUTE FUNCTION learnloop_bump_config_version_per_statement()"
            )
    op.execute("DROP TRIGGER IF EXISTS user_account_config_version ON user_account")
    op.execute(
        "CREATE TRIGGER user_account_config_version_update AFTER UPDATE ON user_account "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION learnloop_bump_config_version_for_learners()"
    )


def _row_triggers() -> None:
    for table in _PER_STATEMENT:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_config_version_{event} ON {table}")
        op.execute(
            f"CREATE TRIGGER {table}_config_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION learnloop_bump_config_version()"
        )
    op.execute("DROP TRIGGER IF EXISTS user_account_config_version_update ON user_account")
    op.execute(
        "CREATE TRIGGER user_account_config_version AFTER UPDATE ON user_account FOR EACH ROW "
        "WHEN (OLD.email IS DISTINCT FROM NEW.email "
        "OR OLD.external_id IS DISTINCT FROM NEW.external_id "
        "OR OLD.timezone IS DISTINCT FROM NEW.timezone "
        "OR OLD.is_active IS DISTINCT FROM NEW.is_active "
        "OR OLD.organisation_id IS DISTINCT FROM NEW.organisation_id) "
        "EXECUTE FUNCTION learnloop_bump_config_version()"
    )
    op.execute("DROP FUNCTION IF EXISTS learnloop_bump_config_version_per_statement()")
    op.execute("DROP FUNCTION IF EXISTS learnloop_bump_config_version_for_learners()")


def upgrade() -> None:
    _statement_triggers()
    op.create_table(
        "import_job",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name="fk_import_job_organisation_id_organisation",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name="fk_import_job_created_by_id_user_account",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_import_job"),
    )
    op.create_index("ix_import_job_org_created", "import_job", ["organisation_id", "created_at"])


def downgrade() -> None:
    _row_triggers()
    op.drop_index("ix_import_job_org_created", table_name="import_job")
    op.drop_table("import_job")
