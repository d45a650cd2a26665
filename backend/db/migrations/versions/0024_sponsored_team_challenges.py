"""a sponsored team challenge's message, and its close with a celebration message

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.types import UtcDateTime

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for name in ("message", "closing_message"):
        op.add_column(
            "challenge",
            sa.Column(name, sa.String(length=1000), nullable=False, server_default=""),
        )
        op.alter_column("challenge", name, server_default=None)
    op.add_column("challenge", sa.Column("closed_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    for name in ("closed_at", "closing_message", "message"):
        op.drop_column("challenge", name)
