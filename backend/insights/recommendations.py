"""How often recommended courses are started: the insight L&D reads the recommendations by.

A recommendation counts once per learner and course, when it was first shown
(``recommendation_shown``, written by ``backend.recommendations``); it counts as started when
that learner has learning on that course (a completion, progress or experience from the LMS,
or a moment about it; a testimonial is not a start) that happened at or after that first
showing, whenever it arrived. Rows are per reason (``RecommendationReason``) with a total;
a reason shown to fewer learners than the floor is left out (``privacy.visible``).
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, literal, select
from sqlmodel import col

from backend.db.models import EventKind, LearningEvent, RecommendationShown
from backend.insights.privacy import Group, visible
from backend.insights.queries import _mine, _rows, _share
from backend.insights.series import Cell, Column, Period, Series
from backend.insights.snapshots import kept
from backend.tenancy import OrgScope
from gamification.recommend import RecommendationReason
from pwa.i18n import N_

ALL = N_("All recommendations")
# the reasons in the ranking's own order, as L&D reads them
REASON_LABELS: dict[str, str] = {
    RecommendationReason.GOAL.value: N_("Towards a goal"),
    RecommendationReason.EXPECTED_COMPETENCY.value: N_("Expected in their role"),
    RecommendationReason.HOT_SKILL.value: N_("A hot skill"),
    RecommendationReason.TEAM_PRAISED.value: N_("Praised by their team"),
    RecommendationReason.HORIZONTAL.value: N_("Another field"),
    RecommendationReason.FITS_BUDGET.value: N_("Fits the budget"),
    RecommendationReason.SHORT_FOR_STREAK.value: N_("Short, to keep a streak"),
}
_ORDER = {reason: n for n, reason in enumerate(REASON_LABELS)}


def _start_of(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone))


@kept
async def recommendation_starts(scope: OrgScope, group: Group, period: Period) -> Series:
    """Per reason (and in all): courses first recommended to the group's learners in the
    period (the organisation's local days), how many of them the learner started afterwards,
    and that share."""
    organisation = await scope.organisation()
    zone = organisation.default_timezone
    since = _start_of(period.start, zone)
    until = _start_of(period.end + timedelta(days=1), zone)
    s, e = RecommendationShown, LearningEvent
    # the learner's index (user_id, occurred_at) holds course_id and kind: an index-only probe
    started = exists(
        select(literal(1)).where(
            col(e.user_id) == col(s.user_id),
            col(e.occurred_at) >= col(s.shown_at),
            col(e.course_id) == col(s.course_id),
            col(e.kind) != EventKind.testimonial.value,
            col(e.organisation_id) == col(s.organisation_id),
            col(e.voided).is_(False),  # a voided statement started nothing
        )
    )
    shown = (
        select(col(s.user_id).label("user_id"), col(s.reason).label("reason"), started.label("go"))
        .where(
            col(s.organisation_id) == _mine(scope, group),
            col(s.shown_at) >= since,
            col(s.shown_at) < until,
            group.where(s.user_id),
        )
        .subquery()
    )
    statement = select(
        shown.c.reason,
        func.grouping(shown.c.reason),
        func.count(),
        func.count().filter(shown.c.go),
        func.count(shown.c.user_id.distinct()),
    ).group_by(func.rollup(shown.c.reason))
    rows: list[tuple[Cell, ...]] = []
    total: tuple[Cell, ...] | None = None
    suppressed = 0
    found = sorted(
        await _rows(scope, statement),
        key=lambda r: (r[1] == 0, _ORDER.get(r[0], len(_ORDER)), str(r[0])),
    )
    for reason, is_total, recommended, begun, learners in found:
        if not visible(int(learners), group):
            suppressed += 1
            continue
        row = (
            ALL if is_total else REASON_LABELS.get(reason, reason),
            int(recommended),
            int(begun),
            _share(int(begun), int(recommended)),
        )
        if is_total:
            total = row
        else:
            rows.append(row)
    if total is not None:
        rows.insert(0, total)
    elif suppressed:
        suppressed -= 1  # the total's row is not a breakdown row of its own
    return Series(
        key="recommendations",
        title=N_("Recommended courses started"),
        columns=(
            Column("reason", N_("Why recommended"), "text"),
            Column("recommended", N_("Courses recommended"), "count"),
            Column("started", N_("Started afterwards"), "count"),
            Column("started_share", N_("Started afterwards (share)"), "percent"),
        ),
        rows=rows,
        chart="bars",
        suppressed_rows=suppressed,
        note=N_(
            "Courses first recommended in this period, and how many of them the learner "
            "started afterwards (by now). Per reason the course was recommended for."
        ),
    )
