"""budget requests decided in steps: the manager's step, the final decision and its note

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.types import UtcDateTime

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("training_request", sa.Column("manager_id", sa.Integer(), nullable=True))
    op.add_column(
        "training_request",
        sa.Column("manager_name", sa.String(length=200), nullable=False, server_default=""),
    )
    op.add_column("training_request", sa.Column("manager_decided_at", UtcDateTime(), nullable=True))
    op.add_column("training_request", sa.Column("decided_by_id", sa.Integer(), nullable=True))
    op.add_column(
        "training_request",
        sa.Column("decided_by_name", sa.String(length=200), nullable=False, server_default=""),
    )
    op.add_column(
        "training_request",
        sa.Column("decision_note", sa.String(length=500), nullable=False, server_default=""),
    )
    for column in ("manager_name", "decided_by_name", "decision_note"):
        op.alter_column("training_request", column, server_default=None)
    op.create_foreign_key(
        "fk_training_request_manager_id_user_account",
        "training_request",
        "user_account",
        ["manager_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        "fk_training_request_decided_by_id_user_account",
        "training_request",
        "user_account",
        ["decided_by_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        "ix_training_request_org_status", "training_request", ["organisation_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_training_request_org_status", table_name="training_request")
    op.drop_constraint(
        "fk_training_request_decided_by_id_user_account", "training_request", type_="foreignkey"
    )
    op.drop_constraint(
        "fk_training_request_manager_id_user_account", "training_request", type_="foreignkey"
    )
    for column in (
        "decision_note",
        "decided_by_name",
        "decided_by_id",
        "manager_decided_at",
        "manager_name",
        "manager_id",
    ):
        op.drop_column("training_request", column)
