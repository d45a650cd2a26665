"""badge revocation: an awarded tier can be withdrawn, and its credential says so; the
default "Uitdagingzoeker" badge says "uitdagingen" as the app does

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
    # only where L&D kept the default text (backend/badges/defaults.py)
    op.execute(
        sa.text(
            "UPDATE badge_definition SET description = :new "
            "WHERE code = 'challenger' AND description = :old"
        ).bindparams(
            old="Je gaat de uitdaging aan en maakt challenges af.",
            new="Je doet mee aan uitdagingen en maakt ze af.",
        )
    )


def downgrade() -> None:
    op.drop_column("badge_award", "revocation_reason")
    op.drop_column("badge_award", "revoked_at")
