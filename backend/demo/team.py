"""Demo data for leaders: a team challenge the demo manager sponsored for next week.

The demo employee's team sees it as upcoming on its "My team" page (with its start date and
the manager's message) and got the announcement in its outbox, as a live sponsorship does.
Call ``seed_team`` inside the demo seed's transaction, after the team and its manager exist.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.challenges import sponsorship
from backend.db.models import Challenge, Role, User
from backend.tenancy import OrgScope
from gamification import TeamChallenge, TeamTargetKind
from gamification.periods import next_week_start

UPCOMING_TITLE = "Samen sterker in planning: 2 dagen per week"
UPCOMING_PLEDGE = "Een middag karten met het hele team"
UPCOMING_MESSAGE = (
    "Na de drukke decembermaand wil ik dat we weer tijd maken om te leren. "
    "Twee dagen per week iets nieuws, met z'n allen: dat halen we!"
)


async def seed_team(
    session: AsyncSession, organisation_id: int, team_id: int, manager: User, today: date
) -> Challenge:
    """The manager sponsored a participation challenge (two days a week, two full weeks)
    starting next Monday, yesterday at 16:00; the team's members were told then."""
    assert manager.id is not None
    starts = next_week_start(today)
    row = Challenge(
        organisation_id=organisation_id,
        kind="team",
        title=UPCOMING_TITLE,
        description="Twee weken lang leert 80% van het team op minstens twee dagen per week.",
        starts_on=starts,
        ends_on=starts + timedelta(days=13),
        team_id=team_id,
        sponsor_id=manager.id,
        pledge=UPCOMING_PLEDGE,
        message=UPCOMING_MESSAGE,
        created_at=datetime.combine(
            today - timedelta(days=1), time(16, 0), tzinfo=ZoneInfo(manager.timezone)
        ).astimezone(UTC),
    )
    session.add(row)
    await session.flush()
    row.definition = TeamChallenge(
        challenge_id=str(row.id),
        sponsor_user_id=manager.id,
        pledge=row.pledge,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        target_kind=TeamTargetKind.PARTICIPATION,
        member_share=0.8,
        days_per_week=2,
        weeks=2,
    ).to_dict()
    session.add(row)
    principal = Principal(
        organisation_id=organisation_id,
        user_id=manager.id,
        roles=frozenset({Role.employee.value, Role.manager.value}),
        via="cli",
        display_name=manager.display_name,
    )
    scope = OrgScope(session, principal)
    await sponsorship.announce(scope, row, manager.display_name, row.created_at)
    return row
