"""Indexes for reading statements at ten million rows

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 22:45:00.000000
"""

from collections.abc import Sequence

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
