"""Kept answers of the insights about a whole large organisation, refreshed by the worker.

A team's insights read a few hundred rollup rows and answer in milliseconds; the whole
organisation's read one rollup row per learner and week (about a million for 100,000
learners over 12 weeks: 0.2-1 s per insight on two cores, more for the competency map). So
for organisations of at least ``MIN_LEARNERS`` active learners, the worker's scheduler loop
computes the organisation-wide series of the page's preset periods (4, 12, 26 and 52 weeks
up to today; this month and the last for the leadership summary) every ``REFRESH_EVERY``
with the very query functions the pages call, and keeps them in ``insights_snapshot``.

A query about the whole organisation uses a kept series only when it is about exactly that
period, at most ``MAX_AGE`` old, and was made for the same floor and group size (a raised
floor or a person joining or leaving makes it unusable, so a kept series never shows what
the floor now hides); anything else is computed live. Each kept series says when it was
made (``extra["as_of"]``).
"""

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.db.models import InsightsSnapshot, Organisation, User
from backend.insights.privacy import Group, GroupTooSmall, group_for
from backend.insights.series import Column, Period, Series
from backend.tenancy import OrgScope

log = logging.getLogger(__name__)

MIN_LEARNERS = 5_000
REFRESH_EVERY = timedelta(minutes=15)
MAX_AGE = timedelta(minutes=30)
PRESET_WEEKS = (4, 12, 26, 52)  # backend/insights/periods.py PRESETS
_DATE_UNITS = {"week", "month", "day"}

Query = Callable[[OrgScope, Group, Period], Awaitable[Series]]
KEPT: dict[str, Query] = {}  # the kept queries by name, in the order they were declared
# queries whose rows are weeks, each about its own week only: a shorter preset's answer is
# the last rows of the longest one's (computed once per refresh)
WEEKLY: set[str] = set()


def kept(query: Query, *, weekly: bool = False) -> Query:
    """A query whose organisation-wide answers the worker keeps (see the module)."""
    name = query.__name__
    if weekly:
        WEEKLY.add(name)

    @wraps(query)
    async def answer(scope: OrgScope, group: Group, period: Period) -> Series:
        if group.team_id is None and group.job_family is None:
            found = await _read(scope, group, period, name)
            if found is not None:
                return found
        return await query(scope, group, period)

    KEPT[name] = query
    return answer


def weekly_kept(query: Query) -> Query:
    """``kept`` for a query whose rows are weeks, each about its own week only."""
    return kept(query, weekly=True)


def _encode(series: Series) -> dict[str, Any]:
    def cell(value: Any) -> Any:
        return value.isoformat() if isinstance(value, date) else value

    return {
        "key": series.key,
        "title": series.title,
        "columns": [[c.key, c.label, c.unit] for c in series.columns],
        "rows": [[cell(v) for v in row] for row in series.rows],
        "chart": series.chart,
        "suppressed_rows": series.suppressed_rows,
        "note": series.note,
        "extra": {k: cell(v) for k, v in series.extra.items()},
    }


def _decode(document: dict[str, Any], as_of: datetime) -> Series:
    columns = tuple(Column(key, label, unit) for key, label, unit in document["columns"])
    dates = [c.unit in _DATE_UNITS for c in columns]
    rows = [
        tuple(
            date.fromisoformat(v) if is_date and v is not None else v
            for v, is_date in zip(row, dates, strict=True)
        )
        for row in document["rows"]
    ]
    return Series(
        key=document["key"],
        title=document["title"],
        columns=columns,
        rows=rows,
        chart=document["chart"],
        suppressed_rows=document["suppressed_rows"],
        note=document["note"],
        extra={**document["extra"], "as_of": as_of.isoformat(timespec="minutes")},
    )


async def _read(scope: OrgScope, group: Group, period: Period, name: str) -> Series | None:
    s = InsightsSnapshot
    conn = await scope.session.connection()
    row = (
        await conn.execute(
            select(col(s.series), col(s.computed_at)).where(
                col(s.organisation_id) == scope.organisation_id,
                col(s.query) == name,
                col(s.period_start) == period.start,
                col(s.period_end) == period.end,
                col(s.floor) == group.floor,
                col(s.group_size) == group.size,
                col(s.computed_at) >= datetime.now(UTC) - MAX_AGE,
            )
        )
    ).first()
    if row is None:
        return None
    document, computed_at = row
    return _decode(document if isinstance(document, dict) else json.loads(document), computed_at)


def _last_weeks(series: Series, period: Period) -> Series:
    """The rows of a weekly series from the week of ``period.start`` on."""
    first = period.start - timedelta(days=period.start.weekday())
    rows = [row for row in series.rows if isinstance(row[0], date) and row[0] >= first]
    return replace(series, rows=rows, suppressed_rows=sum(None in row for row in rows))


def preset_periods(today: date) -> list[Period]:
    """The periods the pages offer (periods.parse_period's presets) and the leadership
    summary's months (the running one and the last that ended)."""
    monday = today - timedelta(days=today.weekday())
    periods = [Period(monday - timedelta(weeks=w - 1), today) for w in PRESET_WEEKS]
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    periods += [Period(this_month, today), Period(last_month, this_month - timedelta(days=1))]
    return periods


async def refresh(
    session: AsyncSession, organisation_id: int, today: date, *, now: datetime | None = None
) -> int:
    """Compute and keep the organisation-wide series of every kept query for the preset
    periods (live, as a page would); the number kept. Nothing when the organisation is
    below the floor."""
    from backend.insights import queries  # noqa: F401  (declares the kept queries)

    now = now or datetime.now(UTC)
    principal = Principal(
        organisation_id=organisation_id,
        user_id=None,
        roles=frozenset({"ld_admin"}),
        via="cli",
    )
    scope = OrgScope(session, principal)
    try:
        group = await group_for(scope)
    except GroupTooSmall:
        return 0
    kept_rows = []
    periods = preset_periods(today)
    longest = min(periods, key=lambda p: p.start)
    weeks_of_longest = {name: await KEPT[name](scope, group, longest) for name in WEEKLY}
    for period in periods:
        for name, query in KEPT.items():
            if name == "leadership_summary" and period.start.day != 1:
                continue
            if name != "leadership_summary" and period.start.day == 1 and period.end != today:
                continue
            if name in WEEKLY:
                series = _last_weeks(weeks_of_longest[name], period)
            else:
                series = await query(scope, group, period)
            kept_rows.append(
                {
                    "organisation_id": organisation_id,
                    "query": name,
                    "period_start": period.start,
                    "period_end": period.end,
                    "floor": group.floor,
                    "group_size": group.size,
                    "computed_at": now,
                    "series": _encode(series),
                }
            )
    s = InsightsSnapshot
    conn = await session.connection()
    await conn.execute(
        delete(s).where(
            col(s.organisation_id) == organisation_id, col(s.computed_at) < now - MAX_AGE
        )
    )
    if not kept_rows:
        await session.commit()
        return 0
    statement = insert(s).values(kept_rows)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["organisation_id", "query", "period_start", "period_end"],
            set_={
                "floor": statement.excluded.floor,
                "group_size": statement.excluded.group_size,
                "computed_at": statement.excluded.computed_at,
                "series": statement.excluded.series,
            },
        )
    )
    await session.commit()
    return len(kept_rows)


async def refresh_due(
    sessionmaker: Callable[[], AsyncSession], now: datetime, *, min_learners: int = MIN_LEARNERS
) -> int:
    """Refresh the organisations of at least ``min_learners`` active learners whose kept
    series are older than ``REFRESH_EVERY`` (the worker's scheduler loop calls this)."""
    async with sessionmaker() as session:
        conn = await session.connection()
        large = (
            await conn.execute(
                select(col(User.organisation_id))
                .where(col(User.is_active).is_(True))
                .group_by(col(User.organisation_id))
                .having(func.count() >= min_learners)
            )
        ).scalars()
        recent = (
            await conn.execute(
                select(col(InsightsSnapshot.organisation_id))
                .where(col(InsightsSnapshot.computed_at) >= now - REFRESH_EVERY)
                .distinct()
            )
        ).scalars()
        due = [o for o in large.all() if o not in set(recent.all())]
    kept_count = 0
    for organisation_id in due:
        async with sessionmaker() as session:
            organisation = await session.get(Organisation, organisation_id)
            if organisation is None:
                continue
            today = now.astimezone(ZoneInfo(organisation.default_timezone)).date()
            try:
                kept_count += await refresh(session, organisation_id, today, now=now)
            except Exception:
                log.exception("insights of organisation %s not refreshed", organisation_id)
    return kept_count
