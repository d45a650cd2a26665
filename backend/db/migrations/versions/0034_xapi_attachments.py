"""Attachments of xAPI statements, kept by their SHA-2

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 22:45:00.000000
"""

from collections.abc import Sequence

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
