"""Everything the nudge policy needs for a batch of due learners, in a few queries per batch.

Each query is keyed by the batch's user ids (or its few organisations) and goes through an
index, so a tick costs O(due learners). Nothing here decides anything: it builds the
``gamification.nudge_policy`` inputs.

On PostgreSQL the tick reads the same inputs in one statement instead
(:mod:`backend.nudges.postgres_tick`); both build happenings with the helpers below.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, Integer, String, Table, and_, any_, bindparam, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from backend.db.models import (
    BadgeAward,
    BadgeDefinition,
    Challenge,
    Course,
    Kudos,
    LearningEvent,
    Nudge,
    Organisation,
    TeamMembership,
    Testimonial,
    User,
)
from backend.db.types import UtcDateTime
from backend.organisations.settings import OrganisationSettings
from gamification.nudge_policy import (
    Activity,
    Happening,
    LearnerPrefs,
    NudgeRules,
    NudgeType,
    QuietHours,
    SentNudge,
    VariantStats,
)
from gamification.rules import StreakMode

# how far back the policy looks: learning (adaptive hour, this week), nudges (caps), events
ACTIVITY_DAYS = 28
HISTORY_DAYS = 8
EVENT_DAYS = 3
NEW_COURSE_DAYS = 7
TESTIMONIAL_ASK_AFTER = timedelta(days=1)
TESTIMONIAL_STALE_AFTER = timedelta(days=7)
CHALLENGE_LAUNCH_DAYS = 7
STATS_DAYS = 90


def _c(model: Any) -> Any:
    """The table's columns (``Model.__table__.c``)."""
    return model.__table__.c


def _t(model: Any) -> Table:
    """The model's table."""
    return cast(Table, model.__table__)


def among(conn: AsyncConnection, column: Any, values: Iterable[Any]) -> Any:
    """``column IN (values)``; on PostgreSQL ``= ANY(:array)``: one parameter for 1000 ids."""
    values = list(values)
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


@lru_cache(maxsize=4096)
def local_today(now: datetime, tz_name: str) -> date:
    """The local calendar day at ``now`` in ``tz_name`` (many learners share a zone)."""
    return now.astimezone(ZoneInfo(tz_name)).date()


@lru_cache(maxsize=4096)
def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


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
    challenges: list[dict[str, Any]] = field(default_factory=list)
    challenge_teams: frozenset[int] = frozenset()
    new_courses: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[tuple[str, str], VariantStats] = field(default_factory=dict)
    # per (timezone, challenge teams, now): the challenge happenings learners share
    shared_challenges: dict[tuple[str, frozenset[int], datetime], list[Happening]] = field(
        default_factory=dict
    )
    course_happenings: list[Happening] = field(default_factory=list)


@dataclass
class LearnerInput:
    """The policy input of one learner (``happenings`` and ``history`` filled in stages)."""

    due: DueLearner
    prefs: LearnerPrefs
    active: bool
    activity: Activity = field(default=Activity())
    happenings: list[Happening] = field(default_factory=list)
    history: list[SentNudge] = field(default_factory=list)
    events: list[tuple[datetime, str, int | None]] = field(default_factory=list)


def nudge_rules(settings: OrganisationSettings) -> NudgeRules:
    """The policy's rules from an organisation's settings."""
    return NudgeRules(
        quiet=QuietHours(time(settings.quiet_hours_start), time(settings.quiet_hours_end)),
        nudges_on_weekends=settings.nudges_on_weekends,
        streak_mode=StreakMode(settings.streak_mode),
        streak_days_per_week=settings.streak_days_per_week,
        reminder_cap_per_day=settings.nudge_reminders_per_day,
        weekly_cap=settings.nudges_per_week,
    )


def _settings(document: dict[str, Any] | None) -> OrganisationSettings:
    known = OrganisationSettings.model_fields.keys()
    try:
        return OrganisationSettings(**{k: v for k, v in (document or {}).items() if k in known})
    except ValueError:
        return OrganisationSettings()  # a broken document must not stop every nudge


async def load_organisations(
    conn: AsyncConnection, org_ids: Iterable[int], now: datetime
) -> dict[int, OrgNudgeContext]:
    """Rules, running challenges and new hot-skill courses of the batch's organisations."""
    ids = sorted(set(org_ids))
    o = _c(Organisation)
    rows = (
        await conn.execute(
            select(o.id, o.name, o.default_timezone, o.settings).where(among(conn, o.id, ids))
        )
    ).all()
    orgs: dict[int, OrgNudgeContext] = {}
    for org_id, name, tz, settings_doc in rows:
        settings = _settings(settings_doc)
        orgs[org_id] = OrgNudgeContext(org_id, name, tz, settings, nudge_rules(settings))
    if not orgs:
        return orgs
    c, u = _c(Challenge), _c(User)
    # every timezone's today is within a day of UTC's
    today = now.date()
    challenge_rows = (
        await conn.execute(
            select(
                c.id,
                c.organisation_id,
                c.kind,
                c.team_id,
                c.title,
                c.starts_on,
                c.ends_on,
                c.created_at,
                c.progress,
                c.pledge,
                c.completed_at,
                u.display_name,
            )
            .outerjoin(_t(User), u.id == c.sponsor_id)
            .where(
                among(conn, c.organisation_id, ids),
                c.ends_on >= today - timedelta(days=1),
                c.starts_on <= today + timedelta(days=1),
            )
        )
    ).all()
    for row in challenge_rows:
        orgs[row.organisation_id].challenges.append(dict(row._mapping))
    for org in orgs.values():
        org.challenge_teams = frozenset(
            ch["team_id"] for ch in org.challenges if ch["team_id"] is not None
        )
    k = _c(Course)
    courses = (
        await conn.execute(
            select(k.id, k.organisation_id, k.title, k.created_at).where(
                among(conn, k.organisation_id, ids),
                k.hot_skill.is_(True),
                k.created_at >= now - timedelta(days=NEW_COURSE_DAYS),
            )
        )
    ).all()
    for row in courses:
        orgs[row.organisation_id].new_courses.append(dict(row._mapping))
    for org in orgs.values():
        org.course_happenings = [
            Happening(
                NudgeType.NEW_COURSE,
                f"course:{course['id']}",
                course["created_at"],
                {"course": course["title"]},
                stale_at=course["created_at"] + timedelta(days=NEW_COURSE_DAYS),
                url=f"/catalogue/{course['id']}",
            )
            for course in org.new_courses
        ]
    return orgs


async def variant_stats(
    conn: AsyncConnection, org_ids: Sequence[int], since: datetime
) -> dict[int, dict[tuple[str, str], VariantStats]]:
    """Per organisation and (kind, variant): nudges sent and followed by learning in 24 h."""
    n = _c(Nudge)
    rows = (
        await conn.execute(
            select(
                n.organisation_id,
                n.kind,
                n.variant,
                func.count(n.sent_at),
                func.count(n.learned_at),
            )
            .where(among(conn, n.organisation_id, list(org_ids)), n.created_at >= since)
            .group_by(n.organisation_id, n.kind, n.variant)
        )
    ).all()
    stats: dict[int, dict[tuple[str, str], VariantStats]] = defaultdict(dict)
    for org_id, kind, variant, sent, learned in rows:
        stats[org_id][(kind, variant)] = VariantStats(int(sent), int(learned))
    return stats


async def load_learners(
    conn: AsyncConnection, due: Sequence[DueLearner], orgs: dict[int, OrgNudgeContext]
) -> dict[int, LearnerInput]:
    """Preferences of the due learners (inactive people get nothing)."""
    u = _c(User)
    rows = (
        await conn.execute(
            select(
                u.id,
                u.timezone,
                u.locale,
                u.reminder_time,
                u.quiet_hours_start,
                u.quiet_hours_end,
                u.nudge_kinds_off,
                u.start_date,
                u.is_active,
            ).where(among(conn, u.id, [d.user_id for d in due]))
        )
    ).all()
    by_id = {d.user_id: d for d in due}
    learners: dict[int, LearnerInput] = {}
    for user_id, tz, locale, reminder, quiet_start, quiet_end, off, start, active in rows:
        learner = by_id[user_id]
        org = orgs.get(learner.organisation_id)
        kinds_off = frozenset(str(kind) for kind in off) if off else _NOTHING_OFF
        prefs = learner_prefs(tz, locale, reminder, quiet_start, quiet_end, kinds_off, start, org)
        learners[user_id] = LearnerInput(learner, prefs, bool(active) and org is not None)
    return learners


_NOTHING_OFF: frozenset[str] = frozenset()


def learner_prefs(
    tz: str,
    locale: str,
    reminder: time | None,
    quiet_start: time,
    quiet_end: time,
    kinds_off: frozenset[str],
    start: date | None,
    org: "OrgNudgeContext | None",
) -> LearnerPrefs:
    """A learner's nudge settings from their user row (a broken timezone: the org's)."""
    return LearnerPrefs(
        timezone=tz if _valid_zone(tz) else (org.default_timezone if org else "UTC"),
        locale=locale if locale in ("nl", "en") else "nl",
        reminder_time=reminder,
        quiet=_quiet(quiet_start, quiet_end),
        kinds_off=kinds_off,
        start_date=start,
        organisation_name=org.name if org else "",
    )


@lru_cache(maxsize=1024)
def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ValueError, KeyError):
        return False
    return True


@lru_cache(maxsize=4096)
def _quiet(start: time, end: time) -> QuietHours:
    return QuietHours(start, end)


async def load_activity(
    conn: AsyncConnection, learners: dict[int, LearnerInput], now: datetime
) -> None:
    """Recent learning of each learner -> :class:`Activity` (and completions, for asks)."""
    e = _c(LearningEvent)
    since = now - timedelta(days=ACTIVITY_DAYS)
    rows: Sequence[Any]
    if conn.dialect.name == "postgresql":
        # untyped columns: asyncpg's aware datetimes as they are, no per-value conversion
        rows = (
            await conn.execute(_ACTIVITY_PG, {"uids": list(learners), "since": since, "now": now})
        ).all()
    else:
        rows = (
            await conn.execute(
                select(
                    e.user_id, e.occurred_at, e.local_date, e.minutes, e.kind, e.course_id
                ).where(
                    among(conn, e.user_id, list(learners)),
                    e.occurred_at >= since,
                    e.occurred_at <= now,
                    e.kind != "testimonial",
                )
            )
        ).all()
    per_learner: dict[int, list[tuple[datetime, date, int | None, str]]] = defaultdict(list)
    for user_id, occurred_at, local_date, mins, kind, course_id in rows:
        occurred = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)
        per_learner[user_id].append((occurred, local_date, mins, kind))
        learners[user_id].events.append((occurred, kind, course_id))
    for user_id, learner in learners.items():
        mine = per_learner.get(user_id, [])
        learner.activity = activity_of(
            learner.due,
            [e[0] for e in mine],
            [e[1] for e in mine],
            [e[2] for e in mine],
            [e[3] for e in mine],
        )


def activity_of(
    due: DueLearner,
    moments: Sequence[datetime],
    days: Sequence[date],
    minutes: Sequence[int | None],
    kinds: Sequence[str],
) -> Activity:
    """The policy's view of a learner's recent learning (events as parallel columns)."""
    if not moments:
        return Activity(
            streak=due.streak,
            freezes_banked=due.freezes_banked,
            last_active_date=due.last_active_date,
            weekly_goal_minutes=due.weekly_goal_minutes,
        )
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


_ACTIVITY_PG = text(
    "SELECT user_id, occurred_at, local_date, minutes, kind, course_id FROM learning_event"
    " WHERE user_id = ANY(:uids) AND occurred_at >= :since AND occurred_at <= :now"
    " AND kind <> 'testimonial'"
).bindparams(
    bindparam("uids", type_=postgresql.ARRAY(Integer())),
    bindparam("since", type_=DateTime(timezone=True)),
    bindparam("now", type_=DateTime(timezone=True)),
)


async def load_recent_nudges(
    conn: AsyncConnection, learners: dict[int, LearnerInput], now: datetime
) -> None:
    """The learners' nudges of the last days (caps, spacing, recent dedupe keys)."""
    n = _c(Nudge)
    rows = (
        await conn.execute(
            select(n.user_id, n.kind, n.dedupe_key, n.due_at).where(
                among(conn, n.user_id, list(learners)),
                n.created_at >= now - timedelta(days=HISTORY_DAYS),
            )
        )
    ).all()
    for user_id, kind, key, due_at in rows:
        learners[user_id].history.append(SentNudge(kind, key, due_at))


# due "from now" on every look, so a nudge for them may be older than the history window
_LONG_LIVED = frozenset({NudgeType.WELCOME, NudgeType.TEAM_MILESTONE})


async def add_known_keys(
    conn: AsyncConnection, learners: dict[int, LearnerInput], now: datetime
) -> None:
    """Older nudges with the dedupe keys of this plan's happenings (e.g. the welcome).

    A nudge is only created once its happening is due, so for a happening due within the
    history window any nudge of it is already in the loaded history: only the others (and
    the long-lived kinds) are looked up.
    """
    horizon = now - timedelta(days=HISTORY_DAYS)
    recent = {(uid, h.dedupe_key) for uid, li in learners.items() for h in li.history}
    wanted = wanted_keys(learners, horizon, recent)
    if not wanted:
        return
    n = _c(Nudge)
    pairs = sorted(wanted)
    if conn.dialect.name == "postgresql":
        # one probe of the (user_id, dedupe_key) unique index per pair, in one statement
        rows = (
            await conn.execute(
                _KNOWN_KEYS_PG, {"uids": [u for u, _ in pairs], "keys": [k for _, k in pairs]}
            )
        ).all()
    else:
        rows = []
        for start in range(0, len(pairs), 500):
            chunk = pairs[start : start + 500]
            rows += (
                await conn.execute(
                    select(n.user_id, n.kind, n.dedupe_key, n.due_at).where(
                        among(conn, n.user_id, {uid for uid, _ in chunk}),
                        among(conn, n.dedupe_key, {key for _, key in chunk}),
                    )
                )
            ).all()
    for user_id, kind, key, due_at in rows:
        if (user_id, key) in wanted:
            learners[user_id].history.append(SentNudge(kind, key, due_at))


def wanted_keys(
    learners: dict[int, LearnerInput], horizon: datetime, recent: set[tuple[int, str]]
) -> set[tuple[int, str]]:
    """(learner, dedupe key) of happenings whose nudge may be older than the loaded history.

    Budget reminders are left out: their key was already looked up over all time.
    """
    return {
        (uid, h.dedupe_key)
        for uid, li in learners.items()
        for h in li.happenings
        if (h.kind in _LONG_LIVED or (h.due_from < horizon and h.kind in _LOOKED_UP_LATER))
        and (uid, h.dedupe_key) not in recent
    }


_LOOKED_UP_LATER = frozenset(NudgeType) - {NudgeType.BUDGET_REMINDER}

_KNOWN_KEYS_PG = (
    text(
        "SELECT n.user_id, n.kind, n.dedupe_key, n.due_at FROM nudge n"
        " JOIN unnest(:uids, :keys) AS w(user_id, dedupe_key)"
        " ON n.user_id = w.user_id AND n.dedupe_key = w.dedupe_key"
    )
    .bindparams(
        bindparam("uids", type_=postgresql.ARRAY(Integer())),
        bindparam("keys", type_=postgresql.ARRAY(String())),
    )
    .columns(due_at=UtcDateTime())
)


async def load_happenings(
    conn: AsyncConnection,
    learners: dict[int, LearnerInput],
    orgs: dict[int, OrgNudgeContext],
    now: datetime,
) -> None:
    """Badges, kudos, challenges, courses, completions, budget and welcome per learner."""
    user_ids = list(learners)
    since = now - timedelta(days=EVENT_DAYS)
    await _badges(conn, learners, user_ids, since)
    await _kudos(conn, learners, user_ids, since)
    await _challenges(conn, learners, orgs, user_ids, now)
    for learner in learners.values():
        org = orgs[learner.due.organisation_id]
        learner.happenings.extend(org.course_happenings)
        welcome = welcome_happening(learner.prefs, org, now)
        if welcome is not None:
            learner.happenings.append(welcome)
    await _testimonial_asks(conn, learners, now)


async def _badges(
    conn: AsyncConnection, learners: dict[int, LearnerInput], user_ids: list[int], since: datetime
) -> None:
    a, b = _c(BadgeAward), _c(BadgeDefinition)
    rows = (
        await conn.execute(
            select(a.user_id, a.badge_code, a.tier, a.awarded_at, b.name, b.name_en)
            .outerjoin(
                _t(BadgeDefinition),
                and_(b.organisation_id == a.organisation_id, b.code == a.badge_code),
            )
            .where(among(conn, a.user_id, user_ids), a.awarded_at >= since)
        )
    ).all()
    for user_id, code, tier, awarded_at, name, name_en in rows:
        learner = learners[user_id]
        learner.happenings.append(
            badge_happening(code, tier, awarded_at, name, name_en, learner.prefs.locale)
        )


def badge_happening(
    code: str, tier: str, awarded_at: datetime, name: str | None, name_en: str | None, locale: str
) -> Happening:
    """A badge earned lately (named in the learner's language when the badge has it)."""
    label = (name_en if locale == "en" and name_en else name) or code
    return Happening(NudgeType.BADGE_EARNED, f"badge:{code}:{tier}", awarded_at, {"badge": label})


async def _kudos(
    conn: AsyncConnection, learners: dict[int, LearnerInput], user_ids: list[int], since: datetime
) -> None:
    k, u = _c(Kudos), _c(User)
    rows = (
        await conn.execute(
            select(k.id, k.to_user_id, k.created_at, u.display_name)
            .join(_t(User), u.id == k.from_user_id)
            .where(among(conn, k.to_user_id, user_ids), k.created_at >= since)
        )
    ).all()
    for kudos_id, user_id, created_at, name in rows:
        learners[user_id].happenings.append(kudos_happening(kudos_id, created_at, name))


def kudos_happening(kudos_id: int, created_at: datetime, colleague: str) -> Happening:
    """Kudos from a colleague."""
    return Happening(
        NudgeType.KUDOS_RECEIVED, f"kudos:{kudos_id}", created_at, {"colleague": colleague}
    )


async def _challenges(
    conn: AsyncConnection,
    learners: dict[int, LearnerInput],
    orgs: dict[int, OrgNudgeContext],
    user_ids: list[int],
    now: datetime,
) -> None:
    if not any(org.challenges for org in orgs.values()):
        return
    m = _c(TeamMembership)
    teams: dict[int, set[int]] = defaultdict(set)
    for user_id, team_id in (
        await conn.execute(select(m.user_id, m.team_id).where(among(conn, m.user_id, user_ids)))
    ).all():
        teams[user_id].add(team_id)
    for user_id, learner in learners.items():
        org = orgs[learner.due.organisation_id]
        if org.challenges:
            found = challenge_happenings(org, learner.prefs.timezone, teams.get(user_id), now)
            learner.happenings.extend(found)


def challenge_happenings(
    org: "OrgNudgeContext", tz_name: str, teams: Iterable[int] | None, now: datetime
) -> list[Happening]:
    """The running challenges of the learner's organisation (their teams' team challenges).

    Learners of one organisation, timezone and set of challenge teams share the list (kept on
    the organisation for the tick); nobody may change it.
    """
    team_ids = frozenset(org.challenge_teams.intersection(teams)) if teams else _NO_TEAMS
    key = (tz_name, team_ids, now)
    found = org.shared_challenges.get(key)
    if found is None:
        found = org.shared_challenges[key] = _challenge_happenings(
            org.challenges, team_ids, ZoneInfo(tz_name), now
        )
    return found


_NO_TEAMS: frozenset[int] = frozenset()


def _challenge_happenings(
    challenges: list[dict[str, Any]], teams: frozenset[int], zone: ZoneInfo, now: datetime
) -> list[Happening]:
    happenings: list[Happening] = []
    for ch in challenges:
        is_team = ch["kind"] == "team"
        if is_team and ch["team_id"] not in teams:
            continue
        starts = _day_start(ch["starts_on"], zone)
        ends = _day_start(ch["ends_on"] + timedelta(days=1), zone)
        if not starts <= now < ends:
            continue
        params: dict[str, str | int] = {"challenge": ch["title"]}
        key = f"challenge:{ch['id']}"
        launched = max(starts, ch["created_at"])
        happenings.append(
            Happening(
                NudgeType.CHALLENGE_LAUNCHED,
                f"{key}:launched",
                launched,
                params,
                stale_at=min(ends, launched + timedelta(days=CHALLENGE_LAUNCH_DAYS)),
            )
        )
        if not (is_team and ch["completed_at"] is not None):
            happenings.append(
                Happening(
                    NudgeType.CHALLENGE_ENDING,
                    f"{key}:ending",
                    ends - timedelta(hours=24),
                    params,
                    stale_at=ends,
                )
            )
        if is_team:
            progress = float(ch["progress"] or 0)
            milestone = 100 if progress >= 1 else 50 if progress >= 0.5 else 0
            if milestone:
                happenings.append(
                    Happening(
                        NudgeType.TEAM_MILESTONE,
                        f"{key}:{milestone}",
                        ch["completed_at"] or now,
                        {
                            **params,
                            "milestone": milestone,
                            "pledge": ch["pledge"] or "",
                            "sponsor": ch["display_name"] or "",
                        },
                        stale_at=ends + timedelta(days=EVENT_DAYS),
                        url="/team",
                    )
                )
    return happenings


def welcome_happening(prefs: LearnerPrefs, org: OrgNudgeContext, now: datetime) -> Happening | None:
    """The pre-boarding welcome of a new hire (before their start date)."""
    start = prefs.start_date
    if start is None:
        return None
    zone = ZoneInfo(prefs.timezone)
    today = now.astimezone(zone).date()
    if today >= start:
        return None
    return Happening(
        NudgeType.WELCOME,
        "welcome",
        now,
        {"organisation": org.name, "days_to_start": (start - today).days},
        stale_at=_day_start(start, zone),
    )


async def _testimonial_asks(
    conn: AsyncConnection, learners: dict[int, LearnerInput], now: datetime
) -> None:
    """A day after a completion: ask for a few words, unless they already wrote some."""
    asks: dict[tuple[int, int], datetime] = {}
    for user_id, learner in learners.items():
        events = learner.events
        mine = testimonial_asks(
            [e[0] for e in events], [e[1] for e in events], [e[2] for e in events], now
        )
        for course_id, occurred in mine.items():
            asks[(user_id, course_id)] = occurred
    if not asks:
        return
    k, t = _c(Course), _c(Testimonial)
    course_ids = sorted({cid for _, cid in asks})
    titles: dict[int, str] = {
        course_id: title
        for course_id, title in (
            await conn.execute(select(k.id, k.title).where(among(conn, k.id, course_ids)))
        ).all()
    }
    written = {
        (user_id, course_id)
        for user_id, course_id in (
            await conn.execute(
                select(t.user_id, t.course_id).where(
                    among(conn, t.user_id, {uid for uid, _ in asks}),
                    among(conn, t.course_id, course_ids),
                )
            )
        ).all()
    }
    for (user_id, course_id), completed in asks.items():
        if (user_id, course_id) in written or course_id not in titles:
            continue
        learners[user_id].happenings.append(
            testimonial_happening(course_id, titles[course_id], completed)
        )


def testimonial_asks(
    moments: Sequence[datetime],
    kinds: Sequence[str],
    courses: Sequence[int | None],
    now: datetime,
) -> dict[int, datetime]:
    """Course -> completion of the completions recent enough to ask about (the latest wins)."""
    asks: dict[int, datetime] = {}
    for occurred, kind, course_id in zip(moments, kinds, courses, strict=True):
        recent = now - occurred < TESTIMONIAL_ASK_AFTER + TESTIMONIAL_STALE_AFTER
        if kind == "completion" and course_id is not None and recent:
            asks[course_id] = occurred
    return asks


def testimonial_happening(course_id: int, title: str, completed: datetime) -> Happening:
    """A day after a completion: a few words about the course?"""
    due_from = completed + TESTIMONIAL_ASK_AFTER
    return Happening(
        NudgeType.TESTIMONIAL_REQUEST,
        f"testimonial:{course_id}",
        due_from,
        {"course": title},
        stale_at=due_from + TESTIMONIAL_STALE_AFTER,
        url=f"/catalogue/{course_id}",
    )


@lru_cache(maxsize=256)
def budget_key(today: date) -> str:
    """At most one budget reminder a calendar month."""
    return f"budget:{today.year:04d}-{today.month:02d}"


def budget_year(today: date, start_month: int) -> tuple[date, int]:
    """The first day of the budget year holding ``today`` and the whole months left in it."""
    year = today.year if today.month >= start_month else today.year - 1
    start = date(year, start_month, 1)
    months_into = (today.year - start.year) * 12 + today.month - start.month
    return start, 12 - months_into


async def add_budget_reminders(
    conn: AsyncConnection,
    learners: dict[int, LearnerInput],
    orgs: dict[int, OrgNudgeContext],
    now: datetime,
) -> None:
    """This month's budget reminder, for learners who have not had it and have budget left.

    Spending is the cost of the courses they completed in the budget year.
    """
    sent = {(uid, h.dedupe_key) for uid, li in learners.items() for h in li.history}
    candidates: dict[int, tuple[date, date, int]] = {}
    for user_id, learner in learners.items():
        org = orgs[learner.due.organisation_id]
        if org.settings.yearly_budget_cents <= 0:
            continue
        today = local_today(now, learner.prefs.timezone)
        if (user_id, budget_key(today)) in sent:
            continue
        year_start, months_left = budget_year(today, org.settings.budget_year_start_month)
        candidates[user_id] = (today, year_start, months_left)
    if not candidates:
        return
    n = _c(Nudge)
    keys = sorted({budget_key(today) for today, _, _ in candidates.values()})
    for user_id, key in (
        await conn.execute(
            select(n.user_id, n.dedupe_key).where(
                among(conn, n.user_id, sorted(candidates)), among(conn, n.dedupe_key, keys)
            )
        )
    ).all():
        if key == budget_key(candidates[user_id][0]):
            del candidates[user_id]
    if not candidates:
        return
    e, k = _c(LearningEvent), _c(Course)
    earliest = min(start for _, start, _ in candidates.values())
    spent_rows = (
        await conn.execute(
            select(e.user_id, e.occurred_at, k.cost_cents)
            .join(_t(Course), k.id == e.course_id)
            .where(
                among(conn, e.user_id, sorted(candidates)),
                e.kind == "completion",
                e.occurred_at >= datetime.combine(earliest, time.min, tzinfo=UTC),
                k.cost_cents > 0,
            )
        )
    ).all()
    spent: dict[int, int] = defaultdict(int)
    for user_id, occurred_at, cost in spent_rows:
        if occurred_at.date() >= candidates[user_id][1]:
            spent[user_id] += cost
    for user_id, (today, _start, months_left) in candidates.items():
        learner = learners[user_id]
        org = orgs[learner.due.organisation_id]
        left = org.settings.yearly_budget_cents - spent[user_id]
        if left > 0:
            learner.happenings.append(
                budget_happening(today, learner.prefs.timezone, left, months_left)
            )


def budget_happening(today: date, tz_name: str, left_cents: int, months_left: int) -> Happening:
    """This month's budget reminder (due all month, from its first local midnight)."""
    zone = ZoneInfo(tz_name)
    next_month = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    return Happening(
        NudgeType.BUDGET_REMINDER,
        budget_key(today),
        _day_start(today.replace(day=1), zone),
        {"budget_cents": left_cents, "months_left": months_left},
        stale_at=_day_start(next_month, zone),
    )


def budget_keys_around(now: datetime) -> list[str]:
    """The budget keys a learner anywhere may be in at ``now`` (local today is within a day)."""
    return sorted(
        {budget_key((now - _ZONE_SPREAD).date()), budget_key((now + _ZONE_SPREAD).date())}
    )


_ZONE_SPREAD = timedelta(hours=14)
