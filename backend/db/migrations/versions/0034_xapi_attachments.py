"""Attachments of xAPI statements, kept by their SHA-2

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 22:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from backend.db.types import UtcDateTime

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "xapi_attachment",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("sha2", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_xapi_attachment_organisation_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organisation_id", "sha2", name=op.f("pk_xapi_attachment")),
    )


def downgrade() -> None:
    op.drop_table("xapi_attachment")
