"""Game design: reading, previewing and changing an organisation's game rules.

A change applies from a stated moment (now, or the start of a chosen day in the
organisation's timezone) and never before it: the versions in force before the moment stay
in ``game_rules_history``, so a late event is paid by the rules in force when it happened.
Nothing already earned is touched: the XP ledger and badge awards are append-only, and a
change only decides what new learning earns. A change to the streak policy starts at the
beginning of a week (Monday, 00:00 in the organisation's timezone), so no week is judged by
two rules; streaks are a view over the learner's active days, so from then on they are
counted with the new policy (the preview shows what that does today).
"""

import itertools
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar.exceptions import ValidationException
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import col, select

from backend.audit import services as audit
from backend.db.models import Course, LearnerState, User
from backend.db.types import utcnow
from backend.learning.rules import level_curve, streak_policy, xp_rules
from backend.organisations.settings import (
    MAX_RULE_VERSIONS,
    GameRules,
    GameRulesVersion,
    OrganisationSettings,
    game_rule_settings,
    game_rules_at,
    game_rules_timeline,
    newest_game_rules,
    organisation_settings,
)
from backend.tenancy import OrgScope
from gamification import DateRange, EventKind, LearningFact
from gamification.periods import local_day
from gamification.streaks import StreakCheckpoint, walk_active_days
from gamification.xp import XpContext, xp_for_fact

MAX_DAYS_AHEAD = 366
SECTIONS = ("streak", "xp", "levels")


@dataclass(frozen=True)
class RulesVersionView:
    starts_at: datetime | None  # None: since the organisation began
    rules: GameRules


@dataclass(frozen=True)
class GameRulesView:
    """The rules in force now, since when, and any change scheduled for later."""

    rules: GameRules
    since: datetime | None
    upcoming: list[RulesVersionView]
    newest: GameRules
    timezone: str


def rules_view(settings: OrganisationSettings, timezone: str, now: datetime) -> GameRulesView:
    since: datetime | None = None
    upcoming: list[RulesVersionView] = []
    for start, version in game_rules_timeline(settings):
        if start is None or start <= now:
            since = start
        else:
            upcoming.append(RulesVersionView(start, version))
    return GameRulesView(
        rules=game_rules_at(settings, now),
        since=since,
        upcoming=upcoming,
        newest=newest_game_rules(settings),
        timezone=timezone,
    )


async def get_game_rules(org: OrgScope, now: datetime | None = None) -> GameRulesView:
    organisation = await org.organisation()
    return rules_view(
        organisation_settings(organisation), organisation.default_timezone, now or utcnow()
    )


# --- reading a change -----------------------------------------------------------------------


def _invalid(errors: list[tuple[str, str]]) -> ValidationException:
    return ValidationException(
        "invalid game rules", extra=[{"key": key, "message": msg} for key, msg in errors]
    )


def merged_rules(base: GameRules, changes: Mapping[str, Any]) -> GameRules:
    """``base`` with a partial document (``{"xp": {"informal_xp": 5}}``) merged over it, then
    validated whole; 400 naming each wrong field (``xp.informal_daily_cap``)."""
    document = base.model_dump(mode="json")
    for section, values in changes.items():
        if section in document and isinstance(values, Mapping):
            document[section] = {**document[section], **values}
        else:
            document[section] = values
    try:
        return GameRules.model_validate(document)
    except ValidationError as exc:
        raise _invalid([(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]) from exc


def effective_moment(
    requested: date | None,
    now: datetime,
    timezone: str,
    *,
    streak_changed: bool,
) -> datetime:
    """When a change applies: now, or the start of ``requested`` (organisation's local day);
    a streak change moves to the next Monday 00:00 (unless the moment is one)."""
    zone = ZoneInfo(timezone)
    today = local_day(now, timezone)
    if requested is not None and requested < today:
        raise _invalid([("effective_from", "choose today or a later day")])
    if requested is not None and (requested - today).days > MAX_DAYS_AHEAD:
        raise _invalid([("effective_from", "choose a day within a year")])
    moment = now
    if requested is not None:
        moment = max(now, datetime.combine(requested, time(), zone))
    if streak_changed:
        local = moment.astimezone(zone)
        monday = local.date() - timedelta(days=local.date().weekday())
        start = datetime.combine(monday, time(), zone)
        if start < moment:
            start = datetime.combine(monday + timedelta(days=7), time(), zone)
        moment = start
    return moment.astimezone(UTC)


def changed_fields(before: GameRules, after: GameRules) -> list[str]:
    """The dotted names of what differs (``xp.seasons`` as one)."""
    old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
    return [
        f"{section}.{name}"
        for section in SECTIONS
        for name in new[section]
        if old[section].get(name) != new[section][name]
    ]


@dataclass(frozen=True)
class RulesChange:
    """A change as it would be saved: what differs and from when."""

    before: GameRules
    after: GameRules
    effective_from: datetime
    changed: list[str]
    replaces_scheduled: bool = False

    @property
    def is_noop(self) -> bool:
        return not self.changed and not self.replaces_scheduled


def plan_change(
    settings: OrganisationSettings,
    timezone: str,
    rules: GameRules,
    effective_from: date | None,
    now: datetime,
) -> RulesChange:
    in_force = game_rules_at(settings, now)
    moment = effective_moment(
        effective_from, now, timezone, streak_changed=rules.streak != in_force.streak
    )
    before = game_rules_at(settings, moment)
    dropped = any(
        start is not None and start >= moment for start, _ in game_rules_timeline(settings)
    )
    return RulesChange(
        before=in_force,
        after=rules,
        effective_from=moment,
        changed=changed_fields(in_force, rules) or changed_fields(before, rules),
        replaces_scheduled=dropped,
    )


def settings_after(settings: OrganisationSettings, change: RulesChange) -> dict[str, Any]:
    """The settings document with ``change`` in the timeline (versions from its moment on
    are replaced; the one before it ends at the moment)."""
    kept = [
        (start, version)
        for start, version in game_rules_timeline(settings)
        if start is None or start < change.effective_from
    ]
    timeline = [*kept, (change.effective_from, change.after)]
    history = [
        GameRulesVersion(until=until, rules=version)
        for (_, version), (until, _) in itertools.pairwise(timeline)
        if until is not None
    ][-MAX_RULE_VERSIONS:]
    document = settings.model_dump(mode="json")
    document.update(game_rule_settings(change.after))
    document["game_rules_history"] = [v.model_dump(mode="json") for v in history]
    return document


def _summary(change: RulesChange, timezone: str) -> str:
    moment = change.effective_from.astimezone(ZoneInfo(timezone))
    what = ", ".join(change.changed) or "the scheduled change"
    return f"Changed the game rules ({what}), for learning from {moment:%Y-%m-%d %H:%M} {timezone}"


async def change_game_rules(
    org: OrgScope,
    rules: GameRules,
    effective_from: date | None = None,
    *,
    now: datetime | None = None,
    commit: bool = True,
) -> RulesChange:
    """Store ``rules`` as the organisation's game rules from ``effective_from`` (None: now;
    see :func:`effective_moment`), with an audit entry; nothing earned changes."""
    now = now or utcnow()
    organisation = await org.organisation()
    settings = organisation_settings(organisation)
    change = plan_change(settings, organisation.default_timezone, rules, effective_from, now)
    if change.is_noop:
        return change
    organisation.settings = settings_after(settings, change)
    org.session.add(organisation)
    audit.record(
        org,
        "game_rules.change",
        target_type="organisation",
        target_id=org.organisation_id,
        summary=_summary(change, organisation.default_timezone),
        details={
            "effective_from": change.effective_from.isoformat(),
            "changed": change.changed,
            "before": change.before.model_dump(mode="json"),
            "after": change.after.model_dump(mode="json"),
        },
    )
    if commit:
        await org.session.commit()
    return change


# --- preview --------------------------------------------------------------------------------


@dataclass(frozen=True)
class XpExample:
    kind: str  # completion, progress, experience, informal, testimonial, goal, challenge
    minutes: int  # what the example assumes (0: not minute-based)
    now: int
    new: int


@dataclass(frozen=True)
class LevelRow:
    level: int
    xp_now: int
    xp_new: int
    learners_now: int
    learners_new: int


@dataclass
class GamePreview:
    """What a proposed rule set does on the organisation's stored data, next to today."""

    learners: int = 0
    streaks_now: int = 0
    streaks_new: int = 0
    freezes_now: int = 0
    freezes_new: int = 0
    xp_examples: list[XpExample] = field(default_factory=list)
    levels_up: int = 0
    levels_down: int = 0
    median_xp: int = 0
    median_level_now: int = 1
    median_level_new: int = 1
    level_rows: list[LevelRow] = field(default_factory=list)
    season_today_now: float = 1.0
    season_today_new: float = 1.0


@dataclass(frozen=True)
class LearnerSnapshot:
    timezone: str
    xp_total: int
    days: tuple[int, ...]
    sessions: tuple[int, ...]
    pauses: tuple[DateRange, ...]
    checkpoint: StreakCheckpoint | None = None  # the engine's, for the policy it was made with


async def _learners(org: OrgScope) -> list[LearnerSnapshot]:
    """Every active learner's timezone, XP and active days (read from the kept state)."""
    rows = (
        await org.session.exec(
            select(  # type: ignore[call-overload]
                User.timezone,
                func.coalesce(LearnerState.xp_total, 0),
                LearnerState.data["active"]["days"],
                LearnerState.data["active"]["sessions"],
                LearnerState.data["pauses"],
                LearnerState.data["streak_checkpoint"],
            )
            .select_from(User)
            .outerjoin(LearnerState, col(LearnerState.user_id) == col(User.id))
            .where(org.owns(User), col(User.is_active).is_(True))
        )
    ).all()
    snapshots = []
    for tz, xp_total, days, sessions, pauses, checkpoint in rows:
        days, sessions = list(days or []), list(sessions or [])
        if len(days) != len(sessions):
            days, sessions = [], []
        snapshots.append(
            LearnerSnapshot(
                timezone=tz,
                xp_total=int(xp_total),
                days=tuple(int(d) for d in days),
                sessions=tuple(int(s) for s in sessions),
                pauses=tuple(DateRange.from_dict(p) for p in pauses or []),
                checkpoint=StreakCheckpoint.from_dict(checkpoint) if checkpoint else None,
            )
        )
    return snapshots


async def typical_course_minutes(org: OrgScope) -> int:
    """The median duration of the organisation's courses (60 without any)."""
    durations = (
        await org.session.exec(
            select(Course.duration_minutes).where(org.owns(Course), Course.duration_minutes > 0)
        )
    ).all()
    return int(statistics.median(durations)) if durations else 60


def xp_examples(
    before: GameRules, after: GameRules, course_minutes: int, now: datetime
) -> list[XpExample]:
    """What one piece of learning of each kind earns under both rule sets (no season)."""
    old, new = xp_rules(before), xp_rules(after)
    day = now.date()

    def fact(kind: EventKind, minutes: int) -> LearningFact:
        return LearningFact(
            key=f"preview:{kind.value}",
            kind=kind,
            occurred_at=now,
            local_date=day,
            minutes=minutes,
            course_id=1 if kind is EventKind.COMPLETION else None,
            course_duration_minutes=minutes if kind is EventKind.COMPLETION else None,
        )

    def paid(kind: EventKind, minutes: int, rules: Any) -> int:
        awards = xp_for_fact(fact(kind, minutes), rules, XpContext())
        return sum(a.amount for a in awards if a.reason.value == kind.value)

    examples = [
        XpExample(kind.value, minutes, paid(kind, minutes, old), paid(kind, minutes, new))
        for kind, minutes in (
            (EventKind.COMPLETION, course_minutes),
            (EventKind.PROGRESS, 30),
            (EventKind.EXPERIENCE, 0),
            (EventKind.INFORMAL, 0),
            (EventKind.TESTIMONIAL, 0),
        )
    ]
    examples.append(XpExample("informal_day", 0, old.informal_daily_cap, new.informal_daily_cap))
    examples.append(XpExample("goal", 0, old.goal_reached_xp, new.goal_reached_xp))
    examples.append(
        XpExample("challenge", 0, old.challenge_completed_xp, new.challenge_completed_xp)
    )
    return examples


LEVEL_ROWS = 12


def compute_preview(
    learners: list[LearnerSnapshot],
    before: GameRules,
    after: GameRules,
    course_minutes: int,
    now: datetime,
    timezone: str,
) -> GamePreview:
    """The preview, by the pure engine: streaks walked over each learner's active days as of
    their today, levels from their XP total, XP for one piece of learning of each kind."""
    preview = GamePreview(learners=len(learners))
    old_policy, new_policy = streak_policy(before), streak_policy(after)
    old_curve, new_curve = level_curve(before), level_curve(after)
    levels_now: Counter[int] = Counter()
    levels_new: Counter[int] = Counter()
    same_policy = old_policy == new_policy
    for learner in learners:
        today = local_day(now, learner.timezone)
        # the engine's checkpoint holds for the policy in force (it checks): a short walk
        status, _ = walk_active_days(
            learner.days,
            learner.sessions,
            old_policy,
            learner.pauses,
            today=today,
            resume=learner.checkpoint,
        )
        preview.streaks_now += status.current > 0
        preview.freezes_now += status.freezes_banked
        if not same_policy:
            status, _ = walk_active_days(
                learner.days, learner.sessions, new_policy, learner.pauses, today=today
            )
        preview.streaks_new += status.current > 0
        preview.freezes_new += status.freezes_banked
        level_now = old_curve.level_for_xp(learner.xp_total)
        level_new = new_curve.level_for_xp(learner.xp_total)
        levels_now[level_now] += 1
        levels_new[level_new] += 1
        preview.levels_up += level_new > level_now
        preview.levels_down += level_new < level_now
    if learners:
        preview.median_xp = int(statistics.median_low(sorted(x.xp_total for x in learners)))
    preview.median_level_now = old_curve.level_for_xp(preview.median_xp)
    preview.median_level_new = new_curve.level_for_xp(preview.median_xp)
    top = max([LEVEL_ROWS, *levels_now, *levels_new])
    preview.level_rows = [
        LevelRow(
            level,
            old_curve.xp_for_level(level),
            new_curve.xp_for_level(level),
            levels_now[level],
            levels_new[level],
        )
        for level in range(1, min(top, 40) + 1)
    ]
    preview.xp_examples = xp_examples(before, after, course_minutes, now)
    today = local_day(now, timezone)
    preview.season_today_now = xp_rules(before).season_multiplier(today)
    preview.season_today_new = xp_rules(after).season_multiplier(today)
    return preview


async def preview_game_rules(
    org: OrgScope, rules: GameRules, now: datetime | None = None
) -> GamePreview:
    """What ``rules`` would do today next to the rules in force, on the stored data."""
    now = now or utcnow()
    organisation = await org.organisation()
    in_force = game_rules_at(organisation_settings(organisation), now)
    return compute_preview(
        await _learners(org),
        in_force,
        rules,
        await typical_course_minutes(org),
        now,
        organisation.default_timezone,
    )


# --- what the API and the console call ------------------------------------------------------


async def proposed_rules(org: OrgScope, sections: Mapping[str, Any]) -> GameRules:
    """The newest rules with ``sections`` merged over them (400 naming each wrong field)."""
    organisation = await org.organisation()
    return merged_rules(newest_game_rules(organisation_settings(organisation)), sections)


async def plan_for(
    org: OrgScope, rules: GameRules, effective_from: date | None, now: datetime | None = None
) -> RulesChange:
    """The change saving ``rules`` would make (nothing is written)."""
    organisation = await org.organisation()
    return plan_change(
        organisation_settings(organisation),
        organisation.default_timezone,
        rules,
        effective_from,
        now or utcnow(),
    )
