"""Operations: every answer names its request id (and so does every log line of the request),
``/metrics`` shows what the app, ingestion, the scheduler and the push workers did, to a
scraper with the token only."""

import asyncio
import dataclasses
import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.context import AppContext
from backend.db.engine import make_engine
from backend.log_config import (
    LOG_FORMAT,
    REQUEST_ID,
    JsonFormatter,
    RequestIdFilter,
    log_config,
)
from backend.ops import exposition, metrics
from backend.push.worker import PushWorker
from backend.settings import Settings
from tests.factories import World, signed_in_client
from tests.push.conftest import queue_nudge
from tests.push.push_service import PushService

TOKEN = "metrics-token-for-tests-0123456789"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, metrics_token=TOKEN, push_allow_http_endpoints=True)


async def scrape(client: AsyncTestClient[Litestar]) -> dict[str, float]:
    """``/metrics`` as {series with labels: value}."""
    response = await client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    values: dict[str, float] = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            values[series] = float(value)
    return values


# --------------------------------------------------------------------------- request ids


async def test_every_answer_names_a_request_id_and_keeps_a_sane_incoming_one(
    client: AsyncTestClient[Litestar],
) -> None:
    first = (await client.get("/healthz")).headers["x-request-id"]
    second = (await client.get("/healthz")).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", first) and first != second
    kept = await client.get("/healthz", headers={"X-Request-Id": "lb-7f3a:2026/12=x"})
    assert kept.headers["x-request-id"] == "lb-7f3a:2026/12=x"
    # a 404 (no route) carries one too
    missing = await client.get("/no/such/page", headers={"X-Request-Id": "trace-404"})
    assert missing.status_code == 404 and missing.headers["x-request-id"] == "trace-404"
    for unsafe in (b"two words", b"x" * 129, b"quote\"'<script>", "ä-non-ascii".encode()):
        answered = await client.get("/healthz", headers=[(b"X-Request-Id", unsafe)])
        assert re.fullmatch(r"[0-9a-f]{16}", answered.headers["x-request-id"]), unsafe


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The learnloop loggers' lines as ``LEARNLOOP_LOG_FORMAT=json`` writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("learnloop")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_a_json_log_line_names_the_request_it_was_logged_for(
    app: Litestar, world: World, json_log: io.StringIO
) -> None:
    async with AsyncTestClient(app=app) as client:
        await client.get("/")
        token = client.cookies.get("learnloop_csrf")
        response = await client.post(
            "/api/v1/auth/forgot-password",
            json={"email": "sam@example.com"},
            headers={"x-csrf-token": str(token), "X-Request-Id": "support-ticket-4711"},
        )
    assert response.status_code == 202
    assert response.headers["x-request-id"] == "support-ticket-4711"
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    (line,) = [entry for entry in lines if "password reset" in entry["message"]]
    assert line["request_id"] == "support-ticket-4711"
    assert line["level"] == "WARNING" and line["logger"].startswith("learnloop")
    assert line["time"].endswith("Z") and isinstance(line["pid"], int)
    # outside a request a line names none
    logging.getLogger("learnloop").warning("between requests")
    last = json.loads(json_log.getvalue().splitlines()[-1])
    assert last["message"] == "between requests" and "request_id" not in last


def test_json_is_chosen_by_setting_and_text_stays_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEARNLOOP_LOG_FORMAT", raising=False)
    assert "format" in log_config()["formatters"]["learnloop"]
    monkeypatch.setenv("LEARNLOOP_LOG_FORMAT", "json")
    assert log_config()["formatters"]["learnloop"]["()"].endswith("JsonFormatter")
    record = logging.LogRecord("learnloop.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    RequestIdFilter().filter(record)
    text = logging.Formatter(LOG_FORMAT).format(record)
    assert text.endswith("learnloop.x: hello you")  # no request: no [id]
    during = REQUEST_ID.set("abc123")
    try:
        record = logging.LogRecord("learnloop.x", logging.INFO, __file__, 1, "hi", (), None)
        RequestIdFilter().filter(record)
    finally:
        REQUEST_ID.reset(during)
    assert logging.Formatter(LOG_FORMAT).format(record).endswith("learnloop.x: hi [abc123]")


# --------------------------------------------------------------------------- /metrics


async def test_metrics_refuse_a_scraper_without_the_token(
    client: AsyncTestClient[Litestar], ctx: AppContext
) -> None:
    missing = await client.get("/metrics")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and "learnloop_" not in wrong.text
    # an API key is no metrics token either, and a metrics token signs no one in elsewhere
    me = await client.get("/api/v1/me", headers=SCRAPE)
    assert me.status_code == 401
    # without a configured token there is no /metrics at all
    off = dataclasses.replace(ctx.settings, metrics_token="")
    plain = AppContext.from_settings(off, null_pool=True)
    async with AsyncTestClient(app=create_app(context=plain)) as other:
        assert (await other.get("/metrics", headers=SCRAPE)).status_code == 404
    await plain.engine.dispose()


async def test_metrics_count_requests_by_route_and_status_class(
    client: AsyncTestClient[Litestar],
) -> None:
    series = 'learnloop_http_requests_total{route="/healthz",method="GET",status="2xx"}'
    before = (await scrape(client)).get(series, 0)
    for _ in range(3):
        assert (await client.get("/healthz")).status_code == 200
    await client.get("/no/such/page/12345")
    after = await scrape(client)
    assert after[series] == before + 3
    # unknown paths share one series (no label per path a client makes up)
    assert after['learnloop_http_requests_total{route="unmatched",method="GET",status="4xx"}'] >= 1
    assert not any("12345" in name for name in after)
    assert after["learnloop_database_up"] == 1


async def test_metrics_count_ingestion_outcomes(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    def outcome(name: str) -> str:
        return f'learnloop_ingested_total{{source="api",outcome="{name}"}}'

    before = await scrape(client)
    event = {
        "id": "ops-1",
        "learner": {"email": "sam@example.com"},
        "kind": "completion",
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "course": {"id": world.a.course_id},
    }
    headers = {"Authorization": f"Bearer {world.a.api_key}"}
    assert (await client.post("/api/v1/events", json=event, headers=headers)).status_code == 201
    again = await client.post("/api/v1/events", json=event, headers=headers)
    assert again.status_code in (200, 201)
    ghost = {**event, "id": "ops-2", "learner": {"email": "ghost@acme.example"}}
    await client.post("/api/v1/events", json=[ghost], headers=headers)
    after = await scrape(client)
    assert after[outcome("accepted")] == before.get(outcome("accepted"), 0) + 1
    assert after[outcome("duplicate")] == before.get(outcome("duplicate"), 0) + 1
    assert after[outcome("unknown_learner")] == before.get(outcome("unknown_learner"), 0) + 1


async def test_metrics_show_the_outbox_depth_and_its_oldest_due_age(
    client: AsyncTestClient[Litestar], ctx: AppContext, world: World
) -> None:
    sam = world.a.users["employee"]
    empty = await scrape(client)
    assert (empty["learnloop_outbox_due"], empty["learnloop_outbox_oldest_due_age_seconds"]) == (
        0,
        0,
    )
    now = datetime.now(UTC)
    await queue_nudge(ctx, sam, kind="a", due_at=now - timedelta(minutes=5))
    await queue_nudge(ctx, sam, kind="b", due_at=now - timedelta(seconds=10))
    await queue_nudge(ctx, sam, kind="c", due_at=now + timedelta(hours=1))
    values = await scrape(client)
    assert values["learnloop_outbox_pending"] == 3
    assert values["learnloop_outbox_due"] == 2
    assert 300 <= values["learnloop_outbox_oldest_due_age_seconds"] < 330


async def test_metrics_show_the_pool_in_use(postgres_url: str) -> None:
    engine = make_engine(postgres_url)  # pooled, as in a server process
    try:
        async with engine.connect():
            state = exposition.pool_state(engine)
            assert state[("size",)] > 0 and state[("checked_out",)] == 1
            assert state[("limit",)] >= state[("size",)]
        text = "\n".join(exposition.POOL.render(exposition.pool_state(engine)))
        assert 'learnloop_db_pool_connections{state="checked_out"} 0' in text
    finally:
        await engine.dispose()


async def test_metrics_show_a_workers_ticks_and_push_outcomes(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    service = PushService()
    await service.start()
    try:
        sam = world.a.users["employee"]
        phone = service.device()
        async with signed_in_client(app, sam.email) as client:
            subscribed = await client.post(
                "/api/v1/me/push-subscriptions", json=phone.subscription_json()
            )
            assert subscribed.status_code == 201
        ticks = metrics.TICKS.value(("ok",))
        ticked = metrics.TICK_SECONDS.count
        delivered = metrics.PUSH_OUTCOMES.value(("delivered",))
        sent = metrics.PUSH_OUTCOMES.value(("nudge_sent",))
        await queue_nudge(ctx, sam)
        worker = PushWorker(ctx, senders=1)
        task = asyncio.create_task(worker.run())
        for _ in range(200):
            if (
                metrics.TICKS.value(("ok",)) > ticks
                and metrics.PUSH_OUTCOMES.value(("nudge_sent",)) > sent
            ):
                break
            await asyncio.sleep(0.05)
        worker.stop.set()
        await asyncio.wait_for(task, 15)
        assert len(service.messages(phone)) == 1
    finally:
        await service.stop()
    assert metrics.TICKS.value(("ok",)) == ticks + 1
    assert metrics.TICK_SECONDS.count == ticked + 1
    assert metrics.PUSH_OUTCOMES.value(("delivered",)) == delivered + 1
    assert metrics.PUSH_OUTCOMES.value(("nudge_sent",)) == sent + 1
    async with AsyncTestClient(app=app) as client:
        values = await scrape(client)
    assert values["learnloop_nudge_tick_seconds_count"] == ticked + 1
    assert values['learnloop_push_total{outcome="delivered"}'] == delivered + 1


async def test_a_worker_serves_its_own_metrics_with_the_same_token(ctx: AppContext) -> None:
    from backend.ops import metrics_server

    server = await metrics_server.start(ctx.engine, TOKEN, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def get(path: str, headers: str = "") -> tuple[str, str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: worker\r\n{headers}\r\n".encode())
        await writer.drain()
        answer = (await reader.read()).decode()
        writer.close()
        head, _, body = answer.partition("\r\n\r\n")
        return head.splitlines()[0], body

    try:
        assert (await get("/metrics"))[0] == "HTTP/1.1 401 Unauthorized"
        assert (await get("/metrics", "Authorization: Bearer wrong\r\n"))[0].endswith(
            "401 Unauthorized"
        )
        assert (await get("/other", f"Authorization: Bearer {TOKEN}\r\n"))[0].endswith(
            "404 Not Found"
        )
        status, body = await get("/metrics", f"Authorization: Bearer {TOKEN}\r\n")
        assert status == "HTTP/1.1 200 OK"
        assert "# TYPE learnloop_nudge_tick_seconds histogram" in body
        assert "learnloop_outbox_due 0" in body
    finally:
        server.close()
        await server.wait_closed()
