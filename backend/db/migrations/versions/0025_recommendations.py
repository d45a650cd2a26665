"""recommendations: competencies expected per job family, "not for me", first shown

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 19:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.types import UtcDateTime

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_family_competency",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("job_family", sa.String(length=80), nullable=False),
        sa.Column("competency_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name="fk_job_family_competency_organisation_id_organisation",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["competency_id"],
            ["competency.id"],
            name="fk_job_family_competency_competency_id_competency",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organisation_id", "job_family", "competency_id", name="pk_job_family_competency"
        ),
    )
    op.create_index(
        "ix_job_family_competency_competency_id", "job_family_competency", ["competency_id"]
    )
    for table, extra in (
        ("recommendation_dismissal", "dismissed_at"),
        ("recommendation_shown", "shown_at"),
    ):
        op.create_table(
            table,
            sa.Column("user_id", sa.Integer(), nullable=False),
            sa.Column("course_id", sa.Integer(), nullable=False),
            sa.Column("organisation_id", sa.Integer(), nullable=False),
            sa.Column("reason", sa.String(length=32), nullable=False),
            sa.Column(extra, UtcDateTime(), nullable=False),
            sa.ForeignKeyConstraint(
                ["user_id"],
                ["user_account.id"],
                name=f"fk_{table}_user_id_user_account",
                ondelete="CASCADE",
            ),
            sa.ForeignKeyConstraint(
                ["course_id"],
                ["course.id"],
                name=f"fk_{table}_course_id_course",
                ondelete="CASCADE",
            ),
            sa.ForeignKeyConstraint(
                ["organisation_id"],
                ["organisation.id"],
                name=f"fk_{table}_organisation_id_organisation",
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("user_id", "course_id", name=f"pk_{table}"),
        )
    op.create_index(
        "ix_recommendation_dismissal_organisation_id",
        "recommendation_dismissal",
        ["organisation_id"],
    )
    op.create_index(
        "ix_recommendation_shown_org_shown",
        "recommendation_shown",
        ["organisation_id", "shown_at"],
    )


def downgrade() -> None:
    op.drop_table("recommendation_shown")
    op.drop_table("recommendation_dismissal")
    op.drop_table("job_family_competency")
