"""Kudos: thanks from one colleague to another, sent by hand or with a learning moment.

The only code that writes the ``kudos`` table. Each new kudos wakes the recipient's nudge
schedule (``backend.nudges.scheduler.wake_learners``), so the scheduler can tell them soon.
"""

from datetime import datetime, timedelta

from litestar.exceptions import ClientException, NotFoundException, TooManyRequestsException
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from backend.db.models import Kudos, LearningEvent, TeamMembership, User
from backend.db.types import utcnow
from backend.kudos.schemas import KudosIn, KudosOut
from backend.nudges.scheduler import wake_learners
from backend.tenancy import OrgScope
from pwa.i18n import sort_key

# enough for a generous day of thanks, too few for spamming a whole organisation
MAX_PER_DAY = 20
RATE_WINDOW = timedelta(hours=24)


async def send_kudos(scope: OrgScope, data: KudosIn, now: datetime | None = None) -> KudosOut:
    """A note of thanks to a colleague of my organisation (never to myself)."""
    now = now or utcnow()
    me = scope.principal.user_id
    assert me is not None
    if data.to_user_id == me:
        raise ClientException("to_user_id: kudos go to a colleague, not to yourself")
    colleague = await scope.get(User, data.to_user_id, what="colleague")
    if not colleague.is_active:
        raise NotFoundException(f"colleague {data.to_user_id} not found")
    sent_recently = (
        await scope.session.exec(
            select(func.count())
            .select_from(Kudos)
            .where(
                scope.owns(Kudos),
                Kudos.from_user_id == me,
                col(Kudos.learning_event_id).is_(None),
                col(Kudos.created_at) > now - RATE_WINDOW,
            )
        )
    ).one()
    if sent_recently >= MAX_PER_DAY:
        raise TooManyRequestsException(
            f"you sent {MAX_PER_DAY} kudos in the last 24 hours; try again tomorrow",
            headers={"Retry-After": "3600"},
        )
    row = scope.add(
        Kudos(
            organisation_id=scope.organisation_id,
            from_user_id=me,
            to_user_id=colleague.id or 0,
            message=data.message,
            created_at=now,
        )
    )
    await wake_learners(scope.session, scope.organisation_id, [data.to_user_id], now)
    await scope.session.commit()
    [out] = await _load(scope, select_ids=[row.id or 0])
    return out


async def thank_for_moment(
    scope: OrgScope, colleague_id: int | None, event_id: int | None, now: datetime | None = None
) -> None:
    """The colleague a learning moment names gets a "learned from you" kudos, once per moment.

    Safe to call again for the same moment (a retried or duplicate moment): the kudos row is
    unique per learning event.
    """
    me = scope.principal.user_id
    if colleague_id is None or event_id is None or me is None or colleague_id == me:
        return
    now = now or utcnow()
    existing = (
        await scope.session.exec(select(Kudos.id).where(Kudos.learning_event_id == event_id))
    ).first()
    if existing is not None:
        return
    scope.add(
        Kudos(
            organisation_id=scope.organisation_id,
            from_user_id=me,
            to_user_id=colleague_id,
            learning_event_id=event_id,
            created_at=now,
        )
    )
    await wake_learners(scope.session, scope.organisation_id, [colleague_id], now)
    try:
        await scope.session.commit()
    except IntegrityError:
        # a concurrent retry of the same moment got there first: that one counts
        await scope.session.rollback()


async def received(scope: OrgScope, limit: int = 50) -> list[KudosOut]:
    """Kudos I received, newest first."""
    assert scope.principal.user_id is not None
    return await _load(scope, to_user_id=scope.principal.user_id, limit=limit)


async def sent(scope: OrgScope, limit: int = 100_000) -> list[KudosOut]:
    assert scope.principal.user_id is not None
    return await _load(scope, from_user_id=scope.principal.user_id, limit=limit)


async def _load(
    scope: OrgScope,
    *,
    to_user_id: int | None = None,
    from_user_id: int | None = None,
    select_ids: list[int] | None = None,
    limit: int = 50,
) -> list[KudosOut]:
    sender = aliased(User)
    recipient = aliased(User)
    query = (
        select(Kudos, sender.display_name, recipient.display_name, LearningEvent.title)
        .join(sender, col(sender.id) == col(Kudos.from_user_id))
        .join(recipient, col(recipient.id) == col(Kudos.to_user_id))
        .outerjoin(LearningEvent, col(LearningEvent.id) == col(Kudos.learning_event_id))
        .where(scope.owns(Kudos))
        .order_by(col(Kudos.created_at).desc(), col(Kudos.id).desc())
        .limit(limit)
    )
    if to_user_id is not None:
        query = query.where(Kudos.to_user_id == to_user_id)
    if from_user_id is not None:
        query = query.where(Kudos.from_user_id == from_user_id)
    if select_ids is not None:
        query = query.where(col(Kudos.id).in_(select_ids))
    rows = (await scope.session.exec(query)).all()
    return [
        KudosOut(
            id=k.id or 0,
            kind="learned_from_you" if k.learning_event_id is not None else "note",
            from_user_id=k.from_user_id,
            from_name=from_name,
            to_user_id=k.to_user_id,
            to_name=to_name,
            message=k.message,
            moment=title if k.learning_event_id is not None else None,
            created_at=k.created_at,
        )
        for k, from_name, to_name, title in rows
    ]


async def teammates(scope: OrgScope, team_id: int) -> list[tuple[int, str]]:
    """The other active members of a team, by name: whom I can send kudos to (the learner's
    team page and a manager's team view offer them)."""
    query = (
        select(User.id, User.display_name)
        .join(TeamMembership, col(TeamMembership.user_id) == col(User.id))
        .where(
            scope.owns(User),
            scope.owns(TeamMembership),
            TeamMembership.team_id == team_id,
            col(User.is_active).is_(True),
            User.id != scope.principal.user_id,
        )
        .order_by(col(User.id))
    )
    people = [(uid, name) for uid, name in (await scope.session.exec(query)).all() if uid]
    return sorted(people, key=lambda person: sort_key(person[1]))
