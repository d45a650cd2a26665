"""Individual and team challenges."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from gamification.challenges import (
    ChallengeDefinition,
    TeamChallenge,
    TeamTargetKind,
    challenge_progress,
    team_challenge_progress,
)
from gamification.events import EventKind
from tests.gamification.fact_factory import make_fact

START = date(2024, 5, 6)  # a Monday


def three_completions() -> ChallengeDefinition:
    return ChallengeDefinition(
        "may-sprint",
        "3 courses in 14 days",
        starts_on=START,
        ends_on=START + timedelta(days=13),
        event_kind=EventKind.COMPLETION,
        target_count=3,
    )


def test_challenge_completes_with_target_count_inside_its_window() -> None:
    facts = [make_fact(START + timedelta(days=i), EventKind.COMPLETION) for i in (0, 5, 13)]
    progress = challenge_progress(three_completions(), facts)
    assert progress.completed
    assert progress.evidence == tuple(f.key for f in facts)


def test_challenge_ignores_facts_outside_window_or_of_another_kind() -> None:
    facts = [
        make_fact(START - timedelta(days=1), EventKind.COMPLETION),
        make_fact(START + timedelta(days=14), EventKind.COMPLETION),
        make_fact(START, EventKind.INFORMAL),
        make_fact(START, EventKind.COMPLETION),
    ]
    progress = challenge_progress(three_completions(), facts)
    assert (progress.count, progress.completed) == (1, False)
    assert progress.fraction == pytest.approx(1 / 3)


def test_hot_skill_and_competency_filters_narrow_a_challenge() -> None:
    challenge = ChallengeDefinition(
        "hot",
        "hot",
        START,
        START + timedelta(days=6),
        EventKind.COMPLETION,
        target_count=1,
        competency_id=2,
        hot_skill_only=True,
    )
    cold = make_fact(START, EventKind.COMPLETION, competency_ids=frozenset({2}))
    other = make_fact(START, EventKind.COMPLETION, competency_ids=frozenset({3}), hot_skill=True)
    assert not challenge_progress(challenge, [cold, other]).completed
    hot = make_fact(START, EventKind.COMPLETION, competency_ids=frozenset({2}), hot_skill=True)
    assert challenge_progress(challenge, [hot]).completed


def team_minutes() -> TeamChallenge:
    return TeamChallenge(
        "team-500",
        sponsor_user_id=1,
        pledge="Pizza when we reach 500 minutes",
        starts_on=START,
        ends_on=START + timedelta(days=27),
        target_kind=TeamTargetKind.TEAM_MINUTES,
        target_minutes=500,
    )


def test_team_minutes_challenge_sums_member_minutes_inside_the_period() -> None:
    activity = {
        1: {START: 100, START - timedelta(days=1): 999},
        2: {START + timedelta(days=1): 150},
        3: {},
    }
    progress = team_challenge_progress(team_minutes(), activity, START + timedelta(days=3))
    assert progress.total_minutes == 250
    assert progress.progress == pytest.approx(0.5)
    assert not progress.completed
    assert [(c.user_id, c.minutes) for c in progress.contributions] == [(1, 100), (2, 150), (3, 0)]


def test_team_minutes_challenge_completes_at_the_target() -> None:
    activity = {1: {START: 300}, 2: {START + timedelta(days=2): 200}}
    progress = team_challenge_progress(team_minutes(), activity, START + timedelta(days=3))
    assert progress.completed and progress.progress == 1.0


def participation() -> TeamChallenge:
    # 70% of members learn on 2+ days a week for 2 weeks, in a period starting on a Wednesday
    return TeamChallenge(
        "habit",
        sponsor_user_id=1,
        pledge="Team lunch",
        starts_on=START + timedelta(days=2),
        ends_on=START + timedelta(days=2 + 27),
        target_kind=TeamTargetKind.PARTICIPATION,
        member_share=0.7,
        days_per_week=2,
        weeks=2,
    )


def test_participation_counts_full_weeks_where_enough_members_were_active_enough() -> None:
    challenge = participation()
    week1, week2 = challenge.full_weeks()[:2]
    assert week1 == START + timedelta(days=7)
    keen = {week1: 10, week1 + timedelta(days=1): 10, week2: 10, week2 + timedelta(days=3): 10}
    once = {week1: 10, week2: 10}
    activity = {uid: dict(keen) for uid in range(1, 8)} | {8: once, 9: once, 10: {}}
    progress = team_challenge_progress(challenge, activity, week2 + timedelta(days=6))
    assert progress.qualifying_weeks == (week1, week2)
    assert progress.completed
    assert progress.contributions[0].qualifying_weeks == 2
    assert progress.contributions[-1].qualifying_weeks == 0


def test_participation_below_the_member_share_does_not_count() -> None:
    challenge = participation()
    week1 = challenge.full_weeks()[0]
    keen = {week1: 10, week1 + timedelta(days=1): 10}
    activity = {uid: dict(keen) for uid in range(1, 7)} | {7: {}, 8: {}, 9: {}, 10: {}}
    progress = team_challenge_progress(challenge, activity, week1 + timedelta(days=6))
    assert progress.qualifying_weeks == ()
    assert progress.progress == 0.0


def test_challenge_definitions_round_trip_through_json() -> None:
    individual = three_completions()
    assert ChallengeDefinition.from_dict(json.loads(json.dumps(individual.to_dict()))) == individual
    team = participation()
    assert TeamChallenge.from_dict(json.loads(json.dumps(team.to_dict()))) == team
