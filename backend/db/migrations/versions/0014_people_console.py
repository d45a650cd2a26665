"""invitations, password-reset links and sign-in per organisation

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.types import UtcDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name="fk_sign_in_link_organisation_id_organisation",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name="fk_sign_in_link_user_id_user_account",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sign_in_link"),
        sa.UniqueConstraint("token_hash", name="uq_sign_in_link_token_hash"),
    )
    op.create_index(
        "ix_sign_in_link_organisation_id", "sign_in_link", ["organisation_id"], unique=False
    )
    op.create_index("ix_sign_in_link_user_id", "sign_in_link", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sign_in_link_user_id", table_name="sign_in_link")
    op.drop_index("ix_sign_in_link_organisation_id", table_name="sign_in_link")
    op.drop_table("sign_in_link")
