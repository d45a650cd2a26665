"""Recommendations: which courses to suggest to a learner next, each with one reason.

Pure: the backend loads the candidate courses and the learner's context, :func:`rank` orders
them. ``today`` (the learner's local day) is an argument; nothing here reads a clock.

Rules:

- Never an archived course, one the learner finished or dismissed ("not for me"), or one
  that costs more than the learner's remaining budget (``None``: no budget limit known).
- A course earns a reason for each thing that speaks for it (:class:`RecommendationReason`),
  each with a weight (:data:`WEIGHTS`): towards an open dated goal (more as it nears its
  date), a competency the learner's job family is expected to have that they have not
  learned in, a hot skill, praised or finished by colleagues in their team, outside their
  own job family (horizontal growth), paid and within the remaining budget, short enough
  (:data:`SHORT_MINUTES`) to keep a streak that is at risk today.
- Its score is its strongest reason plus a quarter of the others; a course already started
  gets a little more (finishing is a good next step). The strongest reason is the one shown.
- Every reason the learner dismissed a course for before weighs less for them
  (:data:`DISMISSED_FACTOR` per dismissal, never below :data:`DISMISSED_FLOOR`).
- A course with no reason at all is not recommended.
- Order: score, then course id (a stable, deterministic tie-break).
- Diversity: each of the first :data:`DIVERSE_TOP` places takes, when any remaining course
  offers a reason not yet shown above it, the best such course and shows that reason; only
  when none does may a reason repeat.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class RecommendationReason(StrEnum):
    """Why a course is recommended (stored in ``recommendation_shown.reason``)."""

    GOAL = "goal"
    EXPECTED_COMPETENCY = "expected_competency"
    HOT_SKILL = "hot_skill"
    TEAM_PRAISED = "team_praised"
    HORIZONTAL = "horizontal"
    FITS_BUDGET = "fits_budget"
    SHORT_FOR_STREAK = "short_for_streak"


WEIGHTS: Mapping[RecommendationReason, float] = {
    RecommendationReason.GOAL: 100.0,
    RecommendationReason.EXPECTED_COMPETENCY: 60.0,
    RecommendationReason.SHORT_FOR_STREAK: 55.0,
    RecommendationReason.TEAM_PRAISED: 40.0,
    RecommendationReason.HOT_SKILL: 35.0,
    RecommendationReason.HORIZONTAL: 20.0,
    RecommendationReason.FITS_BUDGET: 15.0,
}
# a goal due within this many days gets up to GOAL_URGENCY more
GOAL_HORIZON_DAYS = 60
GOAL_URGENCY = 20.0
# each colleague's testimonial / completion adds this much (up to TEAM_CAP colleagues)
TEAM_PRAISE_STEP = 4.0
TEAM_FINISHED_STEP = 2.0
TEAM_CAP = 5
SHORT_MINUTES = 20
STARTED_BONUS = 10.0
SECONDARY_SHARE = 0.25
DISMISSED_FACTOR = 0.7
DISMISSED_FLOOR = 0.3
DIVERSE_TOP = 3


@dataclass(frozen=True)
class CandidateCourse:
    """A course of the organisation, with what the learner's team thinks of it.

    ``competency_names`` maps the course's competency ids to their names (for the reason
    line); ``team_praise`` counts testimonials by colleagues in the learner's teams,
    ``team_finished`` the colleagues who completed it.
    """

    course_id: int
    title: str
    duration_minutes: int = 0
    cost_cents: int = 0
    competency_names: Mapping[int, str] = field(default_factory=dict)
    hot_skill: bool = False
    job_family: str | None = None
    archived: bool = False
    team_praise: int = 0
    team_finished: int = 0

    @property
    def competency_ids(self) -> frozenset[int]:
        """The competencies the course teaches."""
        return frozenset(self.competency_names)


@dataclass(frozen=True)
class OpenGoal:
    """A dated goal not reached yet: its courses or competency, and its date."""

    due_on: date
    course_ids: frozenset[int] = frozenset()
    competency_id: int | None = None


@dataclass(frozen=True)
class LearnerContext:
    """What the ranking knows about the learner.

    ``expected_competency_ids``: the competencies of their job family they have not
    learned in yet; ``remaining_budget_cents``: ``None`` when no limit is known;
    ``dismissed``: course id -> the reason it was recommended for when dismissed.
    """

    job_family: str | None = None
    finished_course_ids: frozenset[int] = frozenset()
    started_course_ids: frozenset[int] = frozenset()
    open_goals: tuple[OpenGoal, ...] = ()
    expected_competency_ids: frozenset[int] = frozenset()
    remaining_budget_cents: int | None = None
    streak_at_risk: bool = False
    dismissed: Mapping[int, RecommendationReason] = field(default_factory=dict)


@dataclass(frozen=True)
class ReasonFit:
    """One reason a course has, with its weight and what the reason line names."""

    reason: RecommendationReason
    weight: float
    detail: str = ""
    count: int = 0
    due_on: date | None = None


@dataclass(frozen=True)
class Recommendation:
    """A recommended course and the one reason shown for it.

    ``detail``: the competency (goal, expected competency) or job family (horizontal) the
    reason names, or what colleagues did (team praised: ``praised`` or ``finished``);
    ``count``: those colleagues, the minutes (short for streak) or the cost (fits budget);
    ``due_on``: the goal's date.
    """

    course_id: int
    title: str
    reason: RecommendationReason
    score: float
    detail: str = ""
    count: int = 0
    due_on: date | None = None
    duration_minutes: int = 0
    cost_cents: int = 0


def eligible(course: CandidateCourse, context: LearnerContext) -> bool:
    """Whether ``course`` may be recommended at all (not archived, finished, dismissed or
    over the remaining budget)."""
    if course.archived or course.course_id in context.finished_course_ids:
        return False
    if course.course_id in context.dismissed:
        return False
    budget = context.remaining_budget_cents
    return budget is None or course.cost_cents <= budget


def _goal_fit(course: CandidateCourse, goal: OpenGoal, today: date) -> ReasonFit | None:
    if course.course_id in goal.course_ids:
        detail = ""
    elif goal.competency_id is not None and goal.competency_id in course.competency_names:
        detail = course.competency_names[goal.competency_id]
    else:
        return None
    days_left = max(0, (goal.due_on - today).days)
    urgency = GOAL_URGENCY * max(0, GOAL_HORIZON_DAYS - days_left) / GOAL_HORIZON_DAYS
    weight = WEIGHTS[RecommendationReason.GOAL] + urgency
    return ReasonFit(RecommendationReason.GOAL, weight, detail, due_on=goal.due_on)


def reasons_for(
    course: CandidateCourse, context: LearnerContext, today: date
) -> tuple[ReasonFit, ...]:
    """Every reason that speaks for ``course``, strongest first, weighed after the learner's
    dismissals (empty for a course that is not :func:`eligible`)."""
    if not eligible(course, context):
        return ()
    return _weighed_reasons(course, context, today, _damping(context.dismissed))


def _weighed_reasons(
    course: CandidateCourse,
    context: LearnerContext,
    today: date,
    damping: Mapping[RecommendationReason, float],
) -> tuple[ReasonFit, ...]:
    """:func:`reasons_for` of an eligible course, with the dismissals' ``damping``."""
    fits: list[ReasonFit] = []
    goals = [
        fit
        for goal in context.open_goals
        if goal.due_on >= today and (fit := _goal_fit(course, goal, today)) is not None
    ]
    if goals:
        fits.append(max(goals, key=lambda fit: (fit.weight, fit.detail)))
    expected = sorted(
        (name, cid)
        for cid, name in course.competency_names.items()
        if cid in context.expected_competency_ids
    )
    if expected:
        weight = WEIGHTS[RecommendationReason.EXPECTED_COMPETENCY]
        fits.append(ReasonFit(RecommendationReason.EXPECTED_COMPETENCY, weight, expected[0][0]))
    if context.streak_at_risk and 0 < course.duration_minutes <= SHORT_MINUTES:
        weight = WEIGHTS[RecommendationReason.SHORT_FOR_STREAK]
        fits.append(
            ReasonFit(RecommendationReason.SHORT_FOR_STREAK, weight, count=course.duration_minutes)
        )
    if course.team_praise > 0 or course.team_finished > 0:
        weight = (
            WEIGHTS[RecommendationReason.TEAM_PRAISED]
            + TEAM_PRAISE_STEP * min(course.team_praise, TEAM_CAP)
            + TEAM_FINISHED_STEP * min(course.team_finished, TEAM_CAP)
        )
        # the line says what colleagues did: praised it when any did, else finished it
        said = (
            ("praised", course.team_praise)
            if course.team_praise
            else ("finished", course.team_finished)
        )
        fits.append(ReasonFit(RecommendationReason.TEAM_PRAISED, weight, said[0], said[1]))
    if course.hot_skill:
        fits.append(
            ReasonFit(RecommendationReason.HOT_SKILL, WEIGHTS[RecommendationReason.HOT_SKILL])
        )
    own = context.job_family
    if own and course.job_family and course.job_family.casefold() != own.casefold():
        weight = WEIGHTS[RecommendationReason.HORIZONTAL]
        fits.append(ReasonFit(RecommendationReason.HORIZONTAL, weight, course.job_family))
    if course.cost_cents > 0 and context.remaining_budget_cents is not None:
        weight = WEIGHTS[RecommendationReason.FITS_BUDGET]
        fits.append(ReasonFit(RecommendationReason.FITS_BUDGET, weight, count=course.cost_cents))
    if damping:
        fits = [
            ReasonFit(f.reason, f.weight * damping.get(f.reason, 1.0), f.detail, f.count, f.due_on)
            for f in fits
        ]
    if len(fits) > 1:
        fits.sort(key=_strongest_first)
    return tuple(fits)


def _strongest_first(fit: ReasonFit) -> tuple[float, str]:
    return (-fit.weight, fit.reason.value)


def _damping(dismissed: Mapping[int, RecommendationReason]) -> dict[RecommendationReason, float]:
    """How much each reason still counts after the learner's dismissals."""
    counts = Counter(dismissed.values())
    return {
        reason: max(DISMISSED_FLOOR, DISMISSED_FACTOR**times) for reason, times in counts.items()
    }


def _score(course: CandidateCourse, fits: Sequence[ReasonFit], context: LearnerContext) -> float:
    score = fits[0].weight + SECONDARY_SHARE * sum(f.weight for f in fits[1:])
    if course.course_id in context.started_course_ids:
        score += STARTED_BONUS
    return score


def _recommendation(course: CandidateCourse, fit: ReasonFit, score: float) -> Recommendation:
    return Recommendation(
        course_id=course.course_id,
        title=course.title,
        reason=fit.reason,
        score=score,
        detail=fit.detail,
        count=fit.count,
        due_on=fit.due_on,
        duration_minutes=course.duration_minutes,
        cost_cents=course.cost_cents,
    )


def rank(
    courses: Sequence[CandidateCourse],
    context: LearnerContext,
    today: date,
    limit: int | None = None,
) -> list[Recommendation]:
    """The recommended courses for the learner, best first (at most ``limit``).

    Deterministic: the same input gives the same list whatever the order of ``courses``
    (their ids are unique: ``ValueError`` otherwise).
    """
    if len({course.course_id for course in courses}) != len(courses):
        raise ValueError("a course id is given twice")
    damping = _damping(context.dismissed)
    scored: list[tuple[float, int, CandidateCourse, tuple[ReasonFit, ...]]] = []
    for course in courses:
        if not eligible(course, context):
            continue
        fits = _weighed_reasons(course, context, today, damping)
        if fits:
            scored.append((-_score(course, fits, context), course.course_id, course, fits))
    scored.sort(key=lambda item: (item[0], item[1]))
    wanted = len(scored) if limit is None else max(0, min(limit, len(scored)))
    result: list[Recommendation] = []
    shown: set[RecommendationReason] = set()
    remaining = scored
    while remaining and len(result) < min(wanted, DIVERSE_TOP):
        pick = 0
        fit = remaining[0][3][0]
        for index, (_neg, _id, _course, fits) in enumerate(remaining):
            fresh = [f for f in fits if f.reason not in shown]
            if fresh:
                pick, fit = index, fresh[0]
                break
        neg, _id, course, _fits = remaining[pick]
        result.append(_recommendation(course, fit, -neg))
        shown.add(fit.reason)
        remaining = remaining[:pick] + remaining[pick + 1 :]
    for neg, _id, course, fits in remaining[: wanted - len(result)]:
        result.append(_recommendation(course, fits[0], -neg))
    return result
