"""job families of people and courses, a person's own yearly budget

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("user_account", sa.Column("job_family", sa.String(length=80), nullable=True))
    op.add_column("user_account", sa.Column("yearly_budget_cents", sa.Integer(), nullable=True))
    op.add_column("course", sa.Column("job_family", sa.String(length=80), nullable=True))


def downgrade() -> None:
    op.drop_column("course", "job_family")
    op.drop_column("user_account", "yearly_budget_cents")
    op.drop_column("user_account", "job_family")
