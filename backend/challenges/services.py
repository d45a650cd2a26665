"""Challenges: L&D's organisation-wide challenges and managers' sponsored team challenges.

This module creates, changes and shows challenges; it never decides who completed one.
Individual progress is the engine's measure over the learner's facts, team progress is
what ingestion stored (``backend.learning.service.recompute_team_challenge``).
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from litestar.exceptions import (
    ClientException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from sqlmodel import col, func, or_, select

from backend.audit import services as audit
from backend.challenges import sponsorship
from backend.challenges.schemas import (
    ChallengeCreate,
    ChallengeParticipationOut,
    ChallengePeriod,
    ChallengePublic,
    ChallengeStatus,
    ChallengeUpdate,
    IndividualProgressOut,
    MyContributionOut,
    ParticipationTarget,
    TeamChallengeClose,
    TeamChallengeCreate,
    TeamProgressOut,
)
from backend.db.models import (
    BadgeDefinition,
    Challenge,
    Competency,
    Course,
    CourseCompetency,
    LearningEvent,
    Organisation,
    Team,
    TeamChallengeDay,
    TeamMembership,
    User,
)
from backend.db.types import utcnow
from backend.insights.privacy import (
    LOWEST_FLOOR,
    Group,
    GroupTooSmall,
    at_floor,
    floor_of,
    group_for,
    team_sizes,
)
from backend.learning.history import with_tallies
from backend.learning.rules import org_rules
from backend.learning.service import recompute_team_challenge, team_minutes_by_member
from backend.learning.today import learner_document
from backend.teams.services import is_team_manager
from backend.tenancy import OrgScope
from gamification import (
    ChallengeDefinition,
    EventKind,
    TeamChallenge,
    local_day,
    team_challenge_progress,
)
from gamification import LearnerState as EngineState
from gamification.challenges import TeamTargetKind

MAX_DAYS = 90
MAX_DAYS_AHEAD = 365


def _invalid(key: str, message: str) -> ValidationException:
    return ValidationException(f"{key}: {message}", extra=[{"key": key, "message": message}])


def challenge_status(row: Challenge, today: date) -> ChallengeStatus:
    if today < row.starts_on:
        return "upcoming"
    return "finished" if today > row.ends_on else "active"


def _org_today(organisation: Organisation) -> date:
    # the organisation's day, as ingestion uses it for challenge windows
    return local_day(utcnow(), organisation.default_timezone)


def _check_period(starts_on: date, ends_on: date, today: date, *, new: bool) -> None:
    if new and starts_on < today:
        raise _invalid("starts_on", f"a challenge cannot start in the past (today is {today})")
    if new and (starts_on - today).days > MAX_DAYS_AHEAD:
        raise _invalid("starts_on", f"a challenge starts at most {MAX_DAYS_AHEAD} days ahead")
    if ends_on <= starts_on:
        raise _invalid("ends_on", f"must be after starts_on ({starts_on})")
    days = (ends_on - starts_on).days + 1
    if days > MAX_DAYS:
        raise _invalid("ends_on", f"a challenge lasts at most {MAX_DAYS} days; this one {days}")
    if not new and ends_on < today:
        raise _invalid("ends_on", f"cannot be in the past (today is {today})")


def _team_definition(challenge: TeamChallenge) -> TeamChallenge:
    """``challenge`` if the engine can ever complete it, else a readable 400."""
    if challenge.target_kind is TeamTargetKind.PARTICIPATION:
        full_weeks = len(challenge.full_weeks())
        if challenge.weeks > full_weeks:
            raise _invalid(
                "target.weeks",
                f"the period holds {full_weeks} full week(s) (Monday to Sunday); "
                f"a participation target can ask for at most that many",
            )
    return challenge


async def may_sponsor(scope: OrgScope, team_id: int) -> bool:
    """Team challenges are set (and changed) by a manager of that team or an L&D admin."""
    return scope.principal.is_ld_admin or await is_team_manager(scope, team_id)


async def _my_team_ids(scope: OrgScope) -> list[int]:
    query = select(TeamMembership.team_id).where(
        scope.owns(TeamMembership), TeamMembership.user_id == scope.principal.user_id
    )
    return list((await scope.session.exec(query)).all())


async def _visible(scope: OrgScope, challenge_id: int) -> Challenge:
    """The challenge if the caller may see it; others' teams' challenges are 404 like other
    organisations' (unless the caller is an L&D admin)."""
    row = await scope.get(Challenge, challenge_id, what="challenge")
    if (
        row.kind == "team"
        and not scope.principal.is_ld_admin
        and row.team_id not in await _my_team_ids(scope)
    ):
        raise NotFoundException(f"challenge {challenge_id} not found")
    return row


async def _require_editor(scope: OrgScope, row: Challenge) -> None:
    if row.kind == "individual":
        if not scope.principal.is_ld_admin:
            raise PermissionDeniedException("only an L&D admin changes organisation challenges")
    elif row.team_id is None or not await may_sponsor(scope, row.team_id):
        raise PermissionDeniedException(
            "only a manager of this team or an L&D admin changes its challenges"
        )


async def create_challenge(scope: OrgScope, data: ChallengeCreate) -> ChallengePublic:
    organisation = await scope.organisation()
    _check_period(data.starts_on, data.ends_on, _org_today(organisation), new=True)
    if data.competency_id is not None:
        found = await scope.all(scope.select(Competency).where(Competency.id == data.competency_id))
        if not found:
            raise _invalid("competency_id", f"no competency {data.competency_id} here")
    if data.badge_code is not None:
        found_badges = await scope.all(
            scope.select(BadgeDefinition).where(BadgeDefinition.code == data.badge_code)
        )
        if not found_badges:
            raise _invalid("badge_code", f"no badge with code {data.badge_code!r} here")
    row = scope.add(
        Challenge(
            organisation_id=0,
            kind="individual",
            title=data.title,
            description=data.description,
            starts_on=data.starts_on,
            ends_on=data.ends_on,
        )
    )
    await scope.session.flush()
    assert row.id is not None
    row.definition = ChallengeDefinition(
        challenge_id=str(row.id),
        title=data.title,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        event_kind=EventKind(data.target.event_kind),
        target_count=data.target.target_count,
        competency_id=data.competency_id,
        hot_skill_only=data.hot_skill_only,
        xp_reward=data.xp_reward,
        badge_code=data.badge_code,
    ).to_dict()
    scope.session.add(row)
    audit.record(
        scope,
        "challenge.create",
        target_type="challenge",
        target_id=row.id,
        summary=f"Created challenge “{row.title}”",
        details={"definition": row.definition},
    )
    await scope.session.commit()
    return (await present(scope, [row]))[0]


async def create_team_challenge(
    scope: OrgScope, team_id: int, data: TeamChallengeCreate
) -> ChallengePublic:
    await scope.get(Team, team_id, what="team")
    if not await may_sponsor(scope, team_id):
        raise PermissionDeniedException(
            "only a manager of this team or an L&D admin sets team challenges"
        )
    assert scope.principal.user_id is not None
    organisation = await scope.organisation()
    try:
        await group_for(scope, team_id=team_id)
    except GroupTooSmall as exc:
        floor = floor_of(organisation)
        raise ClientException(
            f"team: the team has fewer than {floor} members who take part; a team challenge "
            f"shows the team's progress, and below {floor} people that would show one "
            "colleague's learning (the organisation's minimum group size)",
            status_code=400,
            extra=[{"key": "team", "message": f"fewer than {floor} members", "floor": floor}],
        ) from exc
    _check_period(data.starts_on, data.ends_on, _org_today(organisation), new=True)
    target = data.target

    def definition(challenge_id: str) -> TeamChallenge:
        if isinstance(target, ParticipationTarget):
            return TeamChallenge(
                challenge_id=challenge_id,
                sponsor_user_id=scope.principal.user_id or 0,
                pledge=data.pledge,
                starts_on=data.starts_on,
                ends_on=data.ends_on,
                target_kind=TeamTargetKind.PARTICIPATION,
                member_share=target.member_share,
                days_per_week=target.days_per_week,
                weeks=target.weeks,
            )
        return TeamChallenge(
            challenge_id=challenge_id,
            sponsor_user_id=scope.principal.user_id or 0,
            pledge=data.pledge,
            starts_on=data.starts_on,
            ends_on=data.ends_on,
            target_kind=TeamTargetKind.TEAM_MINUTES,
            target_minutes=target.minutes,
        )

    _team_definition(definition("new"))
    row = scope.add(
        Challenge(
            organisation_id=0,
            kind="team",
            title=data.title,
            description=data.description,
            starts_on=data.starts_on,
            ends_on=data.ends_on,
            team_id=team_id,
            sponsor_id=scope.principal.user_id,
            pledge=data.pledge,
            message=data.message,
        )
    )
    await scope.session.flush()
    assert row.id is not None
    row.definition = definition(str(row.id)).to_dict()
    scope.session.add(row)
    sponsor = await scope.get(User, scope.principal.user_id, what="user")
    await sponsorship.announce(scope, row, sponsor.display_name, utcnow())
    audit.record(
        scope,
        "team_challenge.create",
        target_type="challenge",
        target_id=row.id,
        summary=f"Sponsored team challenge “{row.title}”",
        details={"team_id": team_id, "definition": row.definition, "pledge": row.pledge},
    )
    await scope.session.commit()
    return (await present(scope, [row]))[0]


async def close_team_challenge(
    scope: OrgScope, challenge_id: int, data: TeamChallengeClose, *, team_id: int | None = None
) -> ChallengePublic:
    """Close a started team challenge with a celebration message that reaches the team
    (its manager or an L&D admin); a running one ends today."""
    row = await _visible(scope, challenge_id)
    if row.kind != "team" or (team_id is not None and row.team_id != team_id):
        raise NotFoundException(f"challenge {challenge_id} is not a team challenge")
    await _require_editor(scope, row)
    today = _org_today(await scope.organisation())
    await sponsorship.close(scope, row, data.message, today, utcnow())
    await scope.session.commit()
    return (await present(scope, [row]))[0]


async def update_challenge(
    scope: OrgScope, challenge_id: int, data: ChallengeUpdate
) -> ChallengePublic:
    row = await _visible(scope, challenge_id)
    await _require_editor(scope, row)
    organisation = await scope.organisation()
    today = _org_today(organisation)
    before = {"title": row.title, "description": row.description, "definition": row.definition}
    await _change_before_start(scope, row, data, today)
    definition = dict(row.definition)
    if data.title is not None:
        row.title = data.title
        if row.kind == "individual":
            definition["title"] = data.title  # the engine's nudge names the challenge
    if data.description is not None:
        row.description = data.description
    ends_changed = data.ends_on is not None and data.ends_on != row.ends_on
    if data.ends_on is not None and ends_changed:
        _check_period(row.starts_on, data.ends_on, today, new=False)
        row.ends_on = data.ends_on
        definition["ends_on"] = data.ends_on.isoformat()
        if row.kind == "team":
            _team_definition(TeamChallenge.from_dict(definition))
    row.definition = definition  # a new dict, so the JSON column is seen as changed
    scope.session.add(row)
    if row.kind == "individual":
        after = {"title": row.title, "description": row.description, "definition": definition}
        changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
        if changed:
            audit.record(
                scope,
                "challenge.update",
                target_type="challenge",
                target_id=row.id,
                summary=f"Changed challenge “{row.title}”",
                details=changed,
            )
    if ends_changed and row.kind == "team":
        # full weeks depend on the period: the engine measures the stored days again
        await recompute_team_challenge(scope.session, row, today, utcnow())
    await scope.session.commit()
    return (await present(scope, [row]))[0]


async def delete_challenge(scope: OrgScope, challenge_id: int) -> None:
    row = await _visible(scope, challenge_id)
    await _require_editor(scope, row)
    today = _org_today(await scope.organisation())
    if row.starts_on <= today:
        raise ClientException(
            f"challenge {challenge_id} has started; it can be changed but not deleted",
            status_code=409,
        )
    if row.kind == "individual":
        audit.record(
            scope,
            "challenge.delete",
            target_type="challenge",
            target_id=row.id,
            summary=f"Deleted challenge “{row.title}”",
            details={"starts_on": row.starts_on.isoformat(), "ends_on": row.ends_on.isoformat()},
        )
    await scope.session.delete(row)
    await scope.session.commit()


async def list_challenges(
    scope: OrgScope, statuses: Sequence[ChallengeStatus], *, team_id: int | None = None
) -> list[ChallengePublic]:
    """Challenges relevant to the caller (org-wide ones and their teams'), or one team's."""
    today = local_day(utcnow(), scope.principal.timezone)
    query = scope.select(Challenge)
    if team_id is None:
        query = query.where(
            or_(
                col(Challenge.kind) == "individual",
                col(Challenge.team_id).in_(await _my_team_ids(scope)),
            )
        )
    else:
        query = query.where(Challenge.kind == "team", Challenge.team_id == team_id)
    if "upcoming" not in statuses:
        query = query.where(col(Challenge.starts_on) <= today)
    if "finished" not in statuses:
        query = query.where(col(Challenge.ends_on) >= today)
    if "active" not in statuses:
        query = query.where(or_(col(Challenge.starts_on) > today, col(Challenge.ends_on) < today))
    rows = await scope.all(
        query.order_by(col(Challenge.starts_on), col(Challenge.ends_on), col(Challenge.id))
    )
    return await present(scope, rows)


async def list_team_challenges(
    scope: OrgScope, team_id: int, statuses: Sequence[ChallengeStatus]
) -> list[ChallengePublic]:
    await scope.get(Team, team_id, what="team")
    if not scope.principal.is_ld_admin and team_id not in await _my_team_ids(scope):
        raise PermissionDeniedException("only the team's members and L&D admins see its challenges")
    return await list_challenges(scope, statuses, team_id=team_id)


async def get_challenge(scope: OrgScope, challenge_id: int) -> ChallengePublic:
    return (await present(scope, [await _visible(scope, challenge_id)]))[0]


# ---------------------------------------------------------------------------------------------
# presenting: the caller's own numbers, and team aggregates only


@dataclass
class _TeamFacts:
    names: dict[int, str] = field(default_factory=dict)
    sponsors: dict[int, str] = field(default_factory=dict)
    counted_members: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    days: dict[int, list[TeamChallengeDay]] = field(default_factory=lambda: defaultdict(list))
    floor: int = LOWEST_FLOOR  # the organisation's privacy floor
    sizes: dict[int, int] = field(default_factory=dict)  # the group each team's figures are about


async def _team_facts(scope: OrgScope, rows: Sequence[Challenge]) -> _TeamFacts:
    facts = _TeamFacts()
    team_rows = [r for r in rows if r.kind == "team" and r.team_id is not None]
    if not team_rows:
        return facts
    team_ids = {r.team_id for r in team_rows if r.team_id is not None}
    facts.floor = floor_of(await scope.organisation())
    facts.sizes = await team_sizes(scope.session, scope.organisation_id, team_ids)
    for team in await scope.all(scope.select(Team).where(col(Team.id).in_(team_ids))):
        facts.names[team.id or 0] = team.name
    sponsor_ids = {r.sponsor_id for r in team_rows if r.sponsor_id is not None}
    if sponsor_ids:
        people = await scope.all(scope.select(User).where(col(User.id).in_(sponsor_ids)))
        facts.sponsors = {u.id or 0: u.display_name for u in people}
    # the members ingestion counts (recompute_team_challenge): everyone but the managers
    members = await scope.session.exec(
        select(TeamMembership.team_id, TeamMembership.user_id).where(
            scope.owns(TeamMembership),
            col(TeamMembership.team_id).in_(team_ids),
            col(TeamMembership.is_manager).is_(False),
        )
    )
    for team_id, user_id in members.all():
        facts.counted_members[team_id].add(user_id)
    days = await scope.all(
        scope.select(TeamChallengeDay).where(
            col(TeamChallengeDay.challenge_id).in_([r.id for r in team_rows])
        )
    )
    for day in days:
        facts.days[day.challenge_id].append(day)
    return facts


def _individual_out(
    row: Challenge, state: EngineState, default_reward: int, viewer_tz: str
) -> ChallengePublic:
    assert row.id is not None
    definition = ChallengeDefinition.from_dict(row.definition)
    progress = state.challenge_progress(definition)
    return ChallengePublic(
        id=row.id,
        kind="individual",
        title=row.title,
        description=row.description,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        status=challenge_status(row, local_day(utcnow(), viewer_tz)),
        progress=progress.fraction,
        completed=progress.completed,
        completed_on=progress.completed_on,
        individual=IndividualProgressOut(
            event_kind=definition.event_kind.value,
            target_count=definition.target_count,
            competency_id=definition.competency_id,
            hot_skill_only=definition.hot_skill_only,
            xp_reward=default_reward if definition.xp_reward is None else definition.xp_reward,
            badge_code=definition.badge_code,
            my_count=progress.count,
            reward_paid=definition.challenge_id in state.completed_challenges,
        ),
    )


def _team_out(
    row: Challenge, facts: _TeamFacts, me: int, org_today: date, viewer_tz: str
) -> ChallengePublic:
    assert row.id is not None and row.team_id is not None
    definition = TeamChallenge.from_dict(row.definition)
    members = facts.counted_members.get(row.team_id, set())
    # the same measure and day ingestion uses, so the aggregates add up to the stored progress
    minutes_by_member = team_minutes_by_member(members, facts.days.get(row.id, []))
    measured = team_challenge_progress(definition, minutes_by_member, org_today)
    mine = next((c for c in measured.contributions if c.user_id == me), None)
    participation = definition.target_kind is TeamTargetKind.PARTICIPATION
    completed_at: datetime | None = row.completed_at
    # below the privacy floor the team's figures would show a colleague's own learning
    shown = at_floor(facts.sizes.get(row.team_id, 0), facts.floor)
    return ChallengePublic(
        id=row.id,
        kind="team",
        title=row.title,
        description=row.description,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        status=challenge_status(row, local_day(utcnow(), viewer_tz)),
        progress=row.progress if shown else None,
        completed=completed_at is not None,
        completed_on=local_day(completed_at, viewer_tz) if completed_at else None,
        team=TeamProgressOut(
            team_id=row.team_id,
            team_name=facts.names.get(row.team_id, ""),
            sponsor=facts.sponsors.get(row.sponsor_id or 0),
            pledge=row.pledge,
            target_kind=definition.target_kind.value,
            target_minutes=None if participation else definition.target_minutes,
            member_share=definition.member_share if participation else None,
            days_per_week=definition.days_per_week if participation else None,
            weeks=definition.weeks if participation else None,
            team_minutes=measured.total_minutes if shown else None,
            weeks_reached=len(measured.qualifying_weeks) if participation and shown else None,
            member_count=len(members),
            members_contributing=sum(1 for c in measured.contributions if c.minutes > 0)
            if shown
            else None,
            figures_shown=shown,
            my_contribution=MyContributionOut(
                minutes=mine.minutes,
                active_days=mine.active_days,
                qualifying_weeks=mine.qualifying_weeks,
            )
            if mine is not None
            else None,
        ),
    )


async def present(scope: OrgScope, rows: Sequence[Challenge]) -> list[ChallengePublic]:
    """Challenges as the caller sees them: their own progress and team aggregates."""
    if not rows:
        return []
    me = scope.principal.user_id
    assert me is not None
    user = await scope.get(User, me, what="user")
    organisation = await scope.organisation()
    state = await with_tallies(
        scope.session,
        scope.organisation_id,
        me,
        await learner_document(scope.session, user),
        challenges=[
            ChallengeDefinition.from_dict(r.definition) for r in rows if r.kind == "individual"
        ],
    )
    default_reward = org_rules(organisation).xp.challenge_completed_xp
    facts = await _team_facts(scope, rows)
    org_today = _org_today(organisation)
    shown = [
        _individual_out(row, state, default_reward, user.timezone)
        if row.kind == "individual"
        else _team_out(row, facts, me, org_today, user.timezone)
        for row in rows
    ]
    for row, out in zip(rows, shown, strict=True):
        if out.team is not None:  # the sponsor's words and the celebration (words, no figures)
            out.team.message = row.message
            out.team.closing_message = row.closing_message
            out.team.closed_at = row.closed_at
    return shown


# ---------------------------------------------------------------------------------------------
# organisation-wide challenges as L&D manages them


async def _change_before_start(
    scope: OrgScope, row: Challenge, data: ChallengeUpdate, today: date
) -> None:
    """Apply a new start, target, competency, hot-skill rule or reward: only to an
    organisation-wide challenge that has not started (learners may be counting already)."""
    fields = ("starts_on", "target", "competency_id", "hot_skill_only", "xp_reward")
    sent = data.model_fields_set & set(fields)
    if not sent:
        return
    if row.kind != "individual":
        raise _invalid(sorted(sent)[0], "a team challenge's start and target do not change")
    if row.starts_on <= today:
        raise ClientException(
            f"challenge {row.id} has started; only its title, description and end can change",
            status_code=409,
        )
    definition = ChallengeDefinition.from_dict(row.definition)
    starts_on = data.starts_on if data.starts_on is not None else row.starts_on
    ends_on = data.ends_on if data.ends_on is not None else row.ends_on
    _check_period(starts_on, ends_on, today, new=True)
    competency_id = (
        data.competency_id if "competency_id" in data.model_fields_set else definition.competency_id
    )
    if competency_id is not None:
        found = await scope.all(scope.select(Competency).where(Competency.id == competency_id))
        if not found:
            raise _invalid("competency_id", f"no competency {competency_id} here")
    target = data.target
    row.starts_on = starts_on
    row.definition = ChallengeDefinition(
        challenge_id=definition.challenge_id,
        title=definition.title,
        starts_on=starts_on,
        ends_on=definition.ends_on,
        event_kind=EventKind(target.event_kind) if target else definition.event_kind,
        target_count=target.target_count if target else definition.target_count,
        competency_id=competency_id,
        hot_skill_only=definition.hot_skill_only
        if data.hot_skill_only is None
        else data.hot_skill_only,
        xp_reward=data.xp_reward if "xp_reward" in data.model_fields_set else definition.xp_reward,
        badge_code=definition.badge_code,
    ).to_dict()


async def end_challenge(scope: OrgScope, challenge_id: int) -> ChallengePublic:
    """End a running organisation-wide challenge today (learning today still counts);
    rewards already paid stay."""
    row = await scope.get(Challenge, challenge_id, what="challenge")
    if row.kind != "individual":
        raise NotFoundException(f"challenge {challenge_id} is not an organisation challenge")
    await _require_editor(scope, row)
    today = _org_today(await scope.organisation())
    if not row.starts_on <= today < row.ends_on:
        raise ClientException(
            f"challenge {challenge_id} is not running past today; only a running challenge "
            "can end early",
            status_code=409,
        )
    previous = row.ends_on
    row.ends_on = today
    row.definition = {**row.definition, "ends_on": today.isoformat()}
    scope.session.add(row)
    audit.record(
        scope,
        "challenge.end",
        target_type="challenge",
        target_id=row.id,
        summary=f"Ended challenge “{row.title}” early",
        details={"ends_on": {"from": previous.isoformat(), "to": today.isoformat()}},
    )
    await scope.session.commit()
    return (await present(scope, [row]))[0]


def period_of(row: Challenge, today: date) -> ChallengePeriod:
    status = challenge_status(row, today)
    return {"active": "running", "upcoming": "upcoming", "finished": "past"}[status]  # type: ignore[return-value]


async def challenge_counts(
    scope: OrgScope,
    definition: ChallengeDefinition,
    *,
    group: Group | None = None,
    until: date | None = None,
) -> tuple[int, int]:
    """(learners with an activity that counts, learners at the target), from the stored
    events as the engine matches them (courses as the catalogue has them now); with
    ``group`` only its learners (insights), with ``until`` only events up to that day."""
    event = LearningEvent
    last = definition.ends_on if until is None else min(definition.ends_on, until)
    per_learner: Any = (
        select(col(event.user_id), func.count().label("n"))
        .where(
            col(event.organisation_id) == scope.organisation_id,
            col(event.kind) == definition.event_kind.value,
            col(event.local_date) >= definition.starts_on,
            col(event.local_date) <= last,
            col(event.voided).is_(False),
        )
        .group_by(col(event.user_id))
    )
    if group is not None:
        per_learner = per_learner.where(group.where(event.user_id))
    if group is not None and group.team_id is not None:
        # a team's few learners: their own events by ix_learning_event_user_occurred (a local
        # day is at most a day away from the UTC one), not the organisation's day range
        per_learner = per_learner.where(
            col(event.occurred_at)
            >= datetime.combine(definition.starts_on, time.min, tzinfo=UTC) - timedelta(days=1),
            col(event.occurred_at)
            < datetime.combine(last, time.min, tzinfo=UTC) + timedelta(days=2),
        )
    if definition.hot_skill_only:
        hot = select(col(Course.id)).where(
            col(Course.organisation_id) == scope.organisation_id, col(Course.hot_skill).is_(True)
        )
        per_learner = per_learner.where(col(event.course_id).in_(hot))
    if definition.competency_id is not None:
        linked = select(col(CourseCompetency.course_id)).where(
            col(CourseCompetency.organisation_id) == scope.organisation_id,
            col(CourseCompetency.competency_id) == definition.competency_id,
        )
        per_learner = per_learner.where(
            or_(
                col(event.competency_id) == definition.competency_id,
                col(event.course_id).in_(linked),
            )
        )
    counted = per_learner.subquery()
    statement = select(func.count(), func.count().filter(counted.c.n >= definition.target_count))
    conn = await scope.session.connection()
    participants, completed = (await conn.execute(statement)).one()
    return int(participants), int(completed)


async def organisation_challenges(
    scope: OrgScope, period: ChallengePeriod | None = None, *, only_id: int | None = None
) -> list[ChallengeParticipationOut]:
    """The organisation-wide challenges (running, upcoming or past, or all of them), each
    with how many learners took part and completed; aggregates only, nobody by name."""
    organisation = await scope.organisation()
    today = _org_today(organisation)
    query = scope.select(Challenge).where(Challenge.kind == "individual")
    if only_id is not None:
        query = query.where(Challenge.id == only_id)
    if period == "running":
        query = query.where(col(Challenge.starts_on) <= today, col(Challenge.ends_on) >= today)
    elif period == "upcoming":
        query = query.where(col(Challenge.starts_on) > today)
    elif period == "past":
        query = query.where(col(Challenge.ends_on) < today)
    order = (
        (col(Challenge.ends_on).desc(), col(Challenge.id).desc())
        if period == "past"
        else (col(Challenge.starts_on), col(Challenge.id))
    )
    rows = await scope.all(query.order_by(*order))
    if not rows:
        return []
    learners = int(
        (
            await scope.session.exec(
                select(func.count())
                .select_from(User)
                .where(scope.owns(User), col(User.is_active).is_(True))
            )
        ).one()
    )
    default_reward = org_rules(organisation).xp.challenge_completed_xp
    definitions = [ChallengeDefinition.from_dict(r.definition) for r in rows]
    competency_ids = {d.competency_id for d in definitions if d.competency_id is not None}
    names: dict[int, str] = {}
    if competency_ids:
        found = await scope.all(
            scope.select(Competency).where(col(Competency.id).in_(competency_ids))
        )
        names = {c.id: c.name for c in found if c.id is not None}
    result = []
    for row, definition in zip(rows, definitions, strict=True):
        assert row.id is not None
        participants, completed = (
            (0, 0) if row.starts_on > today else await challenge_counts(scope, definition)
        )
        result.append(
            ChallengeParticipationOut(
                id=row.id,
                title=row.title,
                description=row.description,
                starts_on=row.starts_on,
                ends_on=row.ends_on,
                status=challenge_status(row, today),
                event_kind=definition.event_kind.value,
                target_count=definition.target_count,
                competency_id=definition.competency_id,
                competency_name=names.get(definition.competency_id or 0),
                hot_skill_only=definition.hot_skill_only,
                xp_reward=default_reward if definition.xp_reward is None else definition.xp_reward,
                xp_reward_is_default=definition.xp_reward is None,
                badge_code=definition.badge_code,
                learners=learners,
                participants=participants,
                completed=completed,
            )
        )
    return result


async def organisation_challenge(scope: OrgScope, challenge_id: int) -> ChallengeParticipationOut:
    row = await scope.get(Challenge, challenge_id, what="challenge")
    if row.kind != "individual":
        raise NotFoundException(f"challenge {challenge_id} is not an organisation challenge")
    return (await organisation_challenges(scope, only_id=challenge_id))[0]
