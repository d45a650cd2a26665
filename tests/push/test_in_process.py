"""``learnloop serve`` on the embedded database: the app itself runs the push worker, so the
demo needs one command."""

import asyncio
import dataclasses
import threading

import uvicorn
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.app import create_app
from backend.context import AppContext
from backend.db.models import Nudge
from backend.settings import Settings
from tests.factories import World, signed_in_client
from tests.push.conftest import queue_nudge
from tests.push.push_service import PushService


async def test_the_app_delivers_queued_nudges_itself_when_push_runs_in_process(
    settings: Settings, world: World, push_service: PushService
) -> None:
    """The app served by uvicorn as ``learnloop serve`` does, with ``push_in_process``."""
    in_process = dataclasses.replace(settings, push_in_process=True)
    ctx = AppContext.from_settings(in_process, null_pool=True)
    server = uvicorn.Server(
        uvicorn.Config(create_app(context=ctx), port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.025)
        sam = world.a.users["employee"]
        phone = push_service.device()
        # subscribing through an app without its own worker (so only the served one delivers)
        plain = AppContext.from_settings(settings, null_pool=True)
        async with signed_in_client(create_app(context=plain), sam.email) as client:
            response = await client.post(
                "/api/v1/me/push-subscriptions", json=phone.subscription_json()
            )
            assert response.status_code == 201
        await plain.engine.dispose()
        nudge_id = await queue_nudge(ctx, sam, title="Goedemorgen", body="Tijd voor 5 minuten")
        for _ in range(200):
            if push_service.received:
                break
            await asyncio.sleep(0.05)
        (message,) = push_service.messages(phone)
        assert (message["nudge_id"], message["title"]) == (nudge_id, "Goedemorgen")
        for _ in range(100):
            async with ctx.sessionmaker() as session:
                row = (await session.exec(select(Nudge).where(Nudge.id == nudge_id))).one()
            if row.status != "pending":
                break
            await asyncio.sleep(0.05)
        assert row.status == "sent"
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 15)
        await ctx.engine.dispose()
    assert not thread.is_alive(), "the app (and its push worker) stopped on shutdown"


async def test_apps_made_for_tests_run_no_background_worker(
    app: object, ctx: AppContext, world: World, push_service: PushService
) -> None:
    nudge_id = await queue_nudge(ctx, world.a.users["employee"])
    async with AsyncTestClient(app=app):  # type: ignore[arg-type]
        await asyncio.sleep(1.5)
    async with ctx.sessionmaker() as session:
        row = (await session.exec(select(Nudge).where(Nudge.id == nudge_id))).one()
    assert row.status == "pending" and push_service.requests.total() == 0
