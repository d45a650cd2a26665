"""What the Today screen needs, from the learner's kept state (no scan of events)."""

from datetime import date, datetime

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import (
    BadgeAward,
    BadgeDefinition,
    Challenge,
    LearnerState,
    Organisation,
    Team,
    TeamMembership,
    User,
)
from backend.db.types import utcnow
from backend.insights.privacy import at_floor, floor_of, team_sizes
from backend.learning.history import with_tallies
from backend.learning.rules import org_rules
from backend.learning.schemas import (
    BadgeSummary,
    ChallengeSummary,
    LevelOut,
    StreakOut,
    TodayOut,
    WeeklyGoalOut,
)
from backend.progress.services import learning_since
from gamification import ChallengeDefinition, local_day, refresh
from gamification import LearnerState as EngineState
from gamification.goals import weekly_goal_progress


async def learner_document(session: AsyncSession, user: User) -> EngineState:
    row = (
        await session.exec(
            select(LearnerState).where(
                LearnerState.user_id == user.id,
                LearnerState.organisation_id == user.organisation_id,
            )
        )
    ).first()
    return EngineState.from_dict(row.data if row else {})


async def active_challenges(
    session: AsyncSession, user: User, state: EngineState, today: date
) -> list[ChallengeSummary]:
    team_ids = (
        await session.exec(
            select(TeamMembership.team_id).where(
                TeamMembership.user_id == user.id,
                TeamMembership.organisation_id == user.organisation_id,
            )
        )
    ).all()
    rows = (
        await session.exec(
            select(Challenge)
            .where(
                Challenge.organisation_id == user.organisation_id,
                col(Challenge.starts_on) <= today,
                col(Challenge.ends_on) >= today,
                or_(
                    col(Challenge.kind) == "individual", col(Challenge.team_id).in_(list(team_ids))
                ),
            )
            .order_by(col(Challenge.ends_on), col(Challenge.id))
        )
    ).all()
    names: dict[int, str] = {}
    people = {r.sponsor_id for r in rows if r.sponsor_id}
    if people:
        found = await session.exec(
            select(col(User.id), User.display_name).where(col(User.id).in_(people))
        )
        names = {uid: name for uid, name in found.all() if uid is not None}
    teams: dict[int, str] = {}
    if team_ids:
        found_teams = await session.exec(
            select(col(Team.id), Team.name).where(col(Team.id).in_(list(team_ids)))
        )
        teams = {tid: name for tid, name in found_teams.all() if tid is not None}
    definitions = {
        row.id: ChallengeDefinition.from_dict(row.definition)
        for row in rows
        if row.kind == "individual"
    }
    # a team's figures only when it is at least the privacy floor's size
    organisation = await session.get(Organisation, user.organisation_id)
    assert organisation is not None and user.id is not None
    floor = floor_of(organisation)
    sizes = await team_sizes(session, user.organisation_id, teams)
    state = await with_tallies(
        session, user.organisation_id, user.id, state, challenges=list(definitions.values())
    )
    out: list[ChallengeSummary] = []
    for row in rows:
        assert row.id is not None
        if row.kind == "individual":
            progress = state.challenge_progress(definitions[row.id])
            out.append(
                ChallengeSummary(
                    id=row.id,
                    kind=row.kind,
                    title=row.title,
                    starts_on=row.starts_on,
                    ends_on=row.ends_on,
                    progress=progress.fraction,
                    completed=progress.completed,
                    my_count=progress.count,
                    target=progress.target,
                )
            )
        else:
            out.append(
                ChallengeSummary(
                    id=row.id,
                    kind=row.kind,
                    title=row.title,
                    starts_on=row.starts_on,
                    ends_on=row.ends_on,
                    progress=row.progress
                    if at_floor(sizes.get(row.team_id or 0, 0), floor)
                    else None,
                    completed=row.completed_at is not None,
                    pledge=row.pledge,
                    sponsor=names.get(row.sponsor_id or 0),
                    team=teams.get(row.team_id or 0),
                )
            )
    return out


async def newest_badges(session: AsyncSession, user: User, limit: int = 3) -> list[BadgeSummary]:
    rows = (
        await session.exec(
            select(BadgeAward, BadgeDefinition.name, BadgeDefinition.name_en)
            .join(
                BadgeDefinition,
                (col(BadgeDefinition.code) == col(BadgeAward.badge_code))
                & (col(BadgeDefinition.organisation_id) == col(BadgeAward.organisation_id)),
                isouter=True,
            )
            .where(
                BadgeAward.user_id == user.id, BadgeAward.organisation_id == user.organisation_id
            )
            .order_by(col(BadgeAward.awarded_at).desc(), col(BadgeAward.id).desc())
            .limit(limit)
        )
    ).all()
    return [
        BadgeSummary(
            code=award.badge_code,
            name=(name_en if user.locale == "en" and name_en else name) or award.badge_code,
            tier=award.tier,
            awarded_at=award.awarded_at,
            public_id=award.public_id,
        )
        for award, name, name_en in rows
    ]


async def today_for(
    session: AsyncSession, organisation: Organisation, user: User, now: datetime | None = None
) -> TodayOut:
    now = now or utcnow()
    rules = org_rules(organisation)
    state = refresh(await learner_document(session, user), rules, now, user.timezone)
    today = local_day(now, user.timezone)
    level = rules.levels.progress(state.xp_total)
    minutes_by_day = state.minutes_by_day()
    goal = weekly_goal_progress(
        minutes_by_day, state.weekly_goal_minutes, now, user.timezone, learning_since(user)
    )
    streak = state.streak
    offer = streak.repair_offer
    return TodayOut(
        date=today,
        streak=StreakOut(
            mode=streak.mode.value,
            current=streak.current,
            longest=streak.longest,
            freezes_banked=streak.freezes_banked,
            at_risk=streak.at_risk,
            deadline=streak.deadline,
            paused_today=any(p.start <= today <= p.end for p in state.pauses),
            repair_extra_sessions=offer.extra_sessions_needed if offer else None,
            repair_by=offer.repair_by if offer else None,
        ),
        level=LevelOut(
            level=level.level,
            xp_total=state.xp_total,
            xp_into_level=level.xp_into_level,
            xp_to_next_level=level.xp_to_next_level,
            fraction=level.fraction,
        ),
        weekly_goal=WeeklyGoalOut(
            target_minutes=goal.target_minutes,
            minutes=goal.minutes,
            fraction=goal.fraction,
            pace=goal.pace.value,
        ),
        minutes_today=minutes_by_day.get(today, 0),
        challenges=await active_challenges(session, user, state, today),
        newest_badges=await newest_badges(session, user),
    )
