"""Nudge measurement: the notification click and what L&D sees per kind and text variant."""

from datetime import UTC, date, datetime, time

from litestar.exceptions import NotFoundException
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import Nudge
from backend.db.types import utcnow
from backend.insights.privacy import Group
from backend.insights.queries import nudge_effects
from backend.nudges.schemas import NudgeInsights, NudgeVariantInsight
from backend.tenancy import OrgScope

TOKEN_LENGTH = 32


async def record_click(
    session: AsyncSession, nudge_id: str, organisation_id: int | None = None
) -> None:
    """The learner opened the notification; the first click time is kept.

    Anonymous on purpose (the service worker reports it, maybe without a session): the
    random 128-bit id is the credential, and a click only ever sets ``clicked_at``. A
    signed-in caller (``organisation_id``) only reaches nudges of their own organisation.
    """
    if len(nudge_id) != TOKEN_LENGTH or not all(c in "0123456789abcdef" for c in nudge_id):
        raise NotFoundException(f"nudge {nudge_id[:40]} not found")
    which = [col(Nudge.id) == nudge_id]
    if organisation_id is not None:
        which.append(col(Nudge.organisation_id) == organisation_id)
    result = await session.exec(
        update(Nudge).where(*which, col(Nudge.clicked_at).is_(None)).values(clicked_at=utcnow())
    )
    if result.rowcount == 0:
        exists = (await session.exec(select(Nudge.id).where(*which))).first()
        if exists is None:
            raise NotFoundException(f"nudge {nudge_id} not found")
    await session.commit()


async def insights(scope: OrgScope, group: Group, since: date) -> NudgeInsights:
    """Per kind and variant: created, sent, clicked, learned within 24 h, and the rates, for
    the nudges of ``group`` created since ``since`` (a kind/variant sent to fewer learners
    than the privacy floor is left out): ``backend.insights.queries.nudge_effects``."""
    start = datetime.combine(since, time.min, tzinfo=UTC)
    effects, _left_out = await nudge_effects(scope, group, start)
    return NudgeInsights(
        since=since,
        rows=[
            NudgeVariantInsight(
                kind=e.kind,
                variant=e.variant,
                created=e.created,
                sent=e.sent,
                clicked=e.clicked,
                learned_within_24h=e.learned,
                click_rate=e.click_rate,
                learned_rate=e.learned_rate,
            )
            for e in effects
        ],
    )
