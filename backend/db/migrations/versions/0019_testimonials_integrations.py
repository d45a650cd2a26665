"""testimonial moderation: status, approval, hiding reason and who moderated

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.types import UtcDateTime

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # testimonials written before moderation existed were never reviewed: pending, which the
    # default setting (show before approval) keeps visible as they were
    op.add_column(
        "testimonial",
        sa.Column("status", sa.String(length=16), nullable=False, server_default="pending"),
    )
    op.alter_column("testimonial", "status", server_default=None)
    op.add_column("testimonial", sa.Column("approved_at", UtcDateTime(), nullable=True))
    op.add_column(
        "testimonial",
        sa.Column("hidden_reason", sa.String(length=500), nullable=False, server_default=""),
    )
    op.alter_column("testimonial", "hidden_reason", server_default=None)
    op.add_column("testimonial", sa.Column("moderated_at", UtcDateTime(), nullable=True))
    op.add_column("testimonial", sa.Column("moderated_by_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        "fk_testimonial_moderated_by_id_user_account",
        "testimonial",
        "user_account",
        ["moderated_by_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    op.drop_constraint(
        "fk_testimonial_moderated_by_id_user_account", "testimonial", type_="foreignkey"
    )
    for column in ("moderated_by_id", "moderated_at", "hidden_reason", "approved_at", "status"):
        op.drop_column("testimonial", column)
