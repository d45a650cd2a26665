"""One batch's input to the nudge policy, built from the rows the tick read.

:class:`Batch` turns the batch statement's rows (one per due learner, with their recent
learning, nudges, badges and kudos as arrays) into a :class:`LearnerInput` per learner, and
says what is still to look up (testimonial asks, budget spend, older dedupe keys); the tick
(:mod:`backend.nudges.scheduler`) reads those (:mod:`backend.nudges.store`) and hands the
answers back. Nothing here reads the database or decides what to send.
"""

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from backend.db.types import utcnow
from backend.learning.rules import rules_from_settings
from backend.nudges.happenings import (
    EVENT_DAYS,
    badge_happening,
    budget_happening,
    budget_key,
    budget_year,
    challenge_happenings,
    course_happenings,
    kudos_happening,
    next_step_happening,
    testimonial_asks,
    testimonial_happening,
    welcome_happening,
)
from backend.organisations.settings import (
    OrganisationSettings,
    game_rules_at,
    settings_from_document,
)
from gamification.nudge_policy import (
    Activity,
    LearnerPrefs,
    NudgeRules,
    QuietHours,
    SentNudge,
    VariantStats,
    next_step_key,
)
from gamification.nudge_texts import DEFAULT_LOCALE, LOCALES, TextCatalogue
from gamification.nudges import (
    CATEGORY,
    Happening,
    NudgeType,
    level_reached,
    streak_milestone_reached,
)
from gamification.periods import local_day
from gamification.rules import LevelCurve, StreakMode

# how far back the policy looks: learning (adaptive hour, this week), nudges (caps)
ACTIVITY_DAYS = 28
HISTORY_DAYS = 8
STATS_DAYS = 90
LEARNED_WITHIN = timedelta(hours=24)


class DueLearner(NamedTuple):
    """A learner_state row picked by the tick (only the hot columns, never the document)."""

    user_id: int
    organisation_id: int
    streak: int
    freezes_banked: int
    last_active_date: date | None
    weekly_goal_minutes: int


@dataclass
class OrgNudgeContext:
    """One organisation's rules and what is going on in it (challenges, new courses)."""

    organisation_id: int
    name: str
    default_timezone: str
    settings: OrganisationSettings
    rules: NudgeRules
    levels: LevelCurve
    challenges: list[dict[str, Any]] = field(default_factory=list)
    challenge_teams: frozenset[int] = frozenset()
    course_happenings: list[Happening] = field(default_factory=list)
    stats: dict[tuple[str, str], VariantStats] = field(default_factory=dict)
    # the organisation's own text variants over the built-in ones (None: built-in only)
    texts: TextCatalogue | None = None
    # per (timezone, challenge teams): the challenge happenings learners share this tick
    shared_challenges: dict[tuple[str, frozenset[int]], list[Happening]] = field(
        default_factory=dict
    )


@dataclass
class LearnerInput:
    """The policy input of one learner (``history`` grows when older keys are looked up)."""

    due: DueLearner
    prefs: LearnerPrefs
    activity: Activity
    happenings: list[Happening] = field(default_factory=list)
    history: list[SentNudge] = field(default_factory=list)


def nudge_rules(settings: OrganisationSettings, now: datetime | None = None) -> NudgeRules:
    """The policy's rules from an organisation's settings, with the streak policy in force
    ``now`` (a change L&D scheduled for next Monday does not steer today's nudges)."""
    streak = game_rules_at(settings, now or utcnow()).streak
    return NudgeRules(
        quiet=QuietHours(time(settings.quiet_hours_start), time(settings.quiet_hours_end)),
        nudges_on_weekends=settings.nudges_on_weekends,
        streak_mode=StreakMode(streak.mode),
        streak_days_per_week=streak.days_per_week,
        reminder_cap_per_day=settings.nudge_reminders_per_day,
        weekly_cap=settings.nudges_per_week,
        kinds_off=frozenset(NudgeType(k) for k in settings.nudge_kinds_off if k in _KIND_NAMES),
    )


_KIND_NAMES = frozenset(kind.value for kind in NudgeType)


def _settings(document: Mapping[str, Any]) -> OrganisationSettings:
    try:
        return settings_from_document(document)
    except ValueError:
        return OrganisationSettings()  # a broken document must not stop every nudge


def _levels(document: dict[str, Any]) -> LevelCurve:
    # the engine's level curve, as ingestion reads it
    try:
        return rules_from_settings(document).levels
    except (TypeError, ValueError):
        return LevelCurve()


def organisation_contexts(
    organisations: Iterable[tuple[int, str, str, dict[str, Any]]],
    challenges: Iterable[dict[str, Any]],
    new_courses: Iterable[Mapping[str, Any]],
) -> dict[int, OrgNudgeContext]:
    """Each organisation's rules (from its settings document), its running challenges and
    its new hot-skill courses."""
    orgs: dict[int, OrgNudgeContext] = {}
    for org_id, name, tz, document in organisations:
        settings = _settings(document)
        orgs[org_id] = OrgNudgeContext(
            org_id, name, tz, settings, nudge_rules(settings), _levels(document)
        )
    for challenge in challenges:
        orgs[challenge["organisation_id"]].challenges.append(challenge)
    courses: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for course in new_courses:
        courses[course["organisation_id"]].append(course)
    for org_id, org in orgs.items():
        org.challenge_teams = frozenset(
            ch["team_id"] for ch in org.challenges if ch["team_id"] is not None
        )
        org.course_happenings = course_happenings(courses[org_id])
    return orgs


def learner_prefs(
    tz: str,
    locale: str,
    reminder: time | None,
    quiet_start: time,
    quiet_end: time,
    kinds_off: frozenset[str],
    start: date | None,
    org: OrgNudgeContext,
) -> LearnerPrefs:
    """A learner's nudge settings from their user row (a broken timezone: the org's)."""
    return LearnerPrefs(
        timezone=tz if _valid_zone(tz) else org.default_timezone,
        locale=locale if locale in LOCALES else DEFAULT_LOCALE,
        reminder_time=reminder,
        quiet=QuietHours(quiet_start, quiet_end),
        kinds_off=kinds_off,
        start_date=start,
        organisation_name=org.name,
    )


def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ValueError, KeyError):
        return False
    return True


def activity_of(
    due: DueLearner,
    moments: Sequence[datetime],
    days: Sequence[date],
    minutes: Sequence[int | None],
    kinds: Sequence[str],
) -> Activity:
    """The policy's view of a learner's recent learning (events as parallel columns)."""
    by_day: dict[date, int] = {}
    active: set[date] = set()
    for day, mins, kind in zip(days, minutes, kinds, strict=True):
        by_day[day] = by_day.get(day, 0) + (mins or 0)
        # an LMS "launched" ping with no minutes proves nothing (as in the engine)
        if kind != "progress" or mins:
            active.add(day)
    return Activity(
        learned_at=tuple(sorted(moments)),
        minutes_by_day=by_day,
        active_days=frozenset(active),
        streak=due.streak,
        freezes_banked=due.freezes_banked,
        last_active_date=due.last_active_date,
        weekly_goal_minutes=due.weekly_goal_minutes,
    )


# due "from now" on every look (welcome, team milestones), or once ever, however long ago
# (a level, a streak milestone): a nudge for them may be older than the history window
_LONG_LIVED = frozenset(
    {NudgeType.WELCOME, NudgeType.TEAM_MILESTONE, NudgeType.LEVEL_UP, NudgeType.STREAK_MILESTONE}
)
# budget reminders are left out: their key was already looked up over all time
_LOOKED_UP_LATER = frozenset(NudgeType) - {NudgeType.BUDGET_REMINDER}
_NO_TEAMS: frozenset[int] = frozenset()
_NEXT_STEP_CATEGORY = str(CATEGORY[NudgeType.NEXT_STEP])


class Batch:
    """One batch's learners built from the batch statement's rows, and what is still to
    look up."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.since = now - timedelta(days=EVENT_DAYS)
        self.learners: dict[int, LearnerInput] = {}
        self.inactive: list[int] = []
        # the first learning within 24 h after a sent nudge: what the nudge is measured by
        self.learned_ids: list[str] = []
        self.learned_at: list[datetime] = []
        # (learner, course) -> completed at: completions to ask a testimonial about
        self.asks: dict[tuple[int, int], datetime] = {}
        # learner -> (local today, first day of the budget year, months left in it)
        self.budget: dict[int, tuple[date, date, int]] = {}
        self._prefs: dict[tuple[Any, ...], LearnerPrefs] = {}
        # timezone -> (local today, this month's budget key): most learners share a zone
        self._today: dict[str, tuple[date, str]] = {}
        self._budget_happenings: dict[tuple[date, str, int, int], Happening] = {}
        # learner -> dedupe key: idle learners due a "your next step" (top recommendation)
        self.next_steps: dict[int, str] = {}
        # learner -> the recommendation their "your next step" would be about
        self.next_step_found: dict[int, Any] = {}

    def add_rows(self, rows: Sequence[Any], orgs: dict[int, OrgNudgeContext]) -> None:
        """Turn every row into a :class:`LearnerInput` (inactive learners: into ``inactive``)."""
        now = self.now
        for row in rows:
            (
                user_id,
                org_id,
                streak,
                freezes,
                last_active,
                goal,
                tz,
                locale,
                reminder,
                quiet_start,
                quiet_end,
                kinds_off,
                start,
                active,
                ev_at,
                ev_day,
                ev_minutes,
                ev_kind,
                ev_course,
                h_kind,
                h_key,
                h_due,
                unlearned,
                sent,
                b_code,
                b_tier,
                b_at,
                b_name,
                b_name_en,
                k_id,
                k_at,
                k_name,
                teams,
                budget_sent,
                level,
                xp_total,
                longest,
                changed_at,
                recent_xp,
            ) = row
            org = orgs.get(org_id)
            if not active or org is None:
                self.inactive.append(user_id)
                continue
            due = DueLearner(user_id, org_id, streak, freezes, last_active, goal)
            prefs = self._prefs_of(
                tz, locale, reminder, quiet_start, quiet_end, kinds_off, start, org
            )
            activity = activity_of(due, ev_at or (), ev_day or (), ev_minutes or (), ev_kind or ())
            learner = LearnerInput(due, prefs, activity)
            history = learner.history
            if h_kind is not None:
                history.extend(map(SentNudge, h_kind, h_key, h_due))
            happenings = learner.happenings
            if b_code is not None:
                for code, tier, awarded_at, name, name_en in zip(
                    b_code, b_tier, b_at, b_name, b_name_en, strict=True
                ):
                    happenings.append(
                        badge_happening(code, tier, awarded_at, name, name_en, prefs.locale)
                    )
            if k_id is not None:
                for kudos_id, created_at, colleague in zip(k_id, k_at, k_name, strict=True):
                    happenings.append(kudos_happening(kudos_id, created_at, colleague))
            if org.challenges:
                happenings.extend(self._challenges(org, prefs.timezone, teams))
            happenings.extend(org.course_happenings)
            if changed_at >= self.since:  # their state changed lately: anything to celebrate?
                if recent_xp is not None:
                    level_up = level_reached(level, xp_total, recent_xp, org.levels, changed_at)
                    if level_up is not None:
                        happenings.append(level_up)
                milestone = streak_milestone_reached(
                    org.rules.streak_mode, streak, longest, changed_at
                )
                if milestone is not None:
                    happenings.append(milestone)
            if prefs.start_date is not None:
                welcome = welcome_happening(prefs, org.name, now)
                if welcome is not None:
                    happenings.append(welcome)
            if ev_at is not None:
                if "completion" in ev_kind:
                    asks = testimonial_asks(ev_at, ev_kind, ev_course, now)
                    for course_id, completed in asks.items():
                        self.asks[(user_id, course_id)] = completed
                if unlearned is not None:
                    self._learned(unlearned, sent, ev_at)
            if org.settings.yearly_budget_cents > 0:
                today, key = self._today_in(prefs.timezone)
                if key not in budget_sent and (h_key is None or key not in h_key):
                    start_of_year, months_left = budget_year(
                        today, org.settings.budget_year_start_month
                    )
                    self.budget[user_id] = (today, start_of_year, months_left)
            if _NEXT_STEP_CATEGORY not in prefs.kinds_off and NudgeType.NEXT_STEP not in (
                org.rules.kinds_off
            ):
                today = self._today_in(prefs.timezone)[0]
                next_key = next_step_key(activity, today, h_key or ())
                if next_key is not None:
                    self.next_steps[user_id] = next_key
            self.learners[user_id] = learner

    def _prefs_of(
        self,
        tz: str,
        locale: str,
        reminder: time | None,
        quiet_start: time,
        quiet_end: time,
        kinds_off: str | None,
        start: date | None,
        org: OrgNudgeContext,
    ) -> LearnerPrefs:
        # most learners share their settings with many others: build each combination once
        key = (tz, locale, reminder, quiet_start, quiet_end, kinds_off, start, org.organisation_id)
        prefs = self._prefs.get(key)
        if prefs is None:
            off = json.loads(kinds_off) if kinds_off else None
            kinds = frozenset(str(kind) for kind in off) if off else frozenset()
            prefs = learner_prefs(tz, locale, reminder, quiet_start, quiet_end, kinds, start, org)
            self._prefs[key] = prefs
        return prefs

    def _today_in(self, tz_name: str) -> tuple[date, str]:
        found = self._today.get(tz_name)
        if found is None:
            today = local_day(self.now, tz_name)
            found = self._today[tz_name] = (today, budget_key(today))
        return found

    def _challenges(
        self, org: OrgNudgeContext, tz_name: str, teams: Iterable[int] | None
    ) -> list[Happening]:
        # learners of one organisation, timezone and set of challenge teams share the list
        # (kept on the organisation for the tick); nobody may change it
        team_ids = frozenset(org.challenge_teams.intersection(teams)) if teams else _NO_TEAMS
        key = (tz_name, team_ids)
        found = org.shared_challenges.get(key)
        if found is None:
            found = org.shared_challenges[key] = challenge_happenings(
                org.challenges, team_ids, tz_name, self.now
            )
        return found

    def _learned(self, nudge_ids: list[str], sent: list[datetime], moments: list[datetime]) -> None:
        for nudge_id, sent_at in zip(nudge_ids, sent, strict=True):
            inside = [m for m in moments if sent_at <= m <= sent_at + LEARNED_WITHIN]
            if inside:
                self.learned_ids.append(nudge_id)
                self.learned_at.append(min(inside))

    def add_testimonial_asks(self, rows: Iterable[tuple[int, int, str]]) -> None:
        """(learner, course, title) of the :attr:`asks` not answered yet: ask them."""
        for user_id, course_id, title in rows:
            completed = self.asks[(user_id, course_id)]
            self.learners[user_id].happenings.append(
                testimonial_happening(course_id, title, completed)
            )

    def budget_year_start(self) -> datetime:
        """The earliest start of a budget year among the :attr:`budget` candidates."""
        earliest = min(start for _, start, _ in self.budget.values())
        return datetime.combine(earliest, time.min, tzinfo=UTC)

    def add_budgets(
        self,
        spending: Iterable[tuple[int, int | None, datetime | None, int | None]],
        orgs: dict[int, OrgNudgeContext],
    ) -> None:
        """This month's budget reminder for the :attr:`budget` candidates with budget left:
        their yearly budget (their own, else the organisation's) less their approved requests
        of this budget year (learner, own budget, requested at, cost), as
        ``backend.budgets.services`` counts them."""
        used: dict[int, int] = defaultdict(int)
        own: dict[int, int | None] = {}
        for user_id, own_cents, requested_at, cost in spending:
            own[user_id] = own_cents
            if requested_at is None or cost is None:
                continue
            tz_name = self.learners[user_id].prefs.timezone
            if local_day(requested_at, tz_name) >= self.budget[user_id][1]:
                used[user_id] += cost
        for user_id, (today, _start, months_left) in self.budget.items():
            learner = self.learners[user_id]
            org = orgs[learner.due.organisation_id]
            yearly = own.get(user_id)
            if yearly is None:
                yearly = org.settings.yearly_budget_cents
            left = yearly - used.get(user_id, 0)
            if left > 0:
                # most learners of a month, zone and organisation have the same reminder
                key = (today, learner.prefs.timezone, left, months_left)
                happening = self._budget_happenings.get(key)
                if happening is None:
                    happening = self._budget_happenings[key] = budget_happening(*key)
                learner.happenings.append(happening)

    def next_step_learners(self) -> dict[int, int]:
        """Learner -> organisation of the :attr:`next_steps` learners."""
        return {uid: self.learners[uid].due.organisation_id for uid in self.next_steps}

    def add_next_steps(self, found: Mapping[int, Any]) -> None:
        """The "your next step" nudge for the :attr:`next_steps` learners with a recommendation
        (learner -> ``backend.recommendations.schemas.RecommendationOut``)."""
        self.next_step_found.update(found)
        for user_id, rec in found.items():
            learner = self.learners[user_id]
            learner.happenings.append(
                next_step_happening(
                    self.next_steps[user_id],
                    rec.course_id,
                    rec.title,
                    rec.reason_text,
                    self.now,
                    learner.prefs.timezone,
                )
            )

    def wanted_keys(self) -> list[tuple[int, str]]:
        """(learner, dedupe key) of happenings whose nudge may be older than the loaded
        history: a nudge is only created once its happening is due, so for a happening due
        within the history window any nudge of it is already loaded."""
        horizon = self.now - timedelta(days=HISTORY_DAYS)
        wanted: set[tuple[int, str]] = set()
        for uid, learner in self.learners.items():
            recent: set[str] | None = None
            for h in learner.happenings:
                kind = h.kind
                if kind in _LONG_LIVED or (h.due_from < horizon and kind in _LOOKED_UP_LATER):
                    if recent is None:
                        recent = {sent.dedupe_key for sent in learner.history}
                    if h.dedupe_key not in recent:
                        wanted.add((uid, h.dedupe_key))
        return sorted(wanted)

    def add_known(self, rows: Iterable[tuple[int, str, str, datetime]]) -> None:
        """Older nudges (learner, kind, dedupe key, due at) with the wanted keys."""
        for user_id, kind, key, due_at in rows:
            self.learners[user_id].history.append(SentNudge(kind, key, due_at))
