"""Recommendation rules: examples and invariants on generated catalogues (hypothesis)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from gamification.recommend import (
    DIVERSE_TOP,
    CandidateCourse,
    LearnerContext,
    OpenGoal,
    RecommendationReason,
    rank,
    reasons_for,
)

TODAY = date(2026, 12, 7)
PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)
Reason = RecommendationReason

COMPETENCIES = {1: "Excel", 2: "Feedback", 3: "Privacy", 4: "Python"}
FAMILIES = [None, "Finance", "IT", "Sales"]


@st.composite
def courses(draw: st.DrawFn) -> list[CandidateCourse]:
    ids = draw(st.lists(st.integers(1, 60), unique=True, max_size=14))
    out = []
    for course_id in ids:
        comps = draw(st.sets(st.sampled_from(sorted(COMPETENCIES)), max_size=2))
        out.append(
            CandidateCourse(
                course_id=course_id,
                title=f"Course {course_id}",
                duration_minutes=draw(st.sampled_from([0, 10, 15, 30, 90])),
                cost_cents=draw(st.sampled_from([0, 0, 5_000, 40_000, 200_000])),
                competency_names={c: COMPETENCIES[c] for c in comps},
                hot_skill=draw(st.booleans()),
                job_family=draw(st.sampled_from(FAMILIES)),
                archived=draw(st.booleans()),
                team_praise=draw(st.integers(0, 3)),
                team_finished=draw(st.integers(0, 3)),
            )
        )
    return out


@st.composite
def contexts(draw: st.DrawFn) -> LearnerContext:
    ids = st.integers(1, 60)
    goals = draw(
        st.lists(
            st.builds(
                OpenGoal,
                due_on=st.integers(-5, 90).map(lambda d: TODAY + timedelta(days=d)),
                course_ids=st.frozensets(ids, max_size=3),
                competency_id=st.none() | st.sampled_from(sorted(COMPETENCIES)),
            ),
            max_size=3,
        )
    )
    return LearnerContext(
        job_family=draw(st.sampled_from(FAMILIES)),
        finished_course_ids=draw(st.frozensets(ids, max_size=10)),
        started_course_ids=draw(st.frozensets(ids, max_size=5)),
        open_goals=tuple(goals),
        expected_competency_ids=draw(st.frozensets(st.sampled_from(sorted(COMPETENCIES)))),
        remaining_budget_cents=draw(st.none() | st.sampled_from([0, 10_000, 50_000, 500_000])),
        streak_at_risk=draw(st.booleans()),
        dismissed=draw(st.dictionaries(ids, st.sampled_from(list(Reason)), max_size=6)),
    )


@PROPERTY_SETTINGS
@given(courses(), contexts(), st.randoms(use_true_random=False))
def test_ranking_is_deterministic_whatever_the_input_order(
    catalogue: list[CandidateCourse], context: LearnerContext, rng: random.Random
) -> None:
    first = rank(catalogue, context, TODAY)
    shuffled = list(catalogue)
    rng.shuffle(shuffled)
    assert rank(shuffled, context, TODAY) == first
    assert rank(catalogue, context, TODAY, limit=3) == first[:3]


@PROPERTY_SETTINGS
@given(courses(), contexts())
def test_never_an_archived_finished_or_dismissed_course(
    catalogue: list[CandidateCourse], context: LearnerContext
) -> None:
    by_id = {c.course_id: c for c in catalogue}
    for rec in rank(catalogue, context, TODAY):
        assert not by_id[rec.course_id].archived
        assert rec.course_id not in context.finished_course_ids
        assert rec.course_id not in context.dismissed


@PROPERTY_SETTINGS
@given(courses(), contexts())
def test_never_a_course_over_the_remaining_budget(
    catalogue: list[CandidateCourse], context: LearnerContext
) -> None:
    budget = context.remaining_budget_cents
    for rec in rank(catalogue, context, TODAY):
        assert budget is None or rec.cost_cents <= budget


@PROPERTY_SETTINGS
@given(courses(), contexts())
def test_top_three_repeat_a_reason_only_when_no_other_is_left(
    catalogue: list[CandidateCourse], context: LearnerContext
) -> None:
    ranked = rank(catalogue, context, TODAY)
    by_id = {c.course_id: c for c in catalogue}
    top = ranked[:DIVERSE_TOP]
    for place, rec in enumerate(top):
        # the reason shown is one the course really has
        assert rec.reason in {f.reason for f in reasons_for(by_id[rec.course_id], context, TODAY)}
        above = {r.reason for r in top[:place]}
        if rec.reason in above:
            for later in ranked[place + 1 :]:
                offered = {f.reason for f in reasons_for(by_id[later.course_id], context, TODAY)}
                assert offered <= above, (place, rec, later)


@PROPERTY_SETTINGS
@given(courses(), contexts())
def test_every_recommendation_has_a_reason_and_the_rest_is_by_score(
    catalogue: list[CandidateCourse], context: LearnerContext
) -> None:
    ranked = rank(catalogue, context, TODAY)
    rest = ranked[DIVERSE_TOP:]
    assert [r.score for r in rest] == sorted((r.score for r in rest), reverse=True)
    assert len({r.course_id for r in ranked}) == len(ranked)


def _course(course_id: int, **kwargs: object) -> CandidateCourse:
    return CandidateCourse(course_id=course_id, title=f"Course {course_id}", **kwargs)  # type: ignore[arg-type]


def test_a_goal_course_comes_first_with_its_date() -> None:
    due = TODAY + timedelta(days=10)
    context = LearnerContext(open_goals=(OpenGoal(due_on=due, course_ids=frozenset({2})),))
    ranked = rank([_course(1, hot_skill=True), _course(2)], context, TODAY)
    assert [(r.course_id, r.reason, r.due_on) for r in ranked] == [
        (2, Reason.GOAL, due),
        (1, Reason.HOT_SKILL, None),
    ]


def test_a_competency_expected_of_the_job_family_is_named() -> None:
    context = LearnerContext(job_family="Finance", expected_competency_ids=frozenset({3}))
    ranked = rank([_course(5, competency_names={3: "Privacy"})], context, TODAY)
    assert [(r.reason, r.detail) for r in ranked] == [(Reason.EXPECTED_COMPETENCY, "Privacy")]


def test_top_three_show_three_reasons_when_there_are_three() -> None:
    catalogue = [
        _course(1, hot_skill=True),
        _course(2, hot_skill=True),
        _course(3, hot_skill=True),
        _course(4, job_family="IT"),
        _course(5, team_praise=2),
    ]
    ranked = rank(catalogue, LearnerContext(job_family="Finance"), TODAY)
    assert [r.reason for r in ranked[:3]] == [
        Reason.TEAM_PRAISED,
        Reason.HOT_SKILL,
        Reason.HORIZONTAL,
    ]
    assert [r.course_id for r in ranked[:3]] == [5, 1, 4]
    assert [r.course_id for r in ranked[3:]] == [2, 3]


def test_a_short_course_when_the_streak_is_at_risk() -> None:
    catalogue = [_course(1, duration_minutes=90, hot_skill=True), _course(2, duration_minutes=10)]
    calm = rank(catalogue, LearnerContext(), TODAY)
    assert [r.course_id for r in calm] == [1]
    risky = rank(catalogue, LearnerContext(streak_at_risk=True), TODAY)
    assert (risky[0].course_id, risky[0].reason, risky[0].count) == (
        2,
        Reason.SHORT_FOR_STREAK,
        10,
    )


def test_a_reason_dismissed_before_weighs_less() -> None:
    catalogue = [
        _course(1, hot_skill=True),
        _course(2, job_family="IT"),
        _course(3, hot_skill=True),
    ]
    context = LearnerContext(job_family="Finance")
    assert rank(catalogue, context, TODAY, limit=1)[0].reason is Reason.HOT_SKILL
    after = LearnerContext(job_family="Finance", dismissed={3: Reason.HOT_SKILL})
    assert rank(catalogue, after, TODAY, limit=1)[0].reason is Reason.HOT_SKILL  # 35*0.7 > 20
    twice = LearnerContext(
        job_family="Finance", dismissed={3: Reason.HOT_SKILL, 9: Reason.HOT_SKILL}
    )
    top = rank(catalogue, twice, TODAY, limit=1)[0]
    assert (top.course_id, top.reason) == (2, Reason.HORIZONTAL)


def test_nothing_to_recommend_without_reasons() -> None:
    assert (
        rank([_course(1), _course(2, archived=True, hot_skill=True)], LearnerContext(), TODAY) == []
    )


def test_a_paid_course_fits_the_budget_or_is_left_out() -> None:
    catalogue = [_course(1, cost_cents=30_000), _course(2, cost_cents=80_000)]
    ranked = rank(catalogue, LearnerContext(remaining_budget_cents=50_000), TODAY)
    assert [(r.course_id, r.reason) for r in ranked] == [(1, Reason.FITS_BUDGET)]
