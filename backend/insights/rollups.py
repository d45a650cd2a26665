"""Changes to the insights' rollups besides the ingestion trigger (migration 0022)."""

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

_MEASURES = ("formal_events", "informal_events", "minutes_formal", "minutes_informal")

_MOVE_COMPETENCY = text(
    f"""
WITH gone AS (
  DELETE FROM learner_competency_week
   WHERE organisation_id = :org AND competency_id = :source
  RETURNING organisation_id, user_id, week_start, {", ".join(_MEASURES)}
)
INSERT INTO learner_competency_week AS w (organisation_id, user_id, competency_id, week_start,
  {", ".join(_MEASURES)})
SELECT organisation_id, user_id, :into, week_start, {", ".join(_MEASURES)} FROM gone
ORDER BY user_id, week_start
ON CONFLICT (user_id, competency_id, week_start) DO UPDATE
  SET {", ".join(f"{m} = w.{m} + excluded.{m}" for m in _MEASURES)}
"""
)


async def move_competency(
    session: AsyncSession, organisation_id: int, source_id: int, into_id: int
) -> None:
    """A merged competency's learning counts for the one it was merged into (an event that
    counted for both, through its own competency and its course's, then counts twice)."""
    conn = await session.connection()
    await conn.execute(
        _MOVE_COMPETENCY, {"org": organisation_id, "source": source_id, "into": into_id}
    )
