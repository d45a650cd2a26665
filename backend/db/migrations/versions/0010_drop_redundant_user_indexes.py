"""drop ix_learning_event_user_local_date and ix_xp_ledger_user_created

A learner's events are read by ``ix_learning_event_user_occurred`` (user, occurred_at, id,
including local_date): the recent-learning list filters on local_date inside it. A learner's
ledger is read by ``ix_xp_ledger_user_local_date``; only the privacy export orders it by
``created_at``, and one learner's ledger sorts in memory. Each index cost a write per event
or ledger entry.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 11:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_learning_event_user_local_date", table_name="learning_event")
    op.drop_index("ix_xp_ledger_user_created", table_name="xp_ledger")


def downgrade() -> None:
    op.create_index("ix_xp_ledger_user_created", "xp_ledger", ["user_id", "created_at"])
    op.create_index(
        "ix_learning_event_user_local_date", "learning_event", ["user_id", "local_date"]
    )
