"""Learning activity for the progress tests, recorded the way integrations do (events API)."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import Organisation
from tests.factories import Org

AMSTERDAM = ZoneInfo("Europe/Amsterdam")  # every test person's timezone


def local_today() -> date:
    return datetime.now(AMSTERDAM).date()


def local_noon(days_ago: int = 0) -> datetime:
    """Noon (Amsterdam) ``days_ago`` days ago: safely inside that local day."""
    day = local_today() - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, 12, tzinfo=AMSTERDAM)


def event(
    email: str,
    kind: str = "experience",
    *,
    when: datetime | None = None,
    minutes: int = 5,
    course_id: int | None = None,
    title: str = "",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "learner": {"email": email},
        "kind": kind,
        "occurred_at": (when or datetime.now(UTC)).isoformat(),
        "minutes": minutes,
        "title": title,
    }
    if course_id is not None:
        body["course"] = {"id": course_id}
    return body


async def ingest(
    client: AsyncTestClient[Litestar], org: Org, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Record ``events`` in one batch with the organisation's API key; each must be created."""
    response = await client.post(
        "/api/v1/events", json=events, headers={"Authorization": f"Bearer {org.api_key}"}
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert [r["status"] for r in results] == ["created"] * len(events), results
    return results


async def set_streak_mode(ctx: AppContext, org_id: int, mode: str) -> None:
    async with ctx.sessionmaker() as session:
        org = (await session.exec(select(Organisation).where(Organisation.id == org_id))).one()
        org.settings = {**org.settings, "streak_mode": mode}
        session.add(org)
        await session.commit()
