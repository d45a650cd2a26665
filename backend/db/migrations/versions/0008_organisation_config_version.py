"""organisation.config_version: bumped by the database whenever what ingestion reads changes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 05:00:00.000000

Ingestion may keep an organisation's rules, badges, challenges, courses and learners in
memory between requests; every write it makes checks, in the same statement, that the
organisation's ``config_version`` is still the one it read them at. Triggers keep the
number: a row of ``badge_definition``, ``challenge``, ``course`` or
``course_competency`` written or deleted, a learner's e-mail, external id, timezone or
active flag changed or a learner deleted, or the organisation's settings or timezone
changed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CONFIG_TABLES = ("badge_definition", "challenge", "course", "course_competency")

_BUMP_FUNCTION = """
CREATE FUNCTION learnloop_bump_config_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE organisation SET config_version = config_version + 1
   WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.organisation_id ELSE NEW.organisation_id END;
  IF TG_OP = 'UPDATE' AND OLD.organisation_id IS DISTINCT FROM NEW.organisation_id THEN
    UPDATE organisation SET config_version = config_version + 1 WHERE id = OLD.organisation_id;
  END IF;
  RETURN NULL;
END $$
"""

_OWN_FUNCTION = """
CREATE FUNCTION learnloop_organisation_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.config_version := OLD.config_version + 1;
  RETURN NEW;
END $$
"""


def upgrade() -> None:
    op.add_column(
        "organisation",
        sa.Column("config_version", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.execute(_BUMP_FUNCTION)
    op.execute(_OWN_FUNCTION)
    for table in _CONFIG_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_config_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION learnloop_bump_config_version()"
        )
    op.execute(
        "CREATE TRIGGER user_account_config_version AFTER UPDATE ON user_account FOR EACH ROW "
        "WHEN (OLD.email IS DISTINCT FROM NEW.email "
        "OR OLD.external_id IS DISTINCT FROM NEW.external_id "
        "OR OLD.timezone IS DISTINCT FROM NEW.timezone "
        "OR OLD.is_active IS DISTINCT FROM NEW.is_active "
        "OR OLD.organisation_id IS DISTINCT FROM NEW.organisation_id) "
        "EXECUTE FUNCTION learnloop_bump_config_version()"
    )
    op.execute(
        "CREATE TRIGGER user_account_deleted_config_version AFTER DELETE ON user_account "
        "FOR EACH ROW EXECUTE FUNCTION learnloop_bump_config_version()"
    )
    op.execute(
        "CREATE TRIGGER organisation_config_version BEFORE UPDATE ON organisation FOR EACH ROW "
        "WHEN (OLD.settings::text IS DISTINCT FROM NEW.settings::text "
        "OR OLD.default_timezone IS DISTINCT FROM NEW.default_timezone) "
        "EXECUTE FUNCTION learnloop_organisation_config_changed()"
    )


def downgrade() -> None:
    for table in _CONFIG_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_config_version ON {table}")
    op.execute("DROP TRIGGER IF EXISTS user_account_config_version ON user_account")
    op.execute("DROP TRIGGER IF EXISTS user_account_deleted_config_version ON user_account")
    op.execute("DROP TRIGGER IF EXISTS organisation_config_version ON organisation")
    op.execute("DROP FUNCTION IF EXISTS learnloop_bump_config_version()")
    op.execute("DROP FUNCTION IF EXISTS learnloop_organisation_config_changed()")
    op.drop_column("organisation", "config_version")
