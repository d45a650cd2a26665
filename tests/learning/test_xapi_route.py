"""``POST /xapi/statements``, the busiest endpoint, is an ordinary route of the app: what the
app does to every request (middleware, hooks, limits, error answers) it does to this one."""

import uuid
from datetime import UTC, datetime, timedelta

from litestar import Litestar, Response
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.app import SECURITY_HEADERS, create_app
from backend.context import AppContext
from backend.db.models import LearningEvent
from backend.learning.controllers import LARGE_BODY
from tests.factories import World

XAPI = {"X-Experience-API-Version": "1.0.3"}


def _statement() -> dict:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:sam@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"objectType": "Activity", "id": "https://lms.acme.example/a/route"},
        "timestamp": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }


async def test_the_busiest_endpoint_answers_with_the_apps_headers_limits_and_errors(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    statement = _statement()
    recorded = await client.post("/xapi/statements", json=statement, headers=headers)
    assert recorded.status_code == 200 and recorded.json() == [statement["id"]]
    for name, value in {**SECURITY_HEADERS, **XAPI}.items():
        assert recorded.headers[name] == value
    async with ctx.sessionmaker() as session:
        stored = (await session.exec(select(LearningEvent.idempotency_key))).all()
    assert stored == [f"xapi:{statement['id']}"]

    too_large = await client.post(
        "/xapi/statements", content=b" " * (LARGE_BODY + 1), headers=headers
    )
    not_json = await client.post("/xapi/statements", content=b"{statement", headers=headers)
    anonymous = await client.post("/xapi/statements", json=_statement(), headers=XAPI)
    # without a key: the xAPI answer, 401 with a Basic challenge (no CSRF check on /xapi)
    assert [too_large.status_code, not_json.status_code, anonymous.status_code] == [413, 400, 401]
    assert not_json.json()["detail"].startswith("body: not JSON")
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    for refused in (too_large, not_json, anonymous):  # the app's error answer, every time
        assert refused.json()["status_code"] == refused.status_code


async def test_a_hook_added_to_the_app_runs_for_the_busiest_endpoint(
    ctx: AppContext, world: World
) -> None:
    # as request metrics or logging added to the app later would: every response passes it
    app = create_app(context=ctx)
    security_headers = app.after_request
    assert security_headers is not None
    seen: list[object] = []

    async def metrics(response: Response) -> Response:  # type: ignore[type-arg]
        seen.append(response.content)
        return await security_headers(response)  # type: ignore[misc,no-any-return]

    app.after_request = metrics
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    async with AsyncTestClient(app=app) as client:
        answered = await client.post("/xapi/statements", json=_statement(), headers=headers)
        about = await client.get("/xapi/about")
    assert [answered.status_code, about.status_code] == [200, 200]
    assert len(seen) == 2  # the statement's answer and the about document
    assert answered.headers["X-Frame-Options"] == SECURITY_HEADERS["X-Frame-Options"]
