"""What happened around a learner that may deserve a nudge, from the rows the tick read.

Badges, kudos, running challenges, new hot-skill courses, testimonial asks, the monthly
budget reminder and the pre-boarding welcome, each as a :class:`gamification.nudges.Happening`
with a stable dedupe key (a new level and a streak milestone come from
``gamification.nudges`` itself). Nothing here reads the database or decides whether to
send: the policy does.
"""

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from backend.organisations.settings import budget_year_start
from gamification.nudge_policy import LearnerPrefs
from gamification.nudges import Happening, NudgeType
from gamification.periods import local_day, local_day_start

# how far back the tick looks for events worth a nudge (badges, kudos)
EVENT_DAYS = 3
NEW_COURSE_DAYS = 7
TESTIMONIAL_ASK_AFTER = timedelta(days=1)
TESTIMONIAL_STALE_AFTER = timedelta(days=7)
CHALLENGE_LAUNCH_DAYS = 7
# every timezone's local today is within this of UTC's
_ZONE_SPREAD = timedelta(hours=14)


def badge_happening(
    code: str, tier: str, awarded_at: datetime, name: str | None, name_en: str | None, locale: str
) -> Happening:
    """A badge earned lately (named in the learner's language when the badge has it)."""
    label = (name_en if locale == "en" and name_en else name) or code
    return Happening(NudgeType.BADGE_EARNED, f"badge:{code}:{tier}", awarded_at, {"badge": label})


def kudos_happening(kudos_id: int, created_at: datetime, colleague: str) -> Happening:
    """Kudos from a colleague."""
    return Happening(
        NudgeType.KUDOS_RECEIVED, f"kudos:{kudos_id}", created_at, {"colleague": colleague}
    )


def course_happenings(courses: Sequence[Mapping[str, Any]]) -> list[Happening]:
    """New hot-skill courses (``id``, ``title``, ``created_at``) of an organisation."""
    return [
        Happening(
            NudgeType.NEW_COURSE,
            f"course:{course['id']}",
            course["created_at"],
            {"course": course["title"]},
            stale_at=course["created_at"] + timedelta(days=NEW_COURSE_DAYS),
            url=f"/catalogue/{course['id']}",
        )
        for course in courses
    ]


def challenge_happenings(
    challenges: Sequence[Mapping[str, Any]], teams: frozenset[int], tz_name: str, now: datetime
) -> list[Happening]:
    """Launch, last day and team milestones of the running ``challenges`` a learner of
    ``teams`` in ``tz_name`` takes part in (every individual one; team ones of their teams)."""
    happenings: list[Happening] = []
    for ch in challenges:
        is_team = ch["kind"] == "team"
        if is_team and ch["team_id"] not in teams:
            continue
        starts = local_day_start(ch["starts_on"], tz_name)
        ends = local_day_start(ch["ends_on"] + timedelta(days=1), tz_name)
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


def welcome_happening(prefs: LearnerPrefs, organisation: str, now: datetime) -> Happening | None:
    """The pre-boarding welcome of a new hire (before their start date)."""
    start = prefs.start_date
    if start is None:
        return None
    today = local_day(now, prefs.timezone)
    if today >= start:
        return None
    return Happening(
        NudgeType.WELCOME,
        "welcome",
        now,
        {"organisation": organisation, "days_to_start": (start - today).days},
        stale_at=local_day_start(start, prefs.timezone),
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


def budget_key(today: date) -> str:
    """At most one budget reminder a calendar month."""
    return f"budget:{today.year:04d}-{today.month:02d}"


def budget_keys_around(now: datetime) -> list[str]:
    """The budget keys a learner anywhere may be in at ``now`` (local today is within a day)."""
    return sorted(
        {budget_key((now - _ZONE_SPREAD).date()), budget_key((now + _ZONE_SPREAD).date())}
    )


def budget_year(today: date, start_month: int) -> tuple[date, int]:
    """The first day of the budget year holding ``today`` and the whole months left in it."""
    start = budget_year_start(today, start_month)
    months_into = (today.year - start.year) * 12 + today.month - start.month
    return start, 12 - months_into


def budget_happening(today: date, tz_name: str, left_cents: int, months_left: int) -> Happening:
    """This month's budget reminder (due all month, from its first local midnight)."""
    next_month = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    return Happening(
        NudgeType.BUDGET_REMINDER,
        budget_key(today),
        local_day_start(today.replace(day=1), tz_name),
        {"budget_cents": left_cents, "months_left": months_left},
        stale_at=local_day_start(next_month, tz_name),
    )


def next_step_happening(
    key: str, course_id: int, title: str, reason: str, now: datetime, tz_name: str
) -> Happening:
    """The "your next step" nudge: the learner's top recommendation and why (``key`` from
    ``gamification.nudge_policy.next_step_key``), due now until their local day ends."""
    tomorrow = local_day(now, tz_name) + timedelta(days=1)
    return Happening(
        NudgeType.NEXT_STEP,
        key,
        now,
        {"course": title, "reason": reason},
        stale_at=local_day_start(tomorrow, tz_name),
        url=f"/catalogue/{course_id}",
    )
