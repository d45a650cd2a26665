"""xAPI statements: the Statement resource keeps every statement it accepts

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 21:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.db.types import UtcDateTime

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FILTERS = {  # index name: its leading filter column, each then ordered by stored, id
    "ix_xapi_statement_org_actor": "actor_key",
    "ix_xapi_statement_org_verb": "verb_id",
    "ix_xapi_statement_org_activity": "activity_id",
}
_PARTIAL = {  # mostly NULL: only the rows that have one
    "ix_xapi_statement_org_object_agent": "object_agent_key",
    "ix_xapi_statement_org_registration": "registration",
}


def upgrade() -> None:
    op.create_table(
        "xapi_statement",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.Uuid(), nullable=False),
        sa.Column("document", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("actor_key", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("object_agent_key", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("verb_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("activity_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("registration", sa.Uuid(), nullable=True),
        sa.Column("related_agents", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("related_activities", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("timestamp", UtcDateTime(), nullable=False),
        sa.Column("stored", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_xapi_statement")),
        sa.UniqueConstraint("organisation_id", "statement_id", name="uq_xapi_statement_org_id"),
    )
    op.create_index(
        "ix_xapi_statement_org_stored", "xapi_statement", ["organisation_id", "stored", "id"]
    )
    for name, column in _FILTERS.items():
        op.create_index(name, "xapi_statement", ["organisation_id", column, "stored", "id"])
    for name, column in _PARTIAL.items():
        op.create_index(
            name,
            "xapi_statement",
            ["organisation_id", column, "stored", "id"],
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )


def downgrade() -> None:
    op.drop_table("xapi_statement")
