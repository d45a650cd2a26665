"""learning_event (user_id, occurred_at, id) index also holds the columns the nudge tick reads

The scheduler tick reads each due learner's last four weeks of learning (local date, minutes,
kind, course); with these columns in the index that is an index-only scan instead of one heap
page per event. Same key, so every query that used the index still does. On a large table, build the new index CONCURRENTLY beforehand.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 05:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_learning_event_user_occurred"
COLUMNS = ["user_id", "occurred_at", "id"]
INCLUDED = ["local_date", "minutes", "kind", "course_id"]


def upgrade() -> None:
    op.create_index(
        NAME + "_new", "learning_event", COLUMNS, unique=False, postgresql_include=INCLUDED
    )
    op.drop_index(NAME, table_name="learning_event")
    op.execute(f"ALTER INDEX {NAME}_new RENAME TO {NAME}")


def downgrade() -> None:
    op.create_index(NAME + "_old", "learning_event", COLUMNS, unique=False)
    op.drop_index(NAME, table_name="learning_event")
    op.execute(f"ALTER INDEX {NAME}_old RENAME TO {NAME}")
