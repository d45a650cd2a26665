"""How far a learner is on a badge: the criterion's measure, as ``gamification.badges`` counts it.

The engine decides awards (``evaluate_badges``) but does not expose the measured value, so
this module measures it the same way: facts filtered by ``BadgeCriterion.matches``, then
counted (event counts), summed (minutes) or deduplicated (competencies); challenges
completed from the state; a streak from the refreshed streak snapshot. A test checks that a
tier is reached here exactly when the engine would award it.
"""

from dataclasses import dataclass

from gamification import BadgeCriterion, CriterionKind, LearnerState


@dataclass(frozen=True)
class CriterionMeasure:
    """``value`` is where the learner stands now; ``best`` the highest it ever was.

    They differ only for streaks: a broken streak starts again from 0, but a length once
    reached still earns its tier.
    """

    value: int
    best: int

    def reached(self, threshold: int) -> bool:
        return self.best >= threshold

    def toward(self, threshold: int) -> int:
        """The number to show against ``threshold`` ("7 / 12")."""
        return self.best if self.reached(threshold) else self.value


def measure_criterion(criterion: BadgeCriterion, state: LearnerState) -> CriterionMeasure:
    """The criterion's measure for ``state`` (refresh the state first for streak badges)."""
    if criterion.kind is CriterionKind.STREAK_LENGTH:
        streak = state.streak
        return CriterionMeasure(streak.current, max(streak.longest, streak.current))
    if criterion.kind is CriterionKind.CHALLENGES_COMPLETED:
        done = len(state.completed_challenges)
        return CriterionMeasure(done, done)
    value = 0
    seen: set[int] = set()
    for fact in state.facts:
        if not criterion.matches(fact):
            continue
        if criterion.kind is CriterionKind.DISTINCT_COMPETENCIES:
            touched = set(fact.competency_ids)
            if criterion.competency_id is not None:
                touched &= {criterion.competency_id}
            seen |= touched
            value = len(seen)
        elif criterion.kind is CriterionKind.TOTAL_MINUTES:
            value += fact.minutes
        else:
            value += 1
    return CriterionMeasure(value, value)
