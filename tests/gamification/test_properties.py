"""Invariants checked on generated histories (hypothesis)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gamification.badges import BadgeCriterion, BadgeDefinition, BadgeTier, CriterionKind
from gamification.challenges import ChallengeDefinition
from gamification.engine import Outcome, apply, apply_many, backfill, replay
from gamification.events import EventKind, LearningFact, local_day
from gamification.periods import DateRange, local_day_start, week_start
from gamification.rules import OrgRules, StreakMode, StreakPolicy
from gamification.state import KEY_WINDOW_DAYS, LearnerState, key_digest, knows_key, with_key
from gamification.streaks import compute_streak, resume_streak
from tests.gamification.fact_factory import TZ, at_local

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)
START = date(2024, 3, 18)  # a Monday, two weeks before the spring DST change
SPAN_DAYS = 28
NOW = at_local(START + timedelta(days=SPAN_DAYS - 1), 23, 45)
DAILY_RULES = OrgRules()
WEEKLY_RULES = OrgRules(streak=StreakPolicy(mode=StreakMode.WEEKLY, days_per_week=2))


def _badge(code: str, kind: CriterionKind, *thresholds: int, **filters: Any) -> BadgeDefinition:
    tiers = tuple(BadgeTier(f"tier{t}", t) for t in thresholds)
    return BadgeDefinition(code, code, BadgeCriterion(kind, **filters), tiers)


BADGES = [
    _badge("completions", CriterionKind.EVENT_COUNT, 1, 2, 4, event_kind=EventKind.COMPLETION),
    _badge("in-competency-1", CriterionKind.EVENT_COUNT, 2, competency_id=1),
    _badge("explorer", CriterionKind.DISTINCT_COMPETENCIES, 1, 3),
    _badge("minutes", CriterionKind.TOTAL_MINUTES, 30, 200),
    _badge("streak", CriterionKind.STREAK_LENGTH, 2, 3, 5, 7),
    _badge("hot", CriterionKind.HOT_SKILL_COMPLETIONS, 1),
    _badge("testimonials", CriterionKind.TESTIMONIALS_WRITTEN, 1, 2),
    _badge("first-informal", CriterionKind.FIRST_INFORMAL_LOG, 1),
    _badge("challenger", CriterionKind.CHALLENGES_COMPLETED, 1),
]
CHALLENGES = [
    ChallengeDefinition(
        "two-in-a-week",
        "Two completions in a week",
        START + timedelta(days=7),
        START + timedelta(days=13),
        EventKind.COMPLETION,
        target_count=2,
        badge_code="sprinter",
    )
]


@st.composite
def facts(draw: st.DrawFn, max_size: int = 25) -> list[LearningFact]:
    """Distinct-key facts over four weeks; a course always has the same duration and
    hot-skill flag, as it does in the catalogue."""
    count = draw(st.integers(min_value=0, max_value=max_size))
    result = []
    for index in range(count):
        day = START + timedelta(days=draw(st.integers(0, SPAN_DAYS - 1)))
        occurred_at = at_local(day, draw(st.integers(0, 23)), draw(st.sampled_from([0, 5, 29, 55])))
        course_id = draw(st.sampled_from([None, 1, 2, 3]))
        result.append(
            LearningFact(
                key=f"k{index}",
                kind=draw(st.sampled_from(list(EventKind))),
                occurred_at=occurred_at,
                local_date=local_day(occurred_at, TZ),
                minutes=draw(st.sampled_from([0, 5, 20, 45])),
                course_id=course_id,
                course_duration_minutes=None if course_id is None else course_id * 30,
                competency_ids=frozenset(draw(st.sets(st.integers(1, 4), max_size=2))),
                hot_skill=course_id == 2 if course_id else draw(st.booleans()),
                text_fingerprint=draw(st.sampled_from([None, "same", "other"])),
            )
        )
    return result


def ledger_totals(
    outcome: Outcome, history: list[LearningFact]
) -> Counter[tuple[str, str, date | None]]:
    """XP per (reason, ref, local day). Entries are dated on the fact that caused them, so
    for a course completed twice (paid once) and for goal and challenge rewards the day
    depends on which fact arrived first: those are compared without their day."""
    facts_by_key = {fact.key: fact for fact in history}
    totals: Counter[tuple[str, str, date | None]] = Counter()
    for award in outcome.ledger:
        fact = facts_by_key[award.event_key]
        paid_once = award.ref or (fact.kind is EventKind.COMPLETION and fact.course_id)
        totals[(award.reason.value, award.ref, None if paid_once else award.local_date)] += (
            award.amount
        )
    return totals


def run(history: list[LearningFact], rules: OrgRules) -> Outcome:
    return replay(history, rules, BADGES, NOW, TZ, challenges=CHALLENGES)


def run_as_stored(arrivals: list[LearningFact], rules: OrgRules) -> Outcome:
    """As the backend runs facts: its store keeps every key (a unique constraint) and drops
    a key it has seen before the engine; the engine itself remembers recent keys only."""
    seen: set[str] = set()
    new = [f for f in arrivals if not (f.key in seen or seen.add(f.key))]  # type: ignore[func-returns-value]
    return run(new, rules)


@PROPERTY_SETTINGS
@given(
    history=facts(),
    data=st.data(),
    rules=st.sampled_from([DAILY_RULES, WEEKLY_RULES]),
)
def test_arrival_order_and_duplicates_do_not_change_the_result(
    history: list[LearningFact], data: st.DataObject, rules: OrgRules
) -> None:
    in_order = run(sorted(history, key=lambda f: f.chronological_key), rules)
    resent = data.draw(st.lists(st.sampled_from(history), max_size=10)) if history else []
    shuffled = data.draw(st.permutations(history + resent))
    scrambled = run_as_stored(shuffled, rules)
    assert scrambled.state == in_order.state
    assert scrambled.state.to_dict() == in_order.state.to_dict()
    assert ledger_totals(scrambled, history) == ledger_totals(in_order, history)
    assert {(a.code, a.tier) for a in scrambled.awards} == {
        (a.code, a.tier) for a in in_order.awards
    }


@PROPERTY_SETTINGS
@given(history=facts(), rules=st.sampled_from([DAILY_RULES, WEEKLY_RULES]))
def test_xp_total_is_the_ledger_sum_and_no_tier_is_awarded_twice(
    history: list[LearningFact], rules: OrgRules
) -> None:
    outcome = run(history + history, rules)
    assert outcome.state.xp_total == sum(a.amount for a in outcome.ledger)
    assert all(a.amount > 0 for a in outcome.ledger)
    awarded = [(a.code, a.tier) for a in outcome.awards]
    assert len(awarded) == len(set(awarded))
    assert set(awarded) == set(outcome.state.awarded_badges)
    assert outcome.state.level == rules.levels.level_for_xp(outcome.state.xp_total)


@PROPERTY_SETTINGS
@given(history=facts(max_size=15))
def test_reapplying_a_recent_fact_is_a_no_op_and_older_keys_are_forgotten(
    history: list[LearningFact],
) -> None:
    state = run(history, DAILY_RULES).state
    newest = max((f.local_date for f in history), default=None)
    for fact in history:
        assert newest is not None
        recent = (newest - fact.local_date).days <= KEY_WINDOW_DAYS
        assert state.remembers(fact.key) == recent
        if recent:
            outcome = apply(state, fact, DAILY_RULES, BADGES, NOW, TZ, challenges=CHALLENGES)
            assert outcome.duplicate and outcome.state is state and outcome.ledger == []


@PROPERTY_SETTINGS
@given(
    history=facts(), split=st.integers(0, 25), rules=st.sampled_from([DAILY_RULES, WEEKLY_RULES])
)
def test_rules_created_later_are_backfilled_to_the_same_result(
    history: list[LearningFact], split: int, rules: OrgRules
) -> None:
    # a learner learns before the badges and challenges exist; the backend backfills their
    # tallies from the history and goes on: the same state as if the rules were always there
    before, after = history[:split], history[split:]
    early = replay(before, rules, [], NOW, TZ).state
    filled = backfill(early, before, BADGES, CHALLENGES)
    late = replay(after, rules, BADGES, NOW, TZ, challenges=CHALLENGES, state=filled)
    always = run(history, rules)
    if after:
        assert late.state == always.state
        assert {(a.code, a.tier) for a in late.awards} | set(early.awarded_badges) == set(
            always.state.awarded_badges
        )


long_history = st.dictionaries(
    st.integers(0, 120).map(lambda i: START + timedelta(days=i)), st.integers(1, 3), max_size=80
)


@PROPERTY_SETTINGS
@given(
    sessions=long_history,
    changes=long_history,
    first=st.integers(0, 120),
    later=st.integers(0, 40),
    mode=st.sampled_from(list(StreakMode)),
    freezes=st.integers(0, 2),
    repair=st.integers(0, 3),
)
def test_a_streak_resumed_from_its_checkpoint_equals_the_full_walk(
    sessions: dict[date, int],
    changes: dict[date, int],
    first: int,
    later: int,
    mode: StreakMode,
    freezes: int,
    repair: int,
) -> None:
    policy = StreakPolicy(
        mode=mode, days_per_week=2, max_banked_freezes=freezes, repair_window_days=repair
    )
    pauses = (DateRange(START + timedelta(days=30), START + timedelta(days=33)),)
    earlier_today = START + timedelta(days=first)
    today = earlier_today + timedelta(days=later)
    _, checkpoint = resume_streak(sessions, policy, pauses, today=earlier_today)
    if checkpoint is not None:
        # the days the first walk read stay; any later day may be learned about since
        sessions = {
            **{d: n for d, n in sessions.items() if d < checkpoint.valid_from},
            **{d: n for d, n in changes.items() if d >= checkpoint.valid_from},
        }
        since = {d: n for d, n in sessions.items() if d >= checkpoint.period_start}
    else:
        since = sessions
    resumed, _ = resume_streak(since, policy, pauses, today=today, resume=checkpoint)
    assert resumed == compute_streak(sessions, policy, pauses, today=today)


@PROPERTY_SETTINGS
@given(
    remembered=st.dictionaries(st.text(min_size=1, max_size=60), st.integers(0, 9), max_size=40),
    others=st.lists(st.text(min_size=1, max_size=60), max_size=10),
)
def test_remembered_keys_are_known_in_any_order_and_after_a_round_trip(
    remembered: dict[str, int], others: list[str]
) -> None:
    forwards: dict[int, str] = {}
    for key, day in remembered.items():
        forwards = with_key(forwards, 739_000 + day, key_digest(key))
    backwards: dict[int, str] = {}
    for key, day in reversed(remembered.items()):
        backwards = with_key(backwards, 739_000 + day, key_digest(key))
    assert forwards == backwards  # the same keys: the same state, whatever the order
    state = LearnerState(recent_keys=forwards)
    again = LearnerState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    assert all(again.remembers(key) for key in remembered)
    assert not any(knows_key(forwards, key_digest(k)) for k in others if k not in remembered)


def test_a_fresh_state_is_the_empty_document() -> None:
    assert LearnerState.from_dict({}) == LearnerState()


@PROPERTY_SETTINGS
@given(
    moment=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2025, 12, 31), timezones=st.just(UTC)
    )
)
def test_a_local_day_runs_from_local_midnight_to_local_midnight_across_dst(
    moment: datetime,
) -> None:
    day = local_day(moment, TZ)
    assert local_day_start(day, TZ) <= moment < local_day_start(day + timedelta(days=1), TZ)


active_days = st.dictionaries(
    st.integers(0, 41).map(lambda i: START + timedelta(days=i)), st.integers(1, 3), max_size=30
)
today_offsets = st.integers(0, 41)


@PROPERTY_SETTINGS
@given(sessions=active_days, offset=today_offsets)
def test_daily_streak_without_freezes_is_the_run_of_active_days_up_to_today(
    sessions: dict[date, int], offset: int
) -> None:
    today = START + timedelta(days=offset)
    policy = StreakPolicy(max_banked_freezes=0, repair_window_days=0)
    day = today if today in sessions else today - timedelta(days=1)
    run_length = 0
    while day in sessions:
        run_length += 1
        day -= timedelta(days=1)
    assert compute_streak(sessions, policy, today=today).current == run_length


@PROPERTY_SETTINGS
@given(sessions=active_days, offset=today_offsets, per_week=st.integers(1, 7))
def test_weekly_streak_counts_a_week_only_with_enough_distinct_active_days(
    sessions: dict[date, int], offset: int, per_week: int
) -> None:
    today = START + timedelta(days=offset)
    policy = StreakPolicy(
        mode=StreakMode.WEEKLY, days_per_week=per_week, max_banked_freezes=0, repair_window_days=0
    )

    def met(monday: date) -> bool:
        week = [monday + timedelta(days=i) for i in range(7)]
        return sum(1 for d in week if d in sessions and d <= today) >= per_week

    monday = week_start(today)
    if not met(monday):
        monday -= timedelta(weeks=1)
    weeks = 0
    while met(monday):
        weeks += 1
        monday -= timedelta(weeks=1)
    assert compute_streak(sessions, policy, today=today).current == weeks


@PROPERTY_SETTINGS
@given(
    sessions=active_days,
    offset=today_offsets,
    extra_day=st.integers(0, 41),
    mode=st.sampled_from(list(StreakMode)),
)
def test_more_activity_never_shortens_the_longest_streak(
    sessions: dict[date, int], offset: int, extra_day: int, mode: StreakMode
) -> None:
    # badges and milestones are never taken back, so the longest streak must only grow
    today = START + timedelta(days=offset)
    policy = StreakPolicy(mode=mode, days_per_week=2)
    more = dict(sessions)
    extra = START + timedelta(days=extra_day)
    more[extra] = more.get(extra, 0) + 1
    before = compute_streak(sessions, policy, today=today)
    after = compute_streak(more, policy, today=today)
    assert after.longest >= before.longest


@PROPERTY_SETTINGS
@given(sessions=active_days, offset=today_offsets)
def test_freezes_never_shorten_a_streak(sessions: dict[date, int], offset: int) -> None:
    today = START + timedelta(days=offset)
    plain = compute_streak(sessions, StreakPolicy(max_banked_freezes=0), today=today)
    frozen = compute_streak(sessions, StreakPolicy(), today=today)
    assert frozen.current >= plain.current
    assert frozen.longest >= plain.longest
    assert all(day not in sessions for day in frozen.freezes_used)


@PROPERTY_SETTINGS
@given(
    sessions=active_days, offset=today_offsets, start=st.integers(0, 41), length=st.integers(0, 6)
)
def test_pausing_idle_days_never_breaks_a_streak(
    sessions: dict[date, int], offset: int, start: int, length: int
) -> None:
    today = START + timedelta(days=offset)
    policy = StreakPolicy(max_banked_freezes=0, repair_window_days=0)
    first = START + timedelta(days=start)
    pause = DateRange(first, first + timedelta(days=length))
    idle = {d: n for d, n in sessions.items() if d not in pause}
    without = compute_streak(idle, policy, today=today)
    with_pause = compute_streak(idle, policy, (pause,), today=today)
    assert with_pause.current >= without.current


@PROPERTY_SETTINGS
@given(
    history=facts(), split=st.integers(0, 25), rules=st.sampled_from([DAILY_RULES, WEEKLY_RULES])
)
def test_a_batch_walks_the_streak_once_and_ends_where_one_by_one_ends(
    history: list[LearningFact], split: int, rules: OrgRules
) -> None:
    # an LMS batch is applied with one streak walk at the end: same state, XP and awards
    before, batch = history[:split], history[split:]
    start = run(before, rules).state
    one_by_one = replay(batch, rules, BADGES, NOW, TZ, challenges=CHALLENGES, state=start)
    outcomes = apply_many(start, batch, rules, BADGES, NOW, TZ, challenges=CHALLENGES)
    final = next((o.state for o in reversed(outcomes) if not o.duplicate), start)
    assert final == one_by_one.state
    assert [e for o in outcomes for e in o.ledger] == one_by_one.ledger
    assert {(a.code, a.tier) for o in outcomes for a in o.awards} == {
        (a.code, a.tier) for a in one_by_one.awards
    }
