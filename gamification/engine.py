"""The one way a learner's gamification state changes: :func:`apply` a fact.

``apply`` is pure: state, fact, the organisation's rules, badge and challenge definitions,
``now`` and the learner's timezone go in; the new state, XP ledger entries and badge awards
come out (what is worth a push message, such as a new level or a streak milestone, the nudge
scheduler reads from the kept state: ``gamification.nudges``). Applying a fact whose key was
already applied is a no-op (``duplicate=True``). Final XP, streaks, goals, challenges and
awarded badge tiers depend only on the set of facts, not on their arrival order (see
``gamification.xp`` for the one documented exception). Every ledger entry is dated on the
local day of the fact that caused it, so a goal or challenge reward lands in the goal's week
or challenge's window, on the day of the fact that completed it as far as the engine knew
when it paid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from gamification.badges import (
    CHALLENGE_BADGE_TIER,
    FACT_KINDS,
    NO_BADGE_TALLY,
    BadgeAward,
    BadgeDefinition,
    BadgeTally,
    CriterionKind,
    evaluate_badges,
    tally_badge,
)
from gamification.challenges import ChallengeDefinition, ChallengeTally, tally_challenge
from gamification.events import EventKind, LearningFact
from gamification.goals import MAX_FINISHED_GOALS, DatedGoal, FinishedGoal, GoalTally, tally_goal
from gamification.periods import DateRange, iso_week_label, local_day, require_aware
from gamification.rules import OrgRules
from gamification.state import (
    KEY_WINDOW_DAYS,
    XP_MEMORY_DAYS,
    ActiveDays,
    LearnerState,
    key_digest,
    knows_key,
    remembered_keys,
    with_key,
)
from gamification.streaks import (
    StreakCheckpoint,
    StreakStatus,
    walk_active_days,
)
from gamification.xp import XpAward, XpReason, informal_cooldown_slot, xp_for_fact

CHALLENGE_MEMORY_DAYS = 62
"""Tallies of challenges that ended this many days before today are forgotten."""


@dataclass(slots=True)  # not frozen: one per fact, and a frozen dataclass is slower to build
class Outcome:
    """What applying a fact produced; persist all of it in one transaction."""

    state: LearnerState
    ledger: list[XpAward] = field(default_factory=list)
    awards: list[BadgeAward] = field(default_factory=list)
    duplicate: bool = False


def _evolve(state: LearnerState, **changes: Any) -> LearnerState:
    """``dataclasses.replace`` for the per-fact hot path: the frozen state's fields copied
    as they are (it has no derived fields to recompute), then ``changes`` on top."""
    new = object.__new__(LearnerState)
    new.__dict__.update(state.__dict__)
    new.__dict__.update(changes)
    return new


class MissingHistory(ValueError):
    """The learner has facts but no tally for these rules yet: :func:`backfill` from their
    history first (a rule created since their last fact, or a converted document)."""

    def __init__(self, keys: Sequence[str]) -> None:
        super().__init__(f"no tally yet for {', '.join(keys)}: backfill from the history first")
        self.keys = list(keys)


def missing_tallies(
    state: LearnerState,
    badges: Sequence[BadgeDefinition],
    challenges: Sequence[ChallengeDefinition] = (),
) -> list[str]:
    """Tally keys these rules need that ``state`` has no tally for (a learner without facts
    needs none: every tally starts at zero)."""
    if state.fact_count == 0 or not (badges or challenges or state.dated_goals):
        return []
    badge_tallies, challenge_tallies = state.badge_tallies, state.challenge_tallies
    missing = [
        b.criterion.tally_key
        for b in badges
        if b.criterion.kind in FACT_KINDS and b.criterion.tally_key not in badge_tallies
    ]
    missing += [c.tally_key for c in challenges if c.tally_key not in challenge_tallies]
    if state.dated_goals:
        missing += [
            g.tally_key
            for g in state.dated_goals
            if f"dated:{g.goal_id}" not in state.rewarded_goals
            and g.tally_key not in state.goal_tallies
        ]
    return list(dict.fromkeys(missing)) if missing else missing


def backfill(
    state: LearnerState,
    history: Iterable[LearningFact],
    badges: Sequence[BadgeDefinition],
    challenges: Sequence[ChallengeDefinition] = (),
) -> LearnerState:
    """``state`` with the tallies it lacks for these rules counted from ``history`` (every
    fact applied to it so far). Nothing is paid or awarded here: the next :func:`apply`
    does that, as it would have with the full history."""
    facts = list(history)
    badge_tallies = dict(state.badge_tallies)
    for definition in badges:
        criterion = definition.criterion
        key = criterion.tally_key
        if criterion.kind in FACT_KINDS and key not in badge_tallies:
            badge_tallies[key] = tally_badge(criterion, facts)
    challenge_tallies = dict(state.challenge_tallies)
    for challenge in challenges:
        key = challenge.tally_key
        if key not in challenge_tallies:  # completed ones too: their tally says when
            challenge_tallies[key] = tally_challenge(challenge, facts)
    goal_tallies = dict(state.goal_tallies)
    for goal in state.dated_goals:
        key = goal.tally_key
        if key not in goal_tallies:
            goal_tallies[key] = tally_goal(goal, facts)
    return replace(
        state,
        badge_tallies=badge_tallies,
        challenge_tallies=challenge_tallies,
        goal_tallies=goal_tallies,
        history=(),
    )


def _walk_streak(
    state: LearnerState,
    active: ActiveDays,
    rules: OrgRules,
    today: date,
    changed_day: date | None,
) -> tuple[StreakStatus, StreakCheckpoint | None]:
    """The streak over ``active`` as of ``today``, walking from the state's checkpoint
    unless ``changed_day`` (an active day that just changed) lies in the part it read."""
    checkpoint = state.streak_checkpoint
    if checkpoint is not None and changed_day is not None and changed_day < checkpoint.valid_from:
        checkpoint = None
    return walk_active_days(
        active.days, active.sessions, rules.streak, state.pauses, today=today, resume=checkpoint
    )


def _record_fact(
    state: LearnerState, fact: LearningFact, digest: str, rules: OrgRules
) -> tuple[dict[str, Any], list[XpAward]]:
    """The state's fields that counting the fact (its key's digest: ``digest``) changes, and
    the fact's own XP (paid before goals, challenges and badges look at it), by the XP rules
    in force when it happened."""
    xp_rules = rules.xp_at(fact.occurred_at)
    awards = xp_for_fact(fact, xp_rules, state.xp_context(fact.local_date))
    day = fact.local_date
    newest = day if state.newest_day is None else max(state.newest_day, day)
    informal_xp_by_day = state.informal_xp_by_day
    if fact.kind is EventKind.INFORMAL and awards:
        informal_xp_by_day = dict(informal_xp_by_day)
        informal_xp_by_day[day] = informal_xp_by_day.get(day, 0) + sum(a.amount for a in awards)
    slots = state.paid_informal_slots
    slot = informal_cooldown_slot(fact, xp_rules)
    if slot is not None:
        slots = slots | {slot}
    keys: Mapping[int, str] = state.recent_keys
    if newest != state.newest_day:
        # caps, cooldowns and keys of long-gone days cannot be reached by a retry any more
        horizon = newest - timedelta(days=XP_MEMORY_DAYS)
        informal_xp_by_day = {d: xp for d, xp in informal_xp_by_day.items() if d >= horizon}
        oldest = horizon.isoformat()
        slots = frozenset(s for s in slots if s[:10] >= oldest)
        keys = remembered_keys(keys, newest)
    if (newest - day).days <= KEY_WINDOW_DAYS:
        keys = with_key(keys, day.toordinal(), digest)
    changes: dict[str, Any] = {
        "active": state.active.plus(day, fact.minutes) if fact.counts_as_activity else state.active,
        "fact_count": state.fact_count + 1,
        "recent_keys": keys,
        "newest_day": newest,
        "informal_xp_by_day": informal_xp_by_day,
        "paid_informal_slots": slots,
    }
    if (
        fact.kind is EventKind.COMPLETION
        and fact.course_id is not None
        and fact.course_id not in state.paid_course_ids
    ):
        changes["paid_course_ids"] = state.paid_course_ids | {fact.course_id}
    return changes, awards


def _tally_challenges(
    tallies: dict[str, ChallengeTally],
    challenges: Sequence[ChallengeDefinition],
    fact: LearningFact,
) -> None:
    """Count ``fact`` into the tallies of the challenges it matches (in place; a tally is
    kept after completion: it says when that was)."""
    for challenge in challenges:
        key = challenge.tally_key
        tally = tallies.get(key)
        if tally is None:
            tally = ChallengeTally(challenge.ends_on)
        tallies[key] = tally.plus(challenge, fact) if challenge.matches(fact) else tally


def _count_badges(
    state: LearnerState, fact: LearningFact, badges: Sequence[BadgeDefinition]
) -> dict[str, BadgeTally]:
    tallies = dict(state.badge_tallies)
    counted: set[str] = set()
    for definition in badges:
        criterion = definition.criterion
        if criterion.kind not in FACT_KINDS:
            continue
        key = criterion.tally_key
        if key in counted:
            continue  # badges with the same criterion share one tally
        counted.add(key)
        if criterion.matches(fact):
            tally = tallies.get(key)
            tallies[key] = (NO_BADGE_TALLY if tally is None else tally).plus(criterion, fact)
        elif key not in tallies:
            tallies[key] = NO_BADGE_TALLY
    return tallies


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
    completed ``challenges``, and awards newly earned badge tiers.

    A fact whose key is among the state's recent keys is a duplicate (nothing changes).
    Raises :class:`MissingHistory` when the learner has facts but no tally yet for one of
    the rules (:func:`backfill` first).
    """
    require_aware(now, "now")
    return _apply(state, fact, rules, badges, local_day(now, tz_name), challenges, walk=True)


def _apply(
    state: LearnerState,
    fact: LearningFact,
    rules: OrgRules,
    badges: Sequence[BadgeDefinition],
    today: date,
    challenges: Sequence[ChallengeDefinition],
    *,
    walk: bool,
    tallied: bool = False,
) -> Outcome:
    """:func:`apply`; without ``walk`` the streak is left as it was (the caller walks it);
    ``tallied``: ``state`` came out of a fact applied with these rules, so it has every
    tally they need."""
    digest = key_digest(fact.key)
    if knows_key(state.recent_keys, digest):
        return Outcome(state, duplicate=True)
    if not tallied:
        if state.history:
            state = backfill(state, state.history, badges, challenges)
        missing = missing_tallies(state, badges, challenges)
        if missing:
            raise MissingHistory(missing)
    changes, ledger = _record_fact(state, fact, digest, rules)
    active: ActiveDays = changes["active"]
    counts = fact.counts_as_activity
    awards: list[BadgeAward] = []

    def pay(amount: int, reason: XpReason, ref: str) -> None:
        if amount > 0:
            ledger.append(XpAward(amount, reason, fact.local_date, fact.key, ref))

    if walk:
        streak, checkpoint = _walk_streak(
            state, active, rules, today, fact.local_date if counts else None
        )
    else:
        streak, checkpoint = state.streak, state.streak_checkpoint

    rewarded = state.rewarded_goals
    reached_goals: list[str] = []
    if counts and state.weekly_goal_minutes > 0:
        week_goal = f"weekly:{iso_week_label(fact.local_date)}"
        if (
            week_goal not in rewarded
            and active.weekly_minutes(fact.local_date) >= state.weekly_goal_minutes
        ):
            reached_goals.append(week_goal)
    goal_tallies: dict[str, GoalTally] = {}
    for goal in state.dated_goals:
        key = goal.tally_key
        goal_tally = state.goal_tallies.get(key, GoalTally())
        goal_ref = f"dated:{goal.goal_id}"
        if goal_ref not in rewarded:
            goal_tally = goal_tally.plus(goal, fact)
            if goal_tally.progress(goal, today).reached_on is not None:
                reached_goals.append(goal_ref)
        goal_tallies[key] = goal_tally
    if reached_goals:
        rewarded = rewarded | frozenset(reached_goals)
    for goal_ref in reached_goals:
        pay(rules.xp_at(fact.occurred_at).goal_reached_xp, XpReason.GOAL_REACHED, goal_ref)

    completed = state.completed_challenges
    awarded_badges = state.awarded_badges
    challenge_tallies: Mapping[str, ChallengeTally] = state.challenge_tallies
    if challenges or challenge_tallies:
        forget_before = today - timedelta(days=CHALLENGE_MEMORY_DAYS)
        kept = {
            key: tally for key, tally in challenge_tallies.items() if tally.ends_on >= forget_before
        }
        _tally_challenges(kept, challenges, fact)
        challenge_tallies = kept
    for challenge in challenges:
        tally = challenge_tallies[challenge.tally_key]
        if challenge.challenge_id in completed or tally.count < challenge.target_count:
            continue
        completed = completed | {challenge.challenge_id}
        reward = challenge.xp_reward
        pay(
            rules.xp_at(fact.occurred_at).challenge_completed_xp if reward is None else reward,
            XpReason.CHALLENGE_COMPLETED,
            f"challenge:{challenge.challenge_id}",
        )
        code = challenge.badge_code
        if code and (code, CHALLENGE_BADGE_TIER) not in awarded_badges:
            awards.append(BadgeAward(code, CHALLENGE_BADGE_TIER, (fact.key,)))
            awarded_badges = awarded_badges | {(code, CHALLENGE_BADGE_TIER)}

    xp_total = state.xp_total
    for award in ledger:
        xp_total += award.amount
    level = rules.levels.level_for_xp(xp_total)
    new = _evolve(
        state,
        **changes,
        xp_total=xp_total,
        level=level,
        streak=streak,
        streak_checkpoint=checkpoint,
        rewarded_goals=rewarded,
        completed_challenges=completed,
        awarded_badges=awarded_badges,
        badge_tallies=_count_badges(state, fact, badges) if badges else state.badge_tallies,
        challenge_tallies=challenge_tallies,
        goal_tallies=goal_tallies,
    )
    earned = evaluate_badges(new, badges, evidence=(fact.key,)) if badges else []
    if earned:
        awards.extend(earned)
        new = _evolve(new, awarded_badges=new.awarded_badges | {(a.code, a.tier) for a in earned})
    return Outcome(new, ledger, awards)


# a batch's learners mostly share a timezone and the request's ``now``
_local_today = lru_cache(maxsize=64)(local_day)


def apply_many(
    state: LearnerState,
    facts: Sequence[LearningFact],
    rules: OrgRules,
    badges: Sequence[BadgeDefinition],
    now: datetime,
    tz_name: str,
    *,
    challenges: Sequence[ChallengeDefinition] = (),
) -> list[Outcome]:
    """:func:`apply` each of ``facts`` in turn, one outcome per fact, walking the streak once
    at the end instead of after every fact (a batch from an LMS).

    XP, goals, challenges and fact-based badges come out exactly as from :func:`apply`.
    The streak only grows with more activity, so its streak-length badge tiers are those
    :func:`apply` would have given along the way; they are added to the last fact's outcome
    (with that fact as the evidence), whose state is the final one.
    """
    require_aware(now, "now")
    outcomes: list[Outcome] = []
    current = state
    changed: date | None = None
    today = _local_today(now, tz_name)
    tallied = False
    for fact in facts:
        outcome = _apply(
            current, fact, rules, badges, today, challenges, walk=False, tallied=tallied
        )
        outcomes.append(outcome)
        if not outcome.duplicate:
            current = outcome.state
            tallied = True
            if fact.counts_as_activity and (changed is None or fact.local_date < changed):
                changed = fact.local_date
    last = next((i for i in range(len(outcomes) - 1, -1, -1) if not outcomes[i].duplicate), None)
    if last is None:
        return outcomes
    streak, checkpoint = _walk_streak(current, current.active, rules, today, changed)
    walked = _evolve(current, streak=streak, streak_checkpoint=checkpoint)
    streak_badges = [b for b in badges if b.criterion.kind is CriterionKind.STREAK_LENGTH]
    earned = evaluate_badges(walked, streak_badges, evidence=(facts[last].key,))
    if earned:
        walked = _evolve(
            walked, awarded_badges=walked.awarded_badges | {(a.code, a.tier) for a in earned}
        )
    final = outcomes[last]
    outcomes[last] = Outcome(walked, final.ledger, [*final.awards, *earned])
    return outcomes


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
    all_duplicates = True
    for fact in facts:
        outcome = apply(current, fact, rules, badges, now, tz_name, challenges=challenges)
        current = outcome.state
        ledger.extend(outcome.ledger)
        awards.extend(outcome.awards)
        all_duplicates = all_duplicates and outcome.duplicate
    return Outcome(current, ledger, awards, duplicate=all_duplicates)


def refresh(state: LearnerState, rules: OrgRules, now: datetime, tz_name: str) -> LearnerState:
    """Recompute the streak snapshot as of ``now`` (for the daily scheduler and after the
    learner changes pauses): days passing can put a streak at risk, use freezes or break it.
    """
    require_aware(now, "now")
    streak, checkpoint = _walk_streak(state, state.active, rules, local_day(now, tz_name), None)
    return replace(state, streak=streak, streak_checkpoint=checkpoint)


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


def add_dated_goal(
    state: LearnerState, goal: DatedGoal, history: Iterable[LearningFact] | None = None
) -> LearnerState:
    """Add a dated goal; its XP is paid by the first fact applied after it is reached.

    A learner who already has facts needs their ``history`` (facts dated on or after the
    goal's ``set_on`` suffice) to start the goal's tally.
    """
    if any(g.goal_id == goal.goal_id for g in state.dated_goals):
        raise ValueError(f"goal {goal.goal_id!r} already exists")
    if history is None and state.fact_count and not state.history:
        raise MissingHistory([goal.tally_key])
    facts = state.history if history is None else tuple(history)
    tallies = {**state.goal_tallies, goal.tally_key: tally_goal(goal, facts)}
    return replace(state, dated_goals=(*state.dated_goals, goal), goal_tallies=tallies)


def edit_dated_goal(
    state: LearnerState, goal: DatedGoal, history: Iterable[LearningFact] | None = None
) -> LearnerState:
    """Replace the dated goal with ``goal``'s id by ``goal`` (a new due date, count or set of
    courses) and count it again from ``history`` (as :func:`add_dated_goal` needs it).

    A goal already paid stays paid: its XP is not paid again when it is reached again.
    """
    if all(g.goal_id != goal.goal_id for g in state.dated_goals):
        raise ValueError(f"goal {goal.goal_id!r} does not exist")
    if history is None and state.fact_count and not state.history:
        raise MissingHistory([goal.tally_key])
    facts = state.history if history is None else tuple(history)
    goals = tuple(goal if g.goal_id == goal.goal_id else g for g in state.dated_goals)
    keys = {g.tally_key for g in goals}
    tallies = {k: t for k, t in state.goal_tallies.items() if k in keys}
    tallies[goal.tally_key] = tally_goal(goal, facts)
    return replace(state, dated_goals=goals, goal_tallies=tallies)


def finish_dated_goal(state: LearnerState, goal_id: str, today: date) -> LearnerState:
    """Close a dated goal on local day ``today``, reached or given up: it leaves the open
    goals for the finished ones (the newest :data:`MAX_FINISHED_GOALS` are kept)."""
    goal = next((g for g in state.dated_goals if g.goal_id == goal_id), None)
    if goal is None:
        raise ValueError(f"goal {goal_id!r} does not exist")
    progress = state.dated_goal_progress(goal, today)
    finished = FinishedGoal(goal, today, progress.done, progress.reached_on)
    closed = remove_dated_goal(state, goal_id)
    kept = (*state.finished_goals, finished)[-MAX_FINISHED_GOALS:]
    return replace(closed, finished_goals=kept)


def remove_dated_goal(state: LearnerState, goal_id: str) -> LearnerState:
    """Drop a dated goal and its tally (a goal already paid stays paid)."""
    keep = tuple(g for g in state.dated_goals if g.goal_id != goal_id)
    keys = {g.tally_key for g in keep}
    tallies = {k: t for k, t in state.goal_tallies.items() if k in keys}
    return replace(state, dated_goals=keep, goal_tallies=tallies)
