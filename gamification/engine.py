"""The one way a learner's gamification state changes: :func:`apply` a fact.

``apply`` is pure: state, fact, the organisation's rules, badge and challenge definitions,
``now`` and the learner's timezone go in; the new state, XP ledger entries, badge awards
and nudge intents come out. Applying a fact whose key was already applied is a no-op
(``duplicate=True``). Final XP, streaks, goals, challenges and awarded badge tiers depend
only on the set of facts, not on their arrival order (see ``gamification.xp`` for the one
documented exception). Every ledger entry is dated on the local day of the fact that caused
it, so a goal or challenge reward lands in the goal's week or challenge's window, on the
day of the fact that completed it as far as the engine knew when it paid.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from gamification.badges import CHALLENGE_BADGE_TIER, BadgeAward, BadgeDefinition, evaluate_badges
from gamification.challenges import ChallengeDefinition, challenge_progress
from gamification.events import EventKind, LearningFact
from gamification.goals import DatedGoal, dated_goal_progress, weekly_minutes
from gamification.nudges import NudgeIntent, NudgeKind
from gamification.periods import DateRange, iso_week_label, local_day, require_aware
from gamification.rules import OrgRules
from gamification.state import LearnerState
from gamification.streaks import compute_streak
from gamification.xp import XpAward, XpReason, informal_cooldown_slot, xp_for_fact


@dataclass(frozen=True)
class Outcome:
    """What applying a fact produced; persist all of it in one transaction."""

    state: LearnerState
    ledger: list[XpAward] = field(default_factory=list)
    awards: list[BadgeAward] = field(default_factory=list)
    nudges: list[NudgeIntent] = field(default_factory=list)
    duplicate: bool = False


def _record_fact(
    state: LearnerState, fact: LearningFact, rules: OrgRules
) -> tuple[LearnerState, list[XpAward]]:
    """Add the fact and pay its own XP (before goals, challenges and badges look at it)."""
    facts = list(state.facts)
    bisect.insort(facts, fact, key=lambda f: f.chronological_key)
    awards = xp_for_fact(fact, rules.xp, state.xp_context(fact.local_date))
    informal_xp_by_day = dict(state.informal_xp_by_day)
    if fact.kind is EventKind.INFORMAL and awards:
        day = fact.local_date
        informal_xp_by_day[day] = informal_xp_by_day.get(day, 0) + sum(a.amount for a in awards)
    slot = informal_cooldown_slot(fact, rules.xp)
    paid_course = fact.course_id if fact.kind is EventKind.COMPLETION else None
    new_state = replace(
        state,
        facts=tuple(facts),
        informal_xp_by_day=informal_xp_by_day,
        paid_informal_slots=state.paid_informal_slots | ({slot} if slot is not None else set()),
        paid_course_ids=state.paid_course_ids
        | ({paid_course} if paid_course is not None else set()),
    )
    return new_state, awards


def apply(
    state: LearnerState,
    fact: LearningFact,
    rules: OrgRules,
    badges: Sequence[BadgeDefinition],
    now: datetime,
    tz_name: str,
    *,
    challenges: Sequence[ChallengeDefinition] = (),
) -> Outcome:
    """Apply one learning fact to a learner's state.

    Pays the fact's XP, recomputes the streak as of the learner's local day of ``now``,
    pays newly reached goals (weekly minutes goal of the fact's week, dated goals) and newly
    completed ``challenges``, awards newly earned badge tiers, and emits nudge intents for
    badges, streak milestones, goals, challenges and level-ups.
    """
    require_aware(now, "now")
    if fact.key in state.seen_keys:
        return Outcome(state, duplicate=True)
    today = local_day(now, tz_name)
    new, ledger = _record_fact(state, fact, rules)
    awards: list[BadgeAward] = []
    nudges: list[NudgeIntent] = []

    def pay(amount: int, reason: XpReason, ref: str) -> None:
        if amount > 0:
            ledger.append(XpAward(amount, reason, fact.local_date, fact.key, ref))

    streak = compute_streak(new.sessions_by_day(), rules.streak, new.pauses, today=today)
    old_milestones = set(state.streak.milestones) if state.streak.mode is streak.mode else set()
    for milestone in streak.milestones:
        if milestone not in old_milestones:
            nudges.append(
                NudgeIntent(
                    NudgeKind.STREAK_MILESTONE,
                    f"streak:{streak.mode.value}:{milestone}",
                    {"length": milestone, "mode": streak.mode.value},
                )
            )

    rewarded = set(new.rewarded_goals)
    reached_goals: list[str] = []
    week_goal = f"weekly:{iso_week_label(fact.local_date)}"
    if (
        fact.counts_as_activity
        and new.weekly_goal_minutes > 0
        and week_goal not in rewarded
        and weekly_minutes(new.minutes_by_day(), fact.local_date) >= new.weekly_goal_minutes
    ):
        reached_goals.append(week_goal)
    for goal in new.dated_goals:
        goal_key = f"dated:{goal.goal_id}"
        if goal_key in rewarded:
            continue
        if dated_goal_progress(goal, new.facts, today).reached_on is not None:
            reached_goals.append(goal_key)
    for goal_key in reached_goals:
        rewarded.add(goal_key)
        pay(rules.xp.goal_reached_xp, XpReason.GOAL_REACHED, goal_key)
        nudges.append(NudgeIntent(NudgeKind.GOAL_REACHED, f"goal:{goal_key}", {"goal": goal_key}))

    completed = set(new.completed_challenges)
    awarded_badges = set(new.awarded_badges)
    for challenge in challenges:
        if challenge.challenge_id in completed:
            continue
        progress = challenge_progress(challenge, new.facts)
        if progress.completed_on is None:
            continue
        completed.add(challenge.challenge_id)
        reward = challenge.xp_reward
        pay(
            rules.xp.challenge_completed_xp if reward is None else reward,
            XpReason.CHALLENGE_COMPLETED,
            f"challenge:{challenge.challenge_id}",
        )
        nudges.append(
            NudgeIntent(
                NudgeKind.CHALLENGE_COMPLETED,
                f"challenge:{challenge.challenge_id}",
                {"challenge_id": challenge.challenge_id, "title": challenge.title},
            )
        )
        badge = (challenge.badge_code, CHALLENGE_BADGE_TIER)
        if challenge.badge_code and badge not in awarded_badges:
            awards.append(BadgeAward(challenge.badge_code, CHALLENGE_BADGE_TIER, progress.evidence))
            awarded_badges.add((challenge.badge_code, CHALLENGE_BADGE_TIER))

    new = replace(
        new,
        streak=streak,
        rewarded_goals=frozenset(rewarded),
        completed_challenges=frozenset(completed),
        awarded_badges=frozenset(awarded_badges),
    )
    earned = evaluate_badges(new, badges, policy=rules.streak, today=today)
    awards.extend(earned)
    for award in awards:
        nudges.append(
            NudgeIntent(
                NudgeKind.BADGE_EARNED,
                f"badge:{award.code}:{award.tier}",
                {"code": award.code, "tier": award.tier},
            )
        )

    xp_total = new.xp_total + sum(award.amount for award in ledger)
    level = rules.levels.level_for_xp(xp_total)
    if level > state.level:
        nudges.append(NudgeIntent(NudgeKind.LEVEL_UP, f"level:{level}", {"level": level}))
    new = replace(
        new,
        xp_total=xp_total,
        level=level,
        awarded_badges=new.awarded_badges | {(a.code, a.tier) for a in earned},
    )
    return Outcome(new, ledger, awards, nudges)


def replay(
    facts: Iterable[LearningFact],
    rules: OrgRules,
    badges: Sequence[BadgeDefinition],
    now: datetime,
    tz_name: str,
    *,
    challenges: Sequence[ChallengeDefinition] = (),
    state: LearnerState | None = None,
) -> Outcome:
    """Apply ``facts`` in the given order (to a fresh learner unless ``state`` is given).

    The outcome holds the final state and everything emitted along the way; ``duplicate``
    is True only if every fact was a duplicate. Used to recompute and in tests.
    """
    current = state if state is not None else LearnerState()
    ledger: list[XpAward] = []
    awards: list[BadgeAward] = []
    nudges: list[NudgeIntent] = []
    all_duplicates = True
    for fact in facts:
        outcome = apply(current, fact, rules, badges, now, tz_name, challenges=challenges)
        current = outcome.state
        ledger.extend(outcome.ledger)
        awards.extend(outcome.awards)
        nudges.extend(outcome.nudges)
        all_duplicates = all_duplicates and outcome.duplicate
    return Outcome(current, ledger, awards, nudges, duplicate=all_duplicates)


def refresh(state: LearnerState, rules: OrgRules, now: datetime, tz_name: str) -> LearnerState:
    """Recompute the streak snapshot as of ``now`` (for the daily scheduler and after the
    learner changes pauses): days passing can put a streak at risk, use freezes or break it.
    """
    require_aware(now, "now")
    today = local_day(now, tz_name)
    streak = compute_streak(state.sessions_by_day(), rules.streak, state.pauses, today=today)
    return replace(state, streak=streak)


def plan_pause(
    state: LearnerState, pause: DateRange, rules: OrgRules, now: datetime, tz_name: str
) -> LearnerState:
    """Add a planned pause (neutral days for the streak) and refresh the streak."""
    pauses = tuple(sorted({*state.pauses, pause}, key=lambda p: (p.start, p.end)))
    return refresh(replace(state, pauses=pauses), rules, now, tz_name)


def set_weekly_goal(state: LearnerState, minutes: int) -> LearnerState:
    """Change the weekly minutes goal (from the next fact on; weeks already paid stay paid)."""
    if minutes < 0:
        raise ValueError("a weekly goal cannot be negative")
    return replace(state, weekly_goal_minutes=minutes)


def add_dated_goal(state: LearnerState, goal: DatedGoal) -> LearnerState:
    """Add a dated goal; its XP is paid by the first fact applied after it is reached."""
    if any(g.goal_id == goal.goal_id for g in state.dated_goals):
        raise ValueError(f"goal {goal.goal_id!r} already exists")
    return replace(state, dated_goals=(*state.dated_goals, goal))
