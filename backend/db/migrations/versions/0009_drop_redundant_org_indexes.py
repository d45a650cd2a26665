"""drop the organisation_id indexes of learning_event and xp_ledger

Each is the leading column of a wider index already (``uq_learning_event_org_key``,
``ix_xp_ledger_org_local_date_user``), which serves every lookup and cascade by organisation;
the narrow ones only cost a write per event and per ledger entry.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 06:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_learning_event_organisation_id", table_name="learning_event")
    op.drop_index("ix_xp_ledger_organisation_id", table_name="xp_ledger")


def downgrade() -> None:
    op.create_index("ix_xp_ledger_organisation_id", "xp_ledger", ["organisation_id"])
    op.create_index("ix_learning_event_organisation_id", "learning_event", ["organisation_id"])
