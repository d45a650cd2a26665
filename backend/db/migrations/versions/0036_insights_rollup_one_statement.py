"""The insights rollups in one statement per trigger call, not three

Migration 0022's trigger kept ``learner_week``, ``learner_month`` and
``learner_competency_week`` with three upserts, each joining the new events to
``user_account`` and ``course`` again and each started, run and ended by PL/pgSQL on its own.
A single xAPI statement is one insert of one event, so that was three executor runs per
statement: ~28 % of PostgreSQL's CPU under a single-statement load (perf over the backends).
Here the events are joined once (a materialised CTE with every measure's condition) and the
three upserts read it, in one statement. Same rows, same sums; the tables are upserted in the
same key order, so concurrent writers still cannot deadlock.

The voiding trigger (0032, the same upserts subtracting) and the rebuild (0032: without voided
events) are made from the same SQL again.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-08 02:10:00.000000
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _migration(name: str) -> ModuleType:
    """An earlier migration's module (its SQL stays in one place)."""
    path = next(Path(__file__).parent.glob(f"{name}_*.py"))
    spec = importlib.util.spec_from_file_location(f"learnloop_migration_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_0022 = _migration("0022")
_0032 = _migration("0032")
_WEEK_MEASURES: tuple[str, ...] = _0022._WEEK_MEASURES
_COMPETENCY_MEASURES: tuple[str, ...] = _0022._COMPETENCY_MEASURES


def _bucket_upsert(table: str, bucket: str) -> str:
    return f"""{bucket.split("_")[0]} AS (
  INSERT INTO {table} AS w (organisation_id, user_id, {bucket}, {", ".join(_WEEK_MEASURES)})
  SELECT e.organisation_id, e.user_id, e.{bucket},
    count(*) FILTER (WHERE e.active), count(*) FILTER (WHERE e.formal),
    count(*) FILTER (WHERE e.kind = 'completion'), count(*) FILTER (WHERE e.informal),
    coalesce(sum(e.minutes) FILTER (WHERE e.formal), 0),
    coalesce(sum(e.minutes) FILTER (WHERE e.informal), 0),
    coalesce(sum(e.minutes) FILTER (WHERE e.horizontal), 0),
    coalesce(sum(e.minutes) FILTER (WHERE e.vertical), 0),
    coalesce(sum(e.minutes) FILTER (WHERE e.family_unknown), 0)
  FROM e GROUP BY 1, 2, 3 ORDER BY 2, 3
  ON CONFLICT (user_id, {bucket}) DO UPDATE SET {_0022._add(_WEEK_MEASURES)}
)"""


def _competency_upsert() -> str:
    """0022's competency upsert (the last of its three) over the events of ``e``: its
    aggregates and conflict rule around a subquery that reads the joined events."""
    theirs = _0022._rollup("new_events")
    theirs = theirs[theirs.index("INSERT INTO learner_competency_week") :]
    head, rest = theirs.split("FROM (\n", 1)
    _, tail = rest.split("\n) x\n", 1)
    ours = """  SELECT e.id, e.organisation_id, e.user_id, e.competency_id, e.week_start, e.minutes,
    e.formal
  FROM e WHERE e.competency_id IS NOT NULL AND (e.formal OR e.informal)
  UNION
  SELECT e.id, e.organisation_id, e.user_id, cc.competency_id, e.week_start, e.minutes,
    e.formal
  FROM e JOIN course_competency cc ON cc.course_id = e.course_id
  WHERE e.formal OR e.informal"""
    return f"{head}FROM (\n{ours}\n) x\n{tail}"


def _rollup(source: str) -> str:
    """The three upserts over the events of ``source`` (a relation aliased ``e`` inside), in
    one statement; 0022's measures (a NULL job family counts in neither horizontal nor
    vertical, as its FILTERs did)."""
    course = _0022._COURSE
    return f"""
WITH e AS MATERIALIZED (
  SELECT e.id, e.organisation_id, e.user_id, e.kind, e.minutes, e.course_id, e.competency_id,
    {_0022._WEEK} AS week_start, {_0022._MONTH} AS month_start,
    {_0022._ACTIVE} AS active, {_0022._FORMAL} AS formal, {_0022._INFORMAL} AS informal,
    ({course} AND c.job_family <> u.job_family) AS horizontal,
    ({course} AND c.job_family = u.job_family) AS vertical,
    ({course} AND (c.job_family IS NULL OR u.job_family IS NULL)) AS family_unknown
  FROM {source} e
  JOIN user_account u ON u.id = e.user_id
  LEFT JOIN course c ON c.id = e.course_id
), {_bucket_upsert("learner_week", "week_start")}, {_bucket_upsert("learner_month", "month_start")}
{_competency_upsert()}"""


def _function(name: str, sql: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
{sql}
  RETURN NULL;
END $$
"""


def _unroll(source: str) -> str:
    """:func:`_rollup` subtracting instead of adding (a voided event taken out again)."""
    return (
        _rollup(source)
        .replace("count(*) FILTER", "-count(*) FILTER")
        .replace("coalesce(sum(", "-coalesce(sum(")
    )


_VOIDED_NOW = (
    "(SELECT n.* FROM voided_new n JOIN voided_old o ON o.id = n.id "
    "WHERE n.voided AND NOT o.voided)"
)
# 0022's rebuild (lock the events, empty the organisation's rows) around these upserts, over
# the events that are not voided (as 0032 made it)
_SOURCE = "(SELECT * FROM learning_event WHERE organisation_id = org)"
_EMPTIED, _END = _0022._REBUILD_FUNCTION.split(_0022._rollup(_SOURCE))
_REBUILD = (
    _EMPTIED.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    + _rollup(_SOURCE.replace("= org)", "= org AND NOT voided)"))
    + _END
)


def upgrade() -> None:
    op.execute(_function("learnloop_insights_rollup", _rollup("new_events")))
    op.execute(_function("learnloop_insights_unroll", _unroll(_VOIDED_NOW)))
    op.execute(_REBUILD)


def downgrade() -> None:
    op.execute(_function("learnloop_insights_rollup", _0022._rollup("new_events")))
    op.execute(_function("learnloop_insights_unroll", _0032._unroll(_VOIDED_NOW)))
    op.execute(_0032._rebuild(" AND NOT voided"))
