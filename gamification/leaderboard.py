"""Weekly XP leaderboard: opt-in, deterministic, and every learner can see their own rank.

Order: more weekly XP first; equal XP -> whoever reached that XP earlier (``reached_at``;
a row without one goes after rows with one); still equal -> lower user id. Ranks are
positions 1, 2, 3... in that order, so no two learners share a rank.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from gamification.periods import require_aware


@dataclass(frozen=True)
class LeaderboardRow:
    """One learner's weekly XP, as the backend aggregates it from the ledger."""

    user_id: int
    weekly_xp: int
    opted_in: bool
    display_name: str
    reached_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.reached_at is not None:
            require_aware(self.reached_at, "reached_at")


@dataclass(frozen=True)
class LeaderboardEntry:
    """A visible place on the board."""

    rank: int
    user_id: int
    display_name: str
    weekly_xp: int


def _order(row: LeaderboardRow) -> tuple[int, bool, float, int]:
    reached = row.reached_at.timestamp() if row.reached_at is not None else 0.0
    return (-row.weekly_xp, row.reached_at is None, reached, row.user_id)


def weekly_leaderboard(
    rows: Iterable[LeaderboardRow], limit: int | None = None
) -> list[LeaderboardEntry]:
    """The board others see: opted-in learners only, ranked, optionally the top ``limit``."""
    ranked = sorted((r for r in rows if r.opted_in), key=_order)
    if limit is not None:
        ranked = ranked[:limit]
    return [
        LeaderboardEntry(i + 1, r.user_id, r.display_name, r.weekly_xp)
        for i, r in enumerate(ranked)
    ]


def rank_for(user_id: int, rows: Iterable[LeaderboardRow]) -> int | None:
    """The rank ``user_id`` sees for themselves: their place among the opted-in learners
    (plus themselves if they did not opt in). None if they have no row.
    """
    rows = list(rows)
    own = next((r for r in rows if r.user_id == user_id), None)
    if own is None:
        return None
    ahead = sum(1 for r in rows if r.opted_in and r.user_id != user_id and _order(r) < _order(own))
    return ahead + 1
