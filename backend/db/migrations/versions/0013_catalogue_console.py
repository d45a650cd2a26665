"""archived courses, competency merges and hot-skill seasons

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 14:00:00.000000

``course.archived_at``: an archived course leaves the learner catalogue, while its events,
XP and badges stay and statements about it still count. ``hot_skill_season``: competencies
and courses that are hot from one date to another; ingestion reads the seasons, so the
table bumps ``organisation.config_version`` like the other tables ingestion reads
(migration 0008), and cached lookups refresh.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.db.types import UtcDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("course", sa.Column("archived_at", UtcDateTime(), nullable=True))
    op.create_table(
        "hot_skill_season",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column(
            "competency_ids",
            postgresql.ARRAY(sa.Integer()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "course_ids", postgresql.ARRAY(sa.Integer()), server_default="{}", nullable=False
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name="fk_hot_skill_season_organisation_id_organisation",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_hot_skill_season"),
    )
    op.create_index(
        "ix_hot_skill_season_org_ends", "hot_skill_season", ["organisation_id", "ends_on"]
    )
    op.execute(
        "CREATE TRIGGER hot_skill_season_config_version "
        "AFTER INSERT OR UPDATE OR DELETE ON hot_skill_season "
        "FOR EACH ROW EXECUTE FUNCTION learnloop_bump_config_version()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS hot_skill_season_config_version ON hot_skill_season")
    op.drop_index("ix_hot_skill_season_org_ends", table_name="hot_skill_season")
    op.drop_table("hot_skill_season")
    op.drop_column("course", "archived_at")
