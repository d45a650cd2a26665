"""Reserved for the voiding race and target_keys fixes (issue 19 item 4)

Revision ID: 0037
Revises: 0036 (0035 until the lead's 0036 lands)
Create Date: 2026-12-08 01:55:00.000000
"""

from collections.abc import Sequence
from pathlib import Path

revision: str = "0037"
# 0036 is reserved by the lead; until its file lands this follows 0035, so the chain stays
# one line either way
down_revision: str | None = "0036" if any(Path(__file__).parent.glob("0036_*.py")) else "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
