"""training requests

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 18:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.db.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "training_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("cost_cents", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("created_at", backend.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", backend.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["course.id"],
            name=op.f("fk_training_request_course_id_course"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_training_request_organisation_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_training_request_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_request")),
        sa.UniqueConstraint("user_id", "course_id", name="uq_training_request_user_course"),
    )
    with op.batch_alter_table("training_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_training_request_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_training_request_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("training_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_request_user_id"))
        batch_op.drop_index(batch_op.f("ix_training_request_organisation_id"))

    op.drop_table("training_request")
