"""insights rollups: learning per learner and week, kept by a trigger on learning_event

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 17:00:00.000000

The insights (backend/insights/queries.py) must answer in under a second for 100,000 learners
and 10 million events. They read two rollups instead of the events:

- ``learner_week``: one row per learner and ISO week (``week_start``, the Monday): events that
  count as activity, formal events and completions, informal moments, minutes formal /
  informal, and course minutes inside / outside the learner's job family (or unknown);
- ``learner_month``: the same per calendar month (``month_start``, the first), so monthly
  figures (the leadership summary) are exact and distinct learners are rows, not a DISTINCT;
- ``learner_competency_week``: per competency and week (an event's own competency and its
  course's competencies as linked when it was learned), minutes and events formal / informal.

One statement-level AFTER INSERT trigger over the inserted rows keeps both, so every writer
(xAPI, webhook, events API, moments, import, seed, COPY) goes through it; an event whose
idempotency key already exists is not inserted, so it is not counted twice. The rows are
upserted in key order (no deadlock between writers). ``learnloop_insights_rebuild(org)``
recomputes an organisation's rows from its events with the same SQL (the backfill below
uses it; run it after re-linking courses to competencies if the map should follow).

``insights_snapshot``: organisation-wide series of large organisations, kept by the worker
(backend/insights/snapshots.py).

Also: ``ix_learning_event_org_local_date`` (challenge participation counts events of a date
range for the whole organisation) and ``ix_nudge_org_created`` (nudge effectiveness reads
a period's nudges from the index alone; previews are not measured, so not indexed).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.types import UtcDateTime

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WEEK = "(e.local_date - (extract(isodow FROM e.local_date)::int - 1))"
_MONTH = "(e.local_date - (extract(day FROM e.local_date)::int - 1))"
_FORMAL = "e.kind IN ('completion', 'progress', 'experience')"
_INFORMAL = "e.kind = 'informal'"
# gamification.events.LearningFact.counts_as_activity
_ACTIVE = "(e.kind <> 'testimonial' AND (e.kind <> 'progress' OR e.minutes > 0))"
_COURSE = "e.course_id IS NOT NULL AND e.kind <> 'testimonial'"

_WEEK_MEASURES = (
    "active_events",
    "formal_events",
    "completions",
    "moments",
    "minutes_formal",
    "minutes_informal",
    "minutes_horizontal",
    "minutes_vertical",
    "minutes_family_unknown",
)
_COMPETENCY_MEASURES = ("formal_events", "informal_events", "minutes_formal", "minutes_informal")


def _add(measures: Sequence[str]) -> str:
    return ", ".join(f"{m} = w.{m} + excluded.{m}" for m in measures)


def _bucket_upsert(table: str, bucket: str, expression: str, source: str) -> str:
    return f"""
INSERT INTO {table} AS w (organisation_id, user_id, {bucket}, {", ".join(_WEEK_MEASURES)})
SELECT e.organisation_id, e.user_id, {expression},
  count(*) FILTER (WHERE {_ACTIVE}),
  count(*) FILTER (WHERE {_FORMAL}),
  count(*) FILTER (WHERE e.kind = 'completion'),
  count(*) FILTER (WHERE {_INFORMAL}),
  coalesce(sum(e.minutes) FILTER (WHERE {_FORMAL}), 0),
  coalesce(sum(e.minutes) FILTER (WHERE {_INFORMAL}), 0),
  coalesce(sum(e.minutes) FILTER (WHERE {_COURSE} AND c.job_family <> u.job_family), 0),
  coalesce(sum(e.minutes) FILTER (WHERE {_COURSE} AND c.job_family = u.job_family), 0),
  coalesce(sum(e.minutes) FILTER (WHERE {_COURSE}
                                    AND (c.job_family IS NULL OR u.job_family IS NULL)), 0)
FROM {source} e
JOIN user_account u ON u.id = e.user_id
LEFT JOIN course c ON c.id = e.course_id
GROUP BY 1, 2, 3
ORDER BY 2, 3
ON CONFLICT (user_id, {bucket}) DO UPDATE SET {_add(_WEEK_MEASURES)};
"""


def _rollup(source: str) -> str:
    """The three upserts, over the events of ``source`` (a relation aliased ``e`` inside)."""
    return (
        _bucket_upsert("learner_week", "week_start", _WEEK, source)
        + _bucket_upsert("learner_month", "month_start", _MONTH, source)
        + f"""
INSERT INTO learner_competency_week AS w (organisation_id, user_id, competency_id, week_start,
  {", ".join(_COMPETENCY_MEASURES)})
SELECT x.organisation_id, x.user_id, x.competency_id, x.week_start,
  count(*) FILTER (WHERE x.formal), count(*) FILTER (WHERE NOT x.formal),
  coalesce(sum(x.minutes) FILTER (WHERE x.formal), 0),
  coalesce(sum(x.minutes) FILTER (WHERE NOT x.formal), 0)
FROM (
  SELECT e.id, e.organisation_id, e.user_id, e.competency_id, {_WEEK} AS week_start,
    e.minutes, {_FORMAL} AS formal
  FROM {source} e
  WHERE e.competency_id IS NOT NULL AND ({_FORMAL} OR {_INFORMAL})
  UNION
  SELECT e.id, e.organisation_id, e.user_id, cc.competency_id, {_WEEK}, e.minutes, {_FORMAL}
  FROM {source} e JOIN course_competency cc ON cc.course_id = e.course_id
  WHERE {_FORMAL} OR {_INFORMAL}
) x
GROUP BY 1, 2, 3, 4
ORDER BY 2, 3, 4
ON CONFLICT (user_id, competency_id, week_start) DO UPDATE SET {_add(_COMPETENCY_MEASURES)};
"""
    )


_TRIGGER_FUNCTION = f"""
CREATE FUNCTION learnloop_insights_rollup() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
{_rollup("new_events")}
  RETURN NULL;
END $$
"""
# The organisation's rows from its events; no event may be inserted meanwhile (SHARE lock).
_REBUILD_FUNCTION = f"""
CREATE FUNCTION learnloop_insights_rebuild(org integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE learning_event IN SHARE MODE;
  DELETE FROM learner_week WHERE organisation_id = org;
  DELETE FROM learner_month WHERE organisation_id = org;
  DELETE FROM learner_competency_week WHERE organisation_id = org;
{_rollup("(SELECT * FROM learning_event WHERE organisation_id = org)")}
END $$
"""


def _measure_columns(measures: Sequence[str]) -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column(m, sa.Integer(), nullable=False, server_default="0") for m in measures]


def _learner_table(name: str, keys: Sequence[str], measures: Sequence[str]) -> None:
    op.create_table(
        name,
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        *[
            sa.Column(k, sa.Date() if k.endswith("_start") else sa.Integer(), nullable=False)
            for k in keys
        ],
        *_measure_columns(measures),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=f"fk_{name}_user_id_user_account",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", *keys, name=f"pk_{name}"),
    )
    bucket = keys[-1]
    op.create_index(f"ix_{name}_org_{bucket.split('_')[0]}", name, ["organisation_id", bucket])
    # the current bucket's rows are updated with every event: room on the page for HOT updates
    op.execute(f"ALTER TABLE {name} SET (fillfactor = 80)")


_TABLES = (
    ("learner_week", ("week_start",), _WEEK_MEASURES),
    ("learner_month", ("month_start",), _WEEK_MEASURES),
    ("learner_competency_week", ("competency_id", "week_start"), _COMPETENCY_MEASURES),
)


def upgrade() -> None:
    for name, keys, measures in _TABLES:
        _learner_table(name, keys, measures)
    op.create_table(
        "insights_snapshot",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("query", sa.String(length=40), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("floor", sa.Integer(), nullable=False),
        sa.Column("group_size", sa.Integer(), nullable=False),
        sa.Column("computed_at", UtcDateTime(), nullable=False),
        sa.Column("series", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name="fk_insights_snapshot_organisation_id_organisation",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organisation_id", "query", "period_start", "period_end", name="pk_insights_snapshot"
        ),
    )
    op.create_index(
        "ix_learning_event_org_local_date",
        "learning_event",
        ["organisation_id", "local_date"],
        postgresql_include=["user_id", "kind", "course_id", "competency_id"],
    )
    op.create_index(
        "ix_nudge_org_created",
        "nudge",
        ["organisation_id", "created_at"],
        postgresql_include=["user_id", "kind", "variant", "sent_at", "clicked_at", "learned_at"],
        postgresql_where=sa.text("dedupe_key NOT LIKE 'preview:%'"),
    )
    op.execute(_TRIGGER_FUNCTION)
    op.execute(_REBUILD_FUNCTION)
    op.execute(
        "CREATE TRIGGER learning_event_insights_rollup AFTER INSERT ON learning_event "
        "REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT "
        "EXECUTE FUNCTION learnloop_insights_rollup()"
    )
    op.execute("SELECT learnloop_insights_rebuild(id) FROM organisation ORDER BY id")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS learning_event_insights_rollup ON learning_event")
    op.execute("DROP FUNCTION IF EXISTS learnloop_insights_rebuild(integer)")
    op.execute("DROP FUNCTION IF EXISTS learnloop_insights_rollup()")
    op.drop_table("insights_snapshot")
    op.drop_index("ix_nudge_org_created", table_name="nudge")
    op.drop_index("ix_learning_event_org_local_date", table_name="learning_event")
    for name, keys, _measures in reversed(_TABLES):
        op.drop_index(f"ix_{name}_org_{keys[-1].split('_')[0]}", table_name=name)
        op.drop_table(name)
