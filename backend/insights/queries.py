"""The insights' figures, each a ``Series`` about a ``Group`` of learners over a ``Period``.

Every function takes ``(scope, group, period)``: the group comes from
``backend.insights.privacy.group_for`` (so it is at least the floor's size and the caller
may see it) and every row read is limited to its learners with ``group.where``. A figure
about fewer learners than the floor is ``None`` (a breakdown row of them is left out where
the row itself would tell that someone learned it, e.g. a competency) and counted in
``suppressed_rows``; zero is shown (it is about nobody).

Learning is read from the rollups of migration 0022 (``learner_week``, ``learner_month``,
``learner_competency_week``: a statement trigger on ``learning_event`` keeps them), never
from the events; a team answers in milliseconds. A large organisation's organisation-wide
answers are kept by the worker (``backend.insights.snapshots``: the ``@kept`` queries), so
they too answer in milliseconds for 100,000 learners (benchmarks/insights.py). Formal
learning is completions, progress and experiences (course events from an LMS or the
catalogue); informal learning is the moments people log.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal_column, select, text
from sqlmodel import col

from backend.challenges.services import challenge_counts
from backend.db.models import (
    Challenge,
    Competency,
    LearnerCompetencyWeek,
    LearnerMonth,
    LearnerState,
    LearnerWeek,
    Nudge,
)
from backend.insights.privacy import Group, visible
from backend.insights.series import Cell, Column, Period, Series
from backend.insights.snapshots import kept, weekly_kept
from backend.learning.rules import org_rules
from backend.tenancy import OrgScope
from gamification.challenges import ChallengeDefinition
from gamification.periods import week_start
from gamification.rules import StreakMode
from pwa.i18n import N_

WEEK = Column("week", N_("Week"), "week")
MONTH = Column("month", N_("Calendar month"), "month")


def month_start(day: date) -> date:
    return day.replace(day=1)


def weeks_of(period: Period) -> list[date]:
    """The Mondays of the ISO weeks touching ``period``."""
    first, last = week_start(period.start), week_start(period.end)
    return [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]


def shown(value: Cell, learners: int, group: Group, *more: int) -> Cell:
    """``value`` if each set of learners behind it may be shown (none, or at least the floor)."""
    ok = all(n == 0 or visible(n, group) for n in (learners, *more))
    return value if ok else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mine(scope: OrgScope, group: Group) -> int:
    assert group.organisation_id == scope.organisation_id, "a group of another organisation"
    return scope.organisation_id


async def _room_to_group(scope: OrgScope, group: Group) -> None:
    """Memory for grouping a whole organisation's rows per learner (PostgreSQL's default
    4 MB sends 100,000 learners' groups to disk); for this transaction only."""
    if group.team_id is None:
        conn = await scope.session.connection()
        await conn.execute(text("SET LOCAL work_mem = '64MB'"))


async def _rows(scope: OrgScope, statement: Any) -> Sequence[Any]:
    conn = await scope.session.connection()
    # planned for the dates and group at hand: a prepared statement's generic plan (from
    # its sixth run on) read a whole organisation's weeks 6x slower (benchmarks/README.md)
    await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    return (await conn.execute(statement)).all()


# --- weekly rollup: active learners, minutes and completions over time ------------------------


@dataclass(frozen=True)
class _Week:
    active: int = 0
    minutes_formal: int = 0
    minutes_informal: int = 0
    completions: int = 0
    moments: int = 0
    formal_learners: int = 0
    informal_learners: int = 0
    completers: int = 0


async def _weekly(scope: OrgScope, group: Group, period: Period) -> dict[date, _Week]:
    w = LearnerWeek
    weeks = weeks_of(period)
    statement = (
        select(
            col(w.week_start),
            func.count().filter(col(w.active_events) > 0),
            func.sum(w.minutes_formal),
            func.sum(w.minutes_informal),
            func.sum(w.completions),
            func.sum(w.moments),
            func.count().filter(col(w.formal_events) > 0),
            func.count().filter(col(w.moments) > 0),
            func.count().filter(col(w.completions) > 0),
        )
        .where(
            col(w.organisation_id) == _mine(scope, group),
            col(w.week_start) >= weeks[0],
            col(w.week_start) <= weeks[-1],
            group.where(w.user_id),
        )
        .group_by(col(w.week_start))
    )
    found = {
        row[0]: _Week(*(int(v or 0) for v in row[1:])) for row in await _rows(scope, statement)
    }
    return {week: found.get(week, _Week()) for week in weeks}


@weekly_kept
async def weekly_active_learners(scope: OrgScope, group: Group, period: Period) -> Series:
    """Per ISO week: the group's learners with learning that counts as activity (what makes
    a streak day), and their share of the group. Counts of people, so never below the floor
    in a way that singles anyone out: the group itself is at least the floor."""
    weeks = await _weekly(scope, group, period)
    return Series(
        key="weekly_active",
        title=N_("Active learners per week"),
        columns=(
            WEEK,
            Column("active", N_("Active learners"), "count"),
            Column("share", N_("Share of the group"), "percent"),
        ),
        rows=[(week, w.active, _share(w.active, group.size)) for week, w in weeks.items()],
        chart="line",
        extra={"group_size": group.size},
    )


@weekly_kept
async def minutes_over_time(scope: OrgScope, group: Group, period: Period) -> Series:
    """Per ISO week: minutes of formal learning (courses) and of informal learning (moments)."""
    weeks = await _weekly(scope, group, period)
    rows: list[tuple[Cell, ...]] = []
    suppressed = 0
    for week, w in weeks.items():
        row = (
            week,
            shown(w.minutes_formal, w.formal_learners, group),
            shown(w.minutes_informal, w.informal_learners, group),
        )
        suppressed += None in row
        rows.append(row)
    return Series(
        key="minutes_over_time",
        title=N_("Minutes of learning per week"),
        columns=(
            WEEK,
            Column("minutes_formal", N_("Formal (courses)"), "minutes"),
            Column("minutes_informal", N_("Informal (learning moments)"), "minutes"),
        ),
        rows=rows,
        chart="stacked_bars",
        suppressed_rows=suppressed,
    )


@weekly_kept
async def completions_over_time(scope: OrgScope, group: Group, period: Period) -> Series:
    """Per ISO week: course completions (formal) and learning moments logged (informal)."""
    weeks = await _weekly(scope, group, period)
    rows: list[tuple[Cell, ...]] = []
    suppressed = 0
    for week, w in weeks.items():
        row = (
            week,
            shown(w.completions, w.completers, group),
            shown(w.moments, w.informal_learners, group),
        )
        suppressed += None in row
        rows.append(row)
    return Series(
        key="completions_over_time",
        title=N_("Completions and learning moments per week"),
        columns=(
            WEEK,
            Column("completions", N_("Course completions"), "count"),
            Column("moments", N_("Learning moments"), "count"),
        ),
        rows=rows,
        chart="line",
        suppressed_rows=suppressed,
    )


# --- competencies: the organisation's knowledge map ------------------------------------------


@kept
async def learning_by_competency(scope: OrgScope, group: Group, period: Period) -> Series:
    """Per competency, most minutes first: the learners who learned in it and their minutes,
    formal and informal (a course's minutes count for each of its competencies). A
    competency fewer learners than the floor learned in is left out (its name would say
    that someone did)."""
    c = LearnerCompetencyWeek
    weeks = weeks_of(period)
    await _room_to_group(scope, group)
    per_learner = (
        select(
            col(c.competency_id).label("competency_id"),
            func.sum(c.minutes_formal).label("mf"),
            func.sum(c.minutes_informal).label("mi"),
            func.sum(c.formal_events).label("ef"),
            func.sum(c.informal_events).label("ei"),
        )
        .where(
            col(c.organisation_id) == _mine(scope, group),
            col(c.week_start) >= weeks[0],
            col(c.week_start) <= weeks[-1],
            group.where(c.user_id),
        )
        .group_by(col(c.competency_id), col(c.user_id))
        .subquery()
    )
    minutes = func.sum(per_learner.c.mf) + func.sum(per_learner.c.mi)
    statement = (
        select(
            col(Competency.name),
            func.count(),
            func.count().filter(per_learner.c.ef > 0),
            func.count().filter(per_learner.c.ei > 0),
            func.sum(per_learner.c.mf),
            func.sum(per_learner.c.mi),
        )
        .join(Competency, col(Competency.id) == per_learner.c.competency_id)
        .where(col(Competency.organisation_id) == scope.organisation_id)
        .group_by(col(Competency.id), col(Competency.name))
        .order_by(minutes.desc(), col(Competency.name))
    )
    rows: list[tuple[Cell, ...]] = []
    suppressed = 0
    for name, learners, formal, informal, mf, mi in await _rows(scope, statement):
        if not visible(learners, group):
            suppressed += 1
            continue
        rows.append(
            (
                name,
                learners,
                shown(int(mf or 0), formal, group),
                shown(int(mi or 0), informal, group),
            )
        )
    return Series(
        key="competencies",
        title=N_("Learning by competency"),
        columns=(
            Column("competency", N_("Competency"), "text"),
            Column("learners", N_("Learners"), "count"),
            Column("minutes_formal", N_("Formal (courses)"), "minutes"),
            Column("minutes_informal", N_("Informal (learning moments)"), "minutes"),
        ),
        rows=rows,
        chart="stacked_bars",
        suppressed_rows=suppressed,
        note=N_(
            "What people learn, in courses and on the job; a course counts for each of its competencies."
        ),
    )


# --- horizontal vs vertical: learning outside or inside one's own job family -----------------

HORIZONTAL = N_("Outside own job family")
VERTICAL = N_("Inside own job family")
FAMILY_UNKNOWN = N_("Course for everyone, or no family set")


@kept
async def horizontal_vertical(scope: OrgScope, group: Group, period: Period) -> Series:
    """Course minutes outside the learner's job family (horizontal), inside it (vertical) or
    with either family unknown, with the learners behind each and its share of the minutes."""
    w = LearnerWeek
    weeks = weeks_of(period)
    await _room_to_group(scope, group)
    per_learner = (
        select(
            func.sum(w.minutes_horizontal).label("h"),
            func.sum(w.minutes_vertical).label("v"),
            func.sum(w.minutes_family_unknown).label("u"),
        )
        .where(
            col(w.organisation_id) == _mine(scope, group),
            col(w.week_start) >= weeks[0],
            col(w.week_start) <= weeks[-1],
            group.where(w.user_id),
        )
        .group_by(col(w.user_id))
        .subquery()
    )
    p = per_learner.c
    statement = select(
        func.coalesce(func.sum(p.h), 0),
        func.count().filter(p.h > 0),
        func.coalesce(func.sum(p.v), 0),
        func.count().filter(p.v > 0),
        func.coalesce(func.sum(p.u), 0),
        func.count().filter(p.u > 0),
    )
    h, h_learners, v, v_learners, u, u_learners = (await _rows(scope, statement))[0]
    total = int(h) + int(v) + int(u)
    rows: list[tuple[Cell, ...]] = []
    suppressed = 0
    for label, minutes, learners in (
        (HORIZONTAL, int(h), h_learners),
        (VERTICAL, int(v), v_learners),
        (FAMILY_UNKNOWN, int(u), u_learners),
    ):
        row = (
            label,
            shown(minutes, learners, group),
            shown(learners, learners, group),
            shown(_share(minutes, total), learners, group),
        )
        suppressed += None in row
        rows.append(row)
    return Series(
        key="horizontal_vertical",
        title=N_("Learning outside and inside one's own job family"),
        columns=(
            Column("kind", N_("Where"), "text"),
            Column("minutes", N_("Course minutes"), "minutes"),
            Column("learners", N_("Learners"), "count"),
            Column("share", N_("Share of course minutes"), "percent"),
        ),
        rows=rows,
        chart="bars",
        suppressed_rows=suppressed,
        note=N_("Horizontal learning: courses made for another job family than one's own."),
    )


# --- streaks ---------------------------------------------------------------------------------

STREAK_BUCKETS = (0, 1, 2, 3, 5, 10, 20, 50)  # lower bounds


def _bucket_label(n: int) -> str:
    low = STREAK_BUCKETS[n]
    if n + 1 == len(STREAK_BUCKETS):
        return f"{low}+"
    high = STREAK_BUCKETS[n + 1] - 1
    return str(low) if high == low else f"{low}–{high}"


def _org_today(timezone: str) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(timezone)).date()


@kept
async def streak_distribution(scope: OrgScope, group: Group, period: Period) -> Series:
    """How many of the group have a current streak of 0, 1, 2, 3-4, ... days or weeks (the
    organisation's streak mode), as of today (``period`` is not used: a streak is now).

    The stored streak is the one of the learner's last event; it counts only while it can
    still go on: in daily mode the last active day is yesterday or later (earlier by the
    freezes banked), in weekly mode last week or later (likewise)."""
    organisation = await scope.organisation()
    mode = org_rules(organisation).streak.mode
    today = _org_today(organisation.default_timezone)
    s = LearnerState
    if mode is StreakMode.WEEKLY:
        unit, days = "weeks", 7
        since = week_start(today) - timedelta(days=7)
    else:
        unit, days = "days", 1
        since = today - timedelta(days=1)
    alive = col(s.last_active_date) >= (
        literal_column(f"'{since.isoformat()}'::date") - col(s.freezes_banked) * days
    )
    streak = case((alive, col(s.current_streak)), else_=0)
    bucket = case(
        *[(streak >= low, n) for n, low in reversed(list(enumerate(STREAK_BUCKETS)))],
        else_=0,
    )
    statement = (
        select(bucket, func.count())
        .where(col(s.organisation_id) == _mine(scope, group), group.where(s.user_id))
        .group_by(bucket)
    )
    counts = {int(b): int(n) for b, n in await _rows(scope, statement)}
    # a learner without a state row has never learned: streak 0
    counts[0] = counts.get(0, 0) + group.size - sum(counts.values())
    rows: list[tuple[Cell, ...]] = []
    suppressed = 0
    for n in range(len(STREAK_BUCKETS)):
        learners = counts.get(n, 0)
        row = (
            _bucket_label(n),
            shown(learners, learners, group),
            shown(_share(learners, group.size), learners, group),
        )
        suppressed += None in row
        rows.append(row)
    return Series(
        key="streaks",
        title=N_("Current streaks in weeks") if unit == "weeks" else N_("Current streaks in days"),
        columns=(
            Column("streak", N_("Streak"), "text"),
            Column("learners", N_("Learners"), "count"),
            Column("share", N_("Share of the group"), "percent"),
        ),
        rows=rows,
        chart="histogram",
        suppressed_rows=suppressed,
        extra={"unit": unit},
    )


# --- challenges ------------------------------------------------------------------------------


@kept
async def challenge_participation(scope: OrgScope, group: Group, period: Period) -> Series:
    """Per organisation challenge running in the period (started by today): the group's
    learners who took part (an event that counts) and who reached the target, and their
    shares of the group."""
    organisation = await scope.organisation()
    today = _org_today(organisation.default_timezone)
    challenges = await scope.all(
        scope.select(Challenge)
        .where(
            col(Challenge.kind) == "individual",
            col(Challenge.starts_on) <= min(period.end, today),
            col(Challenge.ends_on) >= period.start,
        )
        .order_by(col(Challenge.starts_on), col(Challenge.id))
    )
    rows: list[tuple[Cell, ...]] = []
    suppressed = 0
    for challenge in challenges:
        definition = ChallengeDefinition.from_dict(challenge.definition)
        participants, completed = await challenge_counts(
            scope, definition, group=group, until=today
        )
        row = (
            challenge.title,
            challenge.starts_on,
            challenge.ends_on,
            shown(participants, participants, group),
            shown(completed, completed, group),
            shown(_share(participants, group.size), participants, group),
            shown(_share(completed, group.size), completed, group),
        )
        suppressed += None in row
        rows.append(row)
    return Series(
        key="challenges",
        title=N_("Challenge participation"),
        columns=(
            Column("challenge", N_("Challenge"), "text"),
            Column("starts_on", N_("Starts"), "day"),
            Column("ends_on", N_("Ends"), "day"),
            Column("participants", N_("Took part"), "count"),
            Column("completed", N_("Completed"), "count"),
            Column("participation", N_("Share who took part"), "percent"),
            Column("completion", N_("Share who completed"), "percent"),
        ),
        rows=rows,
        chart="bars",
        suppressed_rows=suppressed,
    )


# --- nudges ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NudgeEffect:
    """One kind and text variant of nudge: created, sent, opened (clicked), followed by
    learning within 24 hours, and to how many distinct learners it was sent."""

    kind: str
    variant: str
    created: int
    sent: int
    clicked: int
    learned: int
    recipients: int

    @property
    def click_rate(self) -> float | None:
        return _share(self.clicked, self.sent)

    @property
    def learned_rate(self) -> float | None:
        return _share(self.learned, self.sent)


async def nudge_effects(
    scope: OrgScope, group: Group, since: datetime, until: datetime | None = None
) -> tuple[list[NudgeEffect], int]:
    """The group's nudges created in ``[since, until)`` per kind and variant (L&D's previews
    measure nothing), and how many kinds/variants were left out: sent to fewer learners than
    the floor. The one implementation behind the nudge insights API and the insights page."""
    n = Nudge
    per_learner: Any = (
        select(
            col(n.kind).label("kind"),
            col(n.variant).label("variant"),
            func.count().label("created"),
            func.count(col(n.sent_at)).label("sent"),
            func.count(col(n.clicked_at)).label("clicked"),
            func.count(col(n.learned_at)).label("learned"),
        )
        .where(
            col(n.organisation_id) == _mine(scope, group),
            col(n.created_at) >= since,
            # literally the predicate of ix_nudge_org_created, so the index serves it
            literal_column("dedupe_key NOT LIKE 'preview:%'"),
            group.where(n.user_id),
        )
        .group_by(col(n.kind), col(n.variant), col(n.user_id))
    )
    if until is not None:
        per_learner = per_learner.where(col(n.created_at) < until)
    p = per_learner.subquery()
    statement = (
        select(
            p.c.kind,
            p.c.variant,
            func.sum(p.c.created),
            func.sum(p.c.sent),
            func.sum(p.c.clicked),
            func.sum(p.c.learned),
            func.count().filter(p.c.sent > 0),
        )
        .group_by(p.c.kind, p.c.variant)
        .order_by(p.c.kind, p.c.variant)
    )
    effects, left_out = [], 0
    for kind, variant, created, sent, clicked, learned, recipients in await _rows(scope, statement):
        if not visible(int(recipients), group):
            left_out += 1
            continue
        effects.append(
            NudgeEffect(
                kind, variant, int(created), int(sent), int(clicked), int(learned), recipients
            )
        )
    return effects, left_out


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@kept
async def nudge_effectiveness(scope: OrgScope, group: Group, period: Period) -> Series:
    """Per nudge kind and text variant created in the period (UTC days): sent, opened,
    learned within 24 hours, and the rates of the last two (of those sent)."""
    effects, left_out = await nudge_effects(
        scope, group, _day_start(period.start), _day_start(period.end + timedelta(days=1))
    )
    return Series(
        key="nudges",
        title=N_("Nudge effectiveness"),
        columns=(
            Column("kind", N_("Kind"), "text"),
            Column("variant", N_("Text variant"), "text"),
            Column("sent", N_("Sent"), "count"),
            Column("opened", N_("Opened"), "count"),
            Column("learned", N_("Learned within 24 hours"), "count"),
            Column("open_rate", N_("Opened (share)"), "percent"),
            Column("learned_rate", N_("Learned within 24 hours (share)"), "percent"),
        ),
        rows=[
            (e.kind, e.variant, e.sent, e.clicked, e.learned, e.click_rate, e.learned_rate)
            for e in effects
        ],
        chart="table",
        suppressed_rows=left_out,
    )


# --- the leadership summary ------------------------------------------------------------------


@kept
async def leadership_summary(scope: OrgScope, group: Group, period: Period) -> Series:
    """The month of ``period.end`` and the month before (for the trend), one row each:
    share of the group active, minutes per active learner, course completions, the share of
    learning that was informal (moments of all learning events) and the share of the
    group's yearly learning budget approved by the month's end (backend/budgets)."""
    this_month = month_start(period.end)
    previous = month_start(this_month - timedelta(days=1))
    m = LearnerMonth
    statement = (
        select(
            col(m.month_start),
            func.count().filter(col(m.active_events) > 0),
            func.sum(m.minutes_formal + m.minutes_informal),
            func.count().filter((col(m.minutes_formal) + col(m.minutes_informal)) > 0),
            func.sum(m.completions),
            func.count().filter(col(m.completions) > 0),
            func.sum(m.moments),
            func.count().filter(col(m.moments) > 0),
            func.sum(m.formal_events),
            func.count().filter(col(m.formal_events) > 0),
        )
        .where(
            col(m.organisation_id) == _mine(scope, group),
            col(m.month_start).in_([previous, this_month]),
            group.where(m.user_id),
        )
        .group_by(col(m.month_start))
    )
    found = {r[0]: [int(v or 0) for v in r[1:]] for r in await _rows(scope, statement)}
    budget = await _budget_used(scope, group, [previous, this_month])
    rows: list[tuple[Cell, ...]] = []
    suppressed = 0
    for month in (previous, this_month):
        (active, minutes, with_minutes, completions, completers) = found.get(month, [0] * 9)[:5]
        (moments, informal, formal_events, formal) = found.get(month, [0] * 9)[5:]
        all_events = moments + formal_events
        row: tuple[Cell, ...] = (
            month,
            _share(active, group.size),
            shown(round(minutes / active, 1) if active else None, with_minutes, group),
            shown(completions, completers, group),
            shown(_share(moments, all_events), informal, group, formal),
            budget.get(month) if budget is not None else None,
        )
        suppressed += None in row[2:5]
        rows.append(row)
    return Series(
        key="leadership",
        title=N_("The month in five numbers"),
        columns=(
            MONTH,
            Column("active_share", N_("Active learners (share)"), "percent"),
            Column("minutes_per_active", N_("Minutes per active learner"), "minutes"),
            Column("completions", N_("Course completions"), "count"),
            Column("informal_share", N_("Informal learning (share)"), "percent"),
            Column("budget_used", N_("Learning budget used"), "percent"),
        ),
        rows=rows,
        chart="table",
        suppressed_rows=suppressed,
        extra={"budget": "yes" if budget is not None else "no"},
    )


async def _budget_used(
    scope: OrgScope, group: Group, months: list[date]
) -> dict[date, float | None] | None:
    """The share of the group's yearly learning budget approved by the end of each month (or
    by now for the running one), from the budgets service; None in a month without budget."""
    from backend.budgets.services import used_percent_at  # budgets reach nudges, nudges us

    organisation = await scope.organisation()
    zone = ZoneInfo(organisation.default_timezone)
    now = datetime.now(UTC)
    used: dict[date, float | None] = {}
    for month in months:
        following = (month + timedelta(days=32)).replace(day=1)
        percent = await used_percent_at(
            scope, group, min(datetime.combine(following, time.min, tzinfo=zone), now)
        )
        used[month] = None if percent is None else round(percent / 100, 4)
    return used
