"""Over HTTP and PostgreSQL: statements for a learner and voidings of some of them, in any
arrival order (a voiding before or after its statement, in one batch or not), leave the
learner where sending only the statements that were not voided does (hypothesis; a few
examples, each a fresh pair of learners: the pure engine's property runs many more in
tests/gamification/test_voiding.py)."""

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from backend.context import AppContext
from backend.db.models import LearnerState, User, XpLedgerEntry
from tests.factories import World

XAPI = {"X-Experience-API-Version": "1.0.3"}
VERBS = {
    "completed": "http://adlnet.gov/expapi/verbs/completed",
    "experienced": "http://adlnet.gov/expapi/verbs/experienced",
    "progressed": "http://adlnet.gov/expapi/verbs/progressed",
}
VOIDED = "http://adlnet.gov/expapi/verbs/voided"
ACTIVITIES = [
    "https://lms.acme.example/courses/feedback",  # the world's catalogue course
    "https://lms.acme.example/courses/unlisted-1",
    "https://lms.acme.example/courses/unlisted-2",
]
Client = AsyncTestClient[Litestar]
_pairs = itertools.count(1)

learning = st.tuples(
    st.sampled_from(sorted(VERBS)),
    st.sampled_from(ACTIVITIES),
    st.sampled_from([0, 10, 30, 50]),  # minutes
    st.integers(0, 9),  # days ago
    st.integers(0, 23),  # hours before that day's now
)


def _statement(email: str, what: tuple[str, str, int, int, int], now: datetime) -> dict[str, Any]:
    verb, activity, minutes, days, hours = what
    statement: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": f"mailto:{email}"},
        "verb": {"id": VERBS[verb]},
        "object": {"objectType": "Activity", "id": activity},
        "timestamp": (now - timedelta(days=days, hours=hours)).isoformat(),
    }
    if minutes:
        statement["result"] = {"duration": f"PT{minutes}M"}
    return statement


def _voiding(target: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:lms@acme.example"},
        "verb": {"id": VOIDED},
        "object": {"objectType": "StatementRef", "id": target},
    }


async def _learners(ctx: AppContext, world: World) -> tuple[str, str]:
    """A fresh pair of learners in Acme: one gets everything, the other only what stays."""
    n = next(_pairs)
    emails = (f"subject-{n}@example.com", f"control-{n}@example.com")
    async with ctx.sessionmaker() as session:
        session.add_all(
            User(organisation_id=world.a.id, email=e, display_name=e, roles=["employee"])
            for e in emails
        )
        await session.commit()
    return emails


async def _state(ctx: AppContext, world: World, email: str) -> tuple[dict[str, Any], int]:
    """The learner's game as compared (without what names statements: keys, badge evidence
    and awarded badges, which stay) and their XP ledger's sum."""
    async with ctx.sessionmaker() as session:
        user = (
            await session.exec(
                select(User).where(User.organisation_id == world.a.id, User.email == email)
            )
        ).one()
        state = await session.get(LearnerState, user.id)
        ledger = (
            await session.exec(
                select(func.coalesce(func.sum(XpLedgerEntry.amount), 0)).where(
                    XpLedgerEntry.user_id == user.id
                )
            )
        ).one()
    if state is None:
        return {}, int(ledger)
    document = dict(state.data or {})
    for name in ("recent_keys", "awarded_badges", "streak_checkpoint", "goal_tallies"):
        document.pop(name, None)
    columns = (state.xp_total, state.level, state.current_streak, state.last_active_date)
    return {**document, "columns": columns}, int(ledger)


async def _post(client: Client, world: World, body: Any) -> None:
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    response = await client.post("/xapi/statements", json=body, headers=headers)
    assert response.status_code == 200, response.text


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sent=st.lists(learning, min_size=1, max_size=6), data=st.data())
async def test_statements_and_voidings_in_any_order_equal_sending_only_the_rest(
    app: Litestar,
    client: Client,
    world: World,
    ctx: AppContext,
    sent: list[tuple[str, str, int, int, int]],
    data: st.DataObject,
) -> None:
    now = datetime.now(UTC)
    subject, control = await _learners(ctx, world)
    statements = [_statement(subject, what, now) for what in sent]
    voided = data.draw(st.sets(st.sampled_from(range(len(sent)))), label="voided")
    arrivals = data.draw(
        st.permutations(
            [statements[i] for i in range(len(sent))]
            + [_voiding(statements[i]["id"]) for i in voided]
        ),
        label="arrival order",
    )
    batch = data.draw(st.integers(1, 3), label="batch size")
    for start in range(0, len(arrivals), batch):
        await _post(client, world, arrivals[start : start + batch])
    kept = [_statement(control, what, now) for i, what in enumerate(sent) if i not in voided]
    if kept:
        await _post(client, world, kept)
    got, got_ledger = await _state(ctx, world, subject)
    expected, _ = await _state(ctx, world, control)
    assert got_ledger == (got["columns"][0] if got else 0)
    if not kept:  # never learned: nothing, or a state with nothing in it
        assert not got or (got["columns"][0], got["fact_count"]) == (0, 0)
        return
    assert got == expected
