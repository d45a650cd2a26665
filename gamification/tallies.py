"""Running totals per rule: what lets applying a fact cost O(rules), not O(history).

For every badge criterion, individual challenge and dated goal the engine keeps a *tally*
in the learner's state (``badges.BadgeTally``, ``challenges.ChallengeTally``,
``goals.GoalTally``): what the learner's facts add up to for that rule (a count, minutes,
the competencies touched, the courses counted, the earliest days). Each tally is a
commutative sum, so it does not depend on the order facts arrive in, and each module's
``tally_*`` gives the same tally from a whole history as adding its facts one by one.

A tally is keyed by its rule's content (the rule's ``tally_key``): a rule L&D changes gets
a new tally. A learner who already has facts but no tally for a rule (a badge created since,
a converted version-1 document) gets it from their history first
(``gamification.engine.backfill``); the backend reads that history from its events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

_T = TypeVar("_T")


def known_tally(tallies: Mapping[str, _T], key: str, fact_count: int, empty: _T) -> _T:
    """The tally under ``key``; ``empty`` for a learner without facts; KeyError for a learner
    with facts and no tally yet (``gamification.engine.backfill`` it first)."""
    tally = tallies.get(key)
    if tally is not None:
        return tally
    if fact_count:
        raise KeyError(f"no tally for {key}: backfill the learner's history first")
    return empty
