"""the intake log of statements and events received

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.types import UtcDateTime

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "intake_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("credential", sa.String(length=40), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name="fk_intake_log_organisation_id_organisation",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_intake_log"),
    )
    op.create_index("ix_intake_log_org_id", "intake_log", ["organisation_id", "id"])
    op.add_column("webhook_secret", sa.Column("last_used_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("webhook_secret", "last_used_at")
    op.drop_index("ix_intake_log_org_id", table_name="intake_log")
    op.drop_table("intake_log")
