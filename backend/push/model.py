"""The value types of push delivery: a claimed batch, what became of it, a worker's tally."""

from dataclasses import dataclass, field
from datetime import datetime

from backend.push.payload import PushMessage
from backend.push.sender import Device


@dataclass(frozen=True, slots=True)
class ClaimedNudge:
    """An outbox row (``nudge``) a worker holds the claim on."""

    message: PushMessage
    organisation_id: int
    user_id: int
    attempts: int


@dataclass
class Batch:
    """What one claim returns: the nudges, their learners' devices, what is delivered already."""

    nudges: list[ClaimedNudge]
    devices: dict[int, list[Device]]  # by user id
    delivered: set[tuple[str, int]]  # (nudge id, subscription id) already recorded


@dataclass
class Verdict:
    """A nudge's next state: ``sent``, ``skipped``, ``dead``, or ``pending`` until ``due_at``."""

    status: str = "pending"
    due_at: datetime | None = None
    error: str = ""
    attempts: int = 0


@dataclass
class Outcomes:
    """A batch's sends judged: what to record for the nudges and their devices."""

    delivered: list[tuple[ClaimedNudge, Device, int]] = field(default_factory=list)  # 2xx status
    gone: set[int] = field(default_factory=set)  # devices the push service no longer knows
    failed_devices: set[int] = field(default_factory=set)
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # by nudge id


@dataclass
class DeliveryReport:
    """What a worker did, for its log line when it stops."""

    sent: int = 0  # messages the push services accepted
    nudges_sent: int = 0
    retried: int = 0
    dead: int = 0
    gone: int = 0  # devices removed

    def add(self, other: "DeliveryReport") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
