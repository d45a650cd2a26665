"""badge revocation: an awarded tier can be withdrawn, and its credential says so

Revision ID: 0027
Revises: 0025
Create Date: 2026-12-07 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.types import UtcDateTime

revision: str = "0027"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("badge_award", sa.Column("revoked_at", UtcDateTime(), nullable=True))
    op.add_column(
        "badge_award",
        sa.Column("revocation_reason", sa.String(length=300), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_column("badge_award", "revocation_reason")
    op.drop_column("badge_award", "revoked_at")
