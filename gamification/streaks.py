"""Streaks, computed from the set of active local days (so arrival order never matters).

A *period* is a local day (daily mode) or an ISO week (weekly mode). Walking the periods
from the learner's first active day up to ``today``:

- A period is **met** when the learner was active on enough distinct days: 1 in daily mode,
  ``days_per_week`` in weekly mode. It adds 1 to the running streak.
- **Planned pauses are neutral**: a paused day needs no activity, and in weekly mode the
  target shrinks to ``ceil(days_per_week * unpaused_days / 7)``; a period with a target of
  0 neither breaks nor extends the streak (activity in it still counts).
- The period containing ``today`` is still open: not met yet means *at risk*, not missed.
- A **missed** period (target not met, period over, streak running) is handled, in order:
  1. **Repair**: the missed amount is made up as *extra sessions* (sessions beyond the
     first on an active day) during the ``repair_window_days`` local days after the miss
     became final (48 h by default: for a day D that is D+1 and D+2; for a week the
     following Monday and Tuesday). Daily mode needs 1 extra session, on window days that
     are active without a gap from D+1 (so "2 sessions on D+1", or "1 on D+1 and 2 on D+2"
     both repair D). Weekly mode needs ``target - active days`` extra sessions. A
     repaired period counts as met (it adds 1).
  2. **Freeze**: otherwise a banked freeze is used automatically (chronologically); the
     period is neutral. Freezes are earned each time the running streak reaches a
     multiple of ``freeze_every_days`` / ``freeze_every_weeks``; at most
     ``max_banked_freezes`` are banked. A repair made after a freeze was used gives the
     freeze back (repair is checked first), so freezes never cost the learner anything.
  3. Otherwise the streak **breaks** (restarts at 0). While the repair window is still
     open, the status carries a :class:`RepairOffer` ("restore your 12-day streak");
     after it closes the break is final.

The walk is a left fold over periods, so it can resume: once a period's repair window has
closed, nothing that happens later changes the totals before it. :func:`compute_streak`
with ``resume`` starts from a :class:`StreakCheckpoint` instead of the first active day and
hands back a newer one, so a learner with years of history costs a few periods per event.
A checkpoint is only used for the policy and pauses it was made with, and a fact dated
before its ``valid_from`` (a day the fold already read) must drop it (the engine does).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from gamification.jsondoc import (
    JsonDict,
    parse_date,
    read_bool,
    read_date,
    read_int,
    read_list,
    read_mapping,
    read_optional_date,
    read_str,
)
from gamification.periods import DateRange, week_start
from gamification.rules import StreakMode, StreakPolicy


@dataclass(frozen=True)
class RepairOffer:
    """A broken streak that can still be repaired (shown as "restore your 12-day streak")."""

    missed: date
    repair_by: date
    extra_sessions_needed: int
    streak_at_stake: int

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {
            "missed": self.missed.isoformat(),
            "repair_by": self.repair_by.isoformat(),
            "extra_sessions_needed": self.extra_sessions_needed,
            "streak_at_stake": self.streak_at_stake,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RepairOffer:
        """Inverse of :meth:`to_dict`."""
        return cls(
            missed=read_date(data, "missed"),
            repair_by=read_date(data, "repair_by"),
            extra_sessions_needed=read_int(data, "extra_sessions_needed", 1),
            streak_at_stake=read_int(data, "streak_at_stake", 0),
        )


@dataclass(frozen=True)
class StreakStatus:
    """A learner's streak as of one local day.

    ``current``/``longest`` count periods (days or weeks). ``deadline`` is the last local
    day to act when ``at_risk``. ``freezes_used`` and ``repaired`` hold the first day of
    each period a freeze covered or a repair restored.
    """

    mode: StreakMode = StreakMode.DAILY
    current: int = 0
    longest: int = 0
    at_risk: bool = False
    deadline: date | None = None
    freezes_banked: int = 0
    freezes_used: tuple[date, ...] = ()
    repaired: tuple[date, ...] = ()
    milestones: tuple[int, ...] = ()
    repair_offer: RepairOffer | None = None

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {
            "mode": self.mode.value,
            "current": self.current,
            "longest": self.longest,
            "at_risk": self.at_risk,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "freezes_banked": self.freezes_banked,
            "freezes_used": [d.isoformat() for d in self.freezes_used],
            "repaired": [d.isoformat() for d in self.repaired],
            "milestones": list(self.milestones),
            "repair_offer": self.repair_offer.to_dict() if self.repair_offer else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreakStatus:
        """Inverse of :meth:`to_dict`; ``from_dict({})`` is no streak."""
        offer = read_mapping(data, "repair_offer") if data.get("repair_offer") else None
        return cls(
            mode=StreakMode(read_str(data, "mode", StreakMode.DAILY.value)),
            current=read_int(data, "current", 0),
            longest=read_int(data, "longest", 0),
            at_risk=read_bool(data, "at_risk", False),
            deadline=read_optional_date(data, "deadline"),
            freezes_banked=read_int(data, "freezes_banked", 0),
            freezes_used=tuple(parse_date(d) for d in read_list(data, "freezes_used")),
            repaired=tuple(parse_date(d) for d in read_list(data, "repaired")),
            milestones=tuple(int(m) for m in read_list(data, "milestones")),
            repair_offer=RepairOffer.from_dict(offer) if offer is not None else None,
        )


LISTED_DAYS = 30
"""``freezes_used`` and ``repaired`` keep the most recent this many days (they are shown,
not counted)."""


@dataclass(frozen=True)
class StreakCheckpoint:
    """The walk's running totals at the start of ``period_start`` (every earlier period and
    its repair window is final). ``basis`` names the policy and pauses it holds for;
    ``valid_from`` is the first day the walk up to here did not read."""

    period_start: date
    valid_from: date
    basis: str
    count: int = 0
    longest: int = 0
    banked: int = 0
    freezes_used: tuple[date, ...] = ()
    repaired: tuple[date, ...] = ()

    def to_dict(self) -> JsonDict:
        """JSON-compatible form (days as ordinals: the document stays small)."""
        return {
            "period_start": self.period_start.toordinal(),
            "valid_from": self.valid_from.toordinal(),
            "basis": self.basis,
            "count": self.count,
            "longest": self.longest,
            "banked": self.banked,
            "freezes_used": [d.toordinal() for d in self.freezes_used],
            "repaired": [d.toordinal() for d in self.repaired],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreakCheckpoint:
        """Inverse of :meth:`to_dict`."""
        return cls(
            period_start=date.fromordinal(read_int(data, "period_start", 1)),
            valid_from=date.fromordinal(read_int(data, "valid_from", 1)),
            basis=read_str(data, "basis", ""),
            count=read_int(data, "count", 0),
            longest=read_int(data, "longest", 0),
            banked=read_int(data, "banked", 0),
            freezes_used=tuple(date.fromordinal(int(d)) for d in read_list(data, "freezes_used")),
            repaired=tuple(date.fromordinal(int(d)) for d in read_list(data, "repaired")),
        )


def _basis(policy: StreakPolicy, pauses: tuple[DateRange, ...]) -> str:
    """What a checkpoint depends on besides the active days: the policy and the pauses."""
    spans = ",".join(
        f"{p.start.toordinal()}-{p.end.toordinal()}"
        for p in sorted(pauses, key=lambda p: (p.start, p.end))
    )
    return (
        f"{policy.mode.value}:{policy.days_per_week}:{policy.freeze_every_days}:"
        f"{policy.freeze_every_weeks}:{policy.max_banked_freezes}:{policy.repair_window_days}"
        f"|{spans}"
    )


def _window_days(policy: StreakPolicy) -> int:
    """How many days after a period's end the walk reads (its repair window)."""
    if policy.mode is StreakMode.DAILY:
        return policy.repair_window_days
    return min(policy.repair_window_days, 7)


def _period_start(day: date, mode: StreakMode) -> date:
    return day if mode is StreakMode.DAILY else week_start(day)


def _final_before(policy: StreakPolicy, today: date) -> date:
    """The latest period start whose earlier periods (and their repair windows) are final."""
    return _period_start(today - timedelta(days=_window_days(policy) + 1), policy.mode)


def _checkpoint_holds(
    checkpoint: StreakCheckpoint, basis: str, final_before: date
) -> StreakCheckpoint | None:
    """``checkpoint`` if it was taken under ``basis`` and lies in the final part of the walk
    (``final_before``: see :func:`_final_before`), else None."""
    if checkpoint.basis != basis or checkpoint.period_start > final_before:
        return None
    return checkpoint


@dataclass
class _Sweep:
    """Running totals while walking the periods (private, mutable on purpose)."""

    count: int = 0
    longest: int = 0
    banked: int = 0
    freezes_used: list[date] = field(default_factory=list)
    repaired: list[date] = field(default_factory=list)
    at_risk: bool = False
    deadline: date | None = None
    offer: RepairOffer | None = None


def _repair_credit(
    sessions: Mapping[int, int], period_end: int, policy: StreakPolicy, today: int
) -> tuple[int, bool, int]:
    """Extra sessions in the repair window, whether it is still usable, and its last day
    (days as ordinals)."""
    daily = policy.mode is StreakMode.DAILY
    window_end = period_end + _window_days(policy)
    extras = 0
    for day in range(period_end + 1, min(window_end, today) + 1):
        done = sessions.get(day, 0)
        if daily and done == 0:
            # the daily window must be active without a gap, else the extra proves nothing
            return extras, day == today, window_end
        extras += max(0, done - 1)
    return extras, True, window_end


def _sweep(
    sessions: Mapping[int, int],
    policy: StreakPolicy,
    pauses: Collection[DateRange],
    today: date,
    resume: StreakCheckpoint | None,
    basis: str,
    final_before: date,
) -> tuple[_Sweep, StreakCheckpoint | None]:
    """The fold over the periods. ``sessions``: the active days in day order (ordinals,
    more than 0 sessions, none after ``today``; from ``resume``'s period on when it is
    given); ``resume``: a checkpoint that holds for ``basis`` and ``final_before`` (see
    :func:`walk_active_days`)."""
    sweep = _Sweep()
    window = _window_days(policy)
    now = today.toordinal()
    if resume is not None:
        first = resume.period_start
        sweep.count, sweep.longest, sweep.banked = resume.count, resume.longest, resume.banked
        sweep.freezes_used = list(resume.freezes_used)
        sweep.repaired = list(resume.repaired)
    elif sessions:
        first = _period_start(date.fromordinal(min(sessions)), policy.mode)
    else:
        return sweep, None  # never active: nothing to walk, nothing to resume from
    checkpoint: StreakCheckpoint | None = None
    if first > final_before:
        checkpoint = resume
    lo = first.toordinal()
    daily = policy.mode is StreakMode.DAILY
    full_target = 1 if daily else policy.days_per_week
    length = 1 if daily else 7
    checkpoint_at = final_before.toordinal()
    last_start = now if daily else week_start(today).toordinal()
    hi = last_start + length - 1  # the open period's last day (this week may reach ahead)
    paused = (
        {
            day
            for p in pauses
            for day in range(max(p.start.toordinal(), lo), min(p.end.toordinal(), hi) + 1)
        }
        if pauses
        else set()
    )
    ordered = list(sessions)  # in day order
    # the running totals as locals: this loop runs for every period of the walk
    count, longest, banked = sweep.count, sweep.longest, sweep.banked
    every, most = policy.freeze_every, policy.max_banked_freezes
    for start in range(lo, last_start + 1, length):
        if start == checkpoint_at and resume is not None and start == lo:
            checkpoint = resume  # the walk starts where the checkpoint was taken: it stays
        elif start == checkpoint_at:
            checkpoint = StreakCheckpoint(
                period_start=final_before,
                valid_from=final_before + timedelta(days=window),
                basis=basis,
                count=count,
                longest=longest,
                banked=banked,
                freezes_used=tuple(sweep.freezes_used[-LISTED_DAYS:]),
                repaired=tuple(sweep.repaired[-LISTED_DAYS:]),
            )
        end = start + length - 1
        if daily:
            if start in sessions:
                target, active = 1, 1
            else:
                target, active = (0 if start in paused else 1), 0
        else:
            active = bisect.bisect_right(ordered, end) - bisect.bisect_left(ordered, start)
            if paused:
                unpaused = length - sum(1 for d in range(start, end + 1) if d in paused)
                target = math.ceil(full_target * unpaused / length)
            else:
                target = full_target
        if active >= (target or full_target):
            count += 1
            if count > longest:
                longest = count
            if count % every == 0 and banked < most:
                banked += 1
        elif target == 0:
            continue
        elif end >= now:
            sweep.at_risk = count > 0
            sweep.deadline = date.fromordinal(end) if sweep.at_risk else None
        else:
            sweep.offer = None
            if count == 0:
                continue
            shortfall = target - active
            extras, usable, repair_by = _repair_credit(sessions, end, policy, now)
            if extras >= shortfall:
                sweep.repaired.append(date.fromordinal(start))
                count += 1
                if count > longest:
                    longest = count
                if count % every == 0 and banked < most:
                    banked += 1
                continue
            if banked > 0:
                banked -= 1
                sweep.freezes_used.append(date.fromordinal(start))
                continue
            if usable and now <= repair_by:
                sweep.offer = RepairOffer(
                    date.fromordinal(start),
                    date.fromordinal(repair_by),
                    shortfall - extras,
                    count,
                )
            count = 0
    sweep.count, sweep.longest, sweep.banked = count, longest, banked
    return sweep, checkpoint


def compute_streak(
    sessions_by_day: Mapping[date, int],
    policy: StreakPolicy,
    pauses: Collection[DateRange] = (),
    *,
    today: date,
) -> StreakStatus:
    """The streak as of local day ``today``.

    ``sessions_by_day`` maps each local day to the number of learning sessions on it (a day
    is active when it has at least one). Only the set of days and counts matter, never the
    order in which they were learned about. See the module docstring for the rules.
    """
    return resume_streak(sessions_by_day, policy, pauses, today=today)[0]


def resume_streak(
    sessions_by_day: Mapping[date, int],
    policy: StreakPolicy,
    pauses: Collection[DateRange] = (),
    *,
    today: date,
    resume: StreakCheckpoint | None = None,
) -> tuple[StreakStatus, StreakCheckpoint | None]:
    """:func:`compute_streak`, walking from ``resume`` when it still holds, and the newest
    checkpoint to resume from next time.

    With ``resume``, ``sessions_by_day`` needs only the days from its ``period_start`` on;
    the caller drops the checkpoint when a day before its ``valid_from`` changed.
    """
    days = sorted(sessions_by_day)
    return walk_active_days(
        [day.toordinal() for day in days],
        [sessions_by_day[day] for day in days],
        policy,
        pauses,
        today=today,
        resume=resume,
    )


def walk_active_days(
    days: Sequence[int],
    sessions: Sequence[int],
    policy: StreakPolicy,
    pauses: Collection[DateRange] = (),
    *,
    today: date,
    resume: StreakCheckpoint | None = None,
) -> tuple[StreakStatus, StreakCheckpoint | None]:
    """:func:`resume_streak` over the active days as the learner state keeps them (no date
    objects to build for every active day): ``days`` sorted ordinals, ``sessions`` the count
    on each. Only the days from ``resume``'s period on are read when it holds; it is dropped
    when it does not."""
    basis, final_before = _walk_bounds(policy, tuple(pauses), today)
    if resume is not None:
        resume = _checkpoint_holds(resume, basis, final_before)
    # activity dated after today (clock skew) only counts once its day has come
    lo = 0 if resume is None else bisect.bisect_left(days, resume.period_start.toordinal())
    hi = bisect.bisect_right(days, today.toordinal())
    active = {d: n for d, n in zip(days[lo:hi], sessions[lo:hi], strict=True) if n > 0}
    sweep, checkpoint = _sweep(active, policy, pauses, today, resume, basis, final_before)
    status = StreakStatus(
        mode=policy.mode,
        current=sweep.count,
        longest=sweep.longest,
        at_risk=sweep.at_risk,
        deadline=sweep.deadline,
        freezes_banked=sweep.banked,
        freezes_used=tuple(sweep.freezes_used[-LISTED_DAYS:]),
        repaired=tuple(sweep.repaired[-LISTED_DAYS:]),
        milestones=_milestones_reached(policy, sweep.longest),
        repair_offer=sweep.offer,
    )
    return status, checkpoint


@lru_cache(maxsize=1024)
def _walk_bounds(
    policy: StreakPolicy, pauses: tuple[DateRange, ...], today: date
) -> tuple[str, date]:
    """The checkpoint basis (:func:`_basis`) and :func:`_final_before`: cached, as a batch
    walks many learners who share the policy, usually no pauses, and today."""
    return _basis(policy, pauses), _final_before(policy, today)


def _milestones_reached(policy: StreakPolicy, longest: int) -> tuple[int, ...]:
    milestones = policy.milestones  # rising
    return milestones[: bisect.bisect_right(milestones, longest)]
