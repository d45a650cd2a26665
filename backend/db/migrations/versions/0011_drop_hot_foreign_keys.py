"""drop three foreign keys that every ingested event checked and none needed

``learning_event.organisation_id`` and ``xp_ledger.organisation_id`` -> ``organisation`` and
``xp_ledger.event_id`` -> ``learning_event``. Every event paid for their checks: an index
lookup and a ``FOR KEY SHARE`` lock per row, and the organisation's row, locked by every
concurrent ingestion, turned into a multixact. What they guarded stays guarded:

- a row's organisation is its learner's (``user_id`` still references ``user_account``,
  whose ``organisation_id`` references ``organisation``), and deleting an organisation
  still deletes its events and ledger through its learners (``ON DELETE CASCADE`` twice);
- a ledger entry is written in the statement that writes its event, and events are only
  ever deleted with their learner, who takes the ledger along.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 06:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("fk_xp_ledger_organisation_id_organisation", "xp_ledger", type_="foreignkey")
    op.drop_constraint("fk_xp_ledger_event_id_learning_event", "xp_ledger", type_="foreignkey")
    op.drop_constraint(
        "fk_learning_event_organisation_id_organisation", "learning_event", type_="foreignkey"
    )


def downgrade() -> None:
    op.create_foreign_key(
        "fk_learning_event_organisation_id_organisation",
        "learning_event",
        "organisation",
        ["organisation_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        "fk_xp_ledger_event_id_learning_event",
        "xp_ledger",
        "learning_event",
        ["event_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        "fk_xp_ledger_organisation_id_organisation",
        "xp_ledger",
        "organisation",
        ["organisation_id"],
        ["id"],
        ondelete="CASCADE",
    )
