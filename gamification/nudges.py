"""Nudge intents: what the engine thinks is worth telling the learner.

Only the intent is decided here; when and whether to push it (quiet hours, caps, channels)
is the nudge policy's job. ``dedupe_key`` is stable, so the outbox can refuse repeats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from gamification.jsondoc import JsonDict


class NudgeKind(StrEnum):
    """What happened that may deserve a message."""

    BADGE_EARNED = "badge_earned"
    STREAK_MILESTONE = "streak_milestone"
    GOAL_REACHED = "goal_reached"
    CHALLENGE_COMPLETED = "challenge_completed"
    LEVEL_UP = "level_up"


@dataclass(frozen=True)
class NudgeIntent:
    """A message worth sending, with its template parameters."""

    kind: NudgeKind
    dedupe_key: str
    params: Mapping[str, str | int] = field(default_factory=dict)

    def to_dict(self) -> JsonDict:
        """JSON-compatible form (for an outbox row)."""
        return {"kind": self.kind.value, "dedupe_key": self.dedupe_key, "params": dict(self.params)}
