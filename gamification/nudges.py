"""Nudge intents: what the engine thinks is worth telling the learner.

Only the intent is decided here; when and whether to push it (quiet hours, caps, channels)
is the nudge policy's job. ``dedupe_key`` is stable, so the outbox can refuse repeats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from gamification.jsondoc import JsonDict


class NudgeCategory(StrEnum):
    """What a learner can switch off in Settings (``user_account.nudge_kinds_off``).

    Every nudge kind belongs to one category; a pre-boarding welcome belongs to none and
    is always allowed.
    """

    REMINDER = "reminder"
    STREAK_AT_RISK = "streak_at_risk"
    GOAL = "goal"
    CHALLENGE = "challenge"
    BADGE = "badge"
    KUDOS = "kudos"
    BUDGET = "budget"
    NEW_COURSE = "new_course"
    TESTIMONIAL_REQUEST = "testimonial_request"


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
