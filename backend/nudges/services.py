"""Nudge measurement: the notification click and what L&D sees per kind and text variant."""

from datetime import UTC, date, datetime, time

from litestar.exceptions import NotFoundException
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import Nudge
from backend.db.types import utcnow
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


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def insights(scope: OrgScope, since: date) -> NudgeInsights:
    """Per kind and variant: created, sent, clicked, learned within 24 h, and the rates."""
    start = datetime.combine(since, time.min, tzinfo=UTC)
    conn = await scope.session.connection()
    rows = (
        await conn.execute(
            sa_select(
                col(Nudge.kind),
                col(Nudge.variant),
                func.count(),
                func.count(col(Nudge.sent_at)),
                func.count(col(Nudge.clicked_at)),
                func.count(col(Nudge.learned_at)),
            )
            .where(
                scope.owns(Nudge),
                col(Nudge.created_at) >= start,
                col(Nudge.dedupe_key).notlike("preview:%"),  # L&D's previews measure nothing
            )
            .group_by(col(Nudge.kind), col(Nudge.variant))
            .order_by(col(Nudge.kind), col(Nudge.variant))
        )
    ).all()
    return NudgeInsights(
        since=since,
        rows=[
            NudgeVariantInsight(
                kind=kind,
                variant=variant,
                created=created,
                sent=sent,
                clicked=clicked,
                learned_within_24h=learned,
                click_rate=_rate(clicked, sent),
                learned_rate=_rate(learned, sent),
            )
            for kind, variant, created, sent, clicked, learned in rows
        ],
    )
