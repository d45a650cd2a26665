"""Two ``learnloop worker`` processes on one database share the outbox: nothing twice, nothing lost.

The workers are real processes (``python -m backend.cli worker``); the push service runs in
the test and keeps every request, so the test counts deliveries per (nudge, device) by
decrypting each message with that device's keys.
"""

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, insert, select, text

from backend.context import AppContext
from backend.db.engine import make_engine
from backend.db.models import Nudge, Organisation, PushDelivery, PushSubscription, User
from backend.push.keys import load_vapid_key, write_new_key
from backend.push.sender import PushSender
from backend.push.vapid import VapidHeaderCache
from tests.push.conftest import deliver_due
from tests.push.push_service import FakeDevice, PushService

pytestmark = pytest.mark.slow  # real worker processes, thousands of nudges

ROOT = Path(__file__).resolve().parents[2]
NUDGES = 5000
USERS = 1000
TWO_DEVICE_USERS = 200  # so "exactly once" is per device, not per nudge
BATCH = 50
SENDERS = 4
LEASE_SECONDS = 8


@pytest.fixture
async def count_only_service() -> AsyncIterator[PushService]:
    service = PushService(count_only=True)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def queue(ctx: AppContext, service: PushService) -> dict[str, FakeDevice]:
    """USERS learners (some with two devices) and NUDGES due nudges; returns devices by token."""
    devices: dict[str, FakeDevice] = {}
    now = datetime.now(UTC)
    async with ctx.sessionmaker() as session:
        org = Organisation(name="Outbox BV", slug=f"outbox-{secrets.token_hex(4)}")
        session.add(org)
        await session.flush()
        org_id = org.id
        users = [
            User(
                organisation_id=org_id,
                email=f"learner{i}@outbox.example",
                display_name=f"Learner {i}",
                roles=["employee"],
            )
            for i in range(USERS)
        ]
        session.add_all(users)
        await session.commit()
        user_ids = [u.id for u in users]
    async with ctx.engine.begin() as conn:
        subscriptions = []
        for index, user_id in enumerate(user_ids):
            for _ in range(2 if index < TWO_DEVICE_USERS else 1):
                device = service.device()
                devices[device.token] = device
                body = device.subscription_json()
                subscriptions.append(
                    {
                        "organisation_id": org_id,
                        "user_id": user_id,
                        "endpoint": body["endpoint"],
                        "p256dh": body["keys"]["p256dh"],
                        "auth": body["keys"]["auth"],
                        "user_agent_label": "",
                        "failure_count": 0,
                        "created_at": now,
                    }
                )
        await conn.execute(insert(PushSubscription.__table__), subscriptions)  # type: ignore[attr-defined]
        nudges = [
            {
                "id": secrets.token_hex(16),
                "organisation_id": org_id,
                "user_id": user_ids[i % USERS],
                "kind": "daily_reminder",
                "variant": "",
                "dedupe_key": f"load:{i}",
                "locale": "nl",
                "title": "Tijd om te leren",
                "body": f"Bericht {i}",
                "url": "/log",
                "status": "pending",
                "due_at": now - timedelta(seconds=1),
                "attempts": 0,
                "last_error": "",
                "created_at": now,
            }
            for i in range(NUDGES)
        ]
        await conn.execute(insert(Nudge.__table__), nudges)  # type: ignore[attr-defined]
    return devices


def start_worker(ctx: AppContext, key_file: Path, home: Path) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LEARNLOOP_ENV": "test",
        "LEARNLOOP_DATABASE_URL": ctx.settings.database_url,
        "LEARNLOOP_SECRET_KEY": ctx.settings.secret_key,
        "LEARNLOOP_VAPID_PRIVATE_KEY_FILE": str(key_file),
        "LEARNLOOP_VAPID_SUBJECT": "mailto:ops@outbox.example",
        "LEARNLOOP_PUSH_BATCH_SIZE": str(BATCH),
        "LEARNLOOP_PUSH_SENDERS": str(SENDERS),
        "LEARNLOOP_PUSH_LEASE_SECONDS": str(LEASE_SECONDS),
        "LEARNLOOP_PUSH_TIMEOUT_SECONDS": "2",
        "LEARNLOOP_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "worker", "--no-scheduler"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def wait_until_done(ctx: AppContext, deadline: float) -> None:
    while time.monotonic() < deadline:
        async with ctx.engine.connect() as conn:
            pending = (
                await conn.execute(
                    select(func.count()).where(Nudge.__table__.c.status == "pending")  # type: ignore[attr-defined]
                )
            ).scalar_one()
        if pending == 0:
            return
        await asyncio.sleep(0.25)
    pytest.fail(f"{pending} nudges still pending when time ran out")


async def delivered_pairs(
    service: PushService, devices: dict[str, FakeDevice]
) -> Counter[tuple[str, str]]:
    """(nudge id, endpoint) of every message the push service got, decrypted with the device's keys."""
    return Counter(
        (devices[r.token].decrypt(r.body)["nudge_id"], devices[r.token].endpoint)
        for r in service.received
    )


async def expected_pairs(ctx: AppContext) -> set[tuple[str, str]]:
    n, s = Nudge.__table__, PushSubscription.__table__  # type: ignore[attr-defined]
    async with ctx.engine.connect() as conn:
        rows = await conn.execute(select(n.c.id, s.c.endpoint).join(s, s.c.user_id == n.c.user_id))
        return {(nudge_id, endpoint) for nudge_id, endpoint in rows}


async def recorded(ctx: AppContext) -> tuple[int, Counter[str]]:
    d, n = PushDelivery.__table__, Nudge.__table__  # type: ignore[attr-defined]
    async with ctx.engine.connect() as conn:
        deliveries = (await conn.execute(select(func.count()).select_from(d))).scalar_one()
        statuses = Counter(
            dict((await conn.execute(select(n.c.status, func.count()).group_by(n.c.status))).all())
        )
    return deliveries, statuses


def stop(worker: subprocess.Popen[bytes]) -> tuple[int, str]:
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=30)
    return worker.returncode, err.decode()


async def test_two_worker_processes_deliver_5000_nudges_exactly_once_per_device(
    ctx: AppContext, count_only_service: PushService, tmp_path: Path
) -> None:
    devices = await queue(ctx, count_only_service)
    key_file = tmp_path / "vapid.pem"
    write_new_key(key_file)
    workers = [start_worker(ctx, key_file, tmp_path) for _ in range(2)]
    try:
        await wait_until_done(ctx, time.monotonic() + 180)
    finally:
        results = [stop(w) for w in workers]
    assert [code for code, _ in results] == [0, 0], [err[-2000:] for _, err in results]

    want = await expected_pairs(ctx)
    assert len(want) == NUDGES + TWO_DEVICE_USERS * NUDGES // USERS
    got = await delivered_pairs(count_only_service, devices)
    assert set(got) == want, "every nudge reached every device of its learner"
    assert max(got.values()) == 1, f"sent twice: {[p for p, c in got.items() if c > 1][:5]}"
    deliveries, statuses = await recorded(ctx)
    assert deliveries == len(want) and statuses == Counter({"sent": NUDGES})


async def test_a_killed_worker_loses_nothing_and_its_claims_are_taken_over(
    ctx: AppContext, count_only_service: PushService, tmp_path: Path
) -> None:
    devices = await queue(ctx, count_only_service)
    key_file = tmp_path / "vapid.pem"
    write_new_key(key_file)
    workers = [start_worker(ctx, key_file, tmp_path) for _ in range(2)]
    try:
        deadline = time.monotonic() + 120
        while count_only_service.count < 1500 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        workers[0].kill()  # SIGKILL: no cleanup, its claimed rows stay claimed until the lease ends
        workers[0].wait(timeout=10)
        killed_at = count_only_service.count
        assert killed_at < NUDGES, "the kill came after all the work was done"
        await wait_until_done(ctx, time.monotonic() + 180)
    finally:
        code, err = stop(workers[1])
        if workers[0].poll() is None:
            workers[0].kill()
    assert code == 0, err[-2000:]

    want = await expected_pairs(ctx)
    got = await delivered_pairs(count_only_service, devices)
    assert set(got) == want, "nothing was lost: the dead worker's claims were taken over"
    deliveries, statuses = await recorded(ctx)
    assert deliveries == len(want), "one delivery record per (nudge, device)"
    assert statuses == Counter({"sent": NUDGES})
    twice = [pair for pair, count in got.items() if count > 1]
    # Exactly once per device holds for everything but the messages the killed worker had
    # handed to the push service and not yet recorded (no push service can be asked "did you
    # get this?"): those go out a second time, with the same Topic and notification tag, so
    # the device replaces the first rather than showing two. At most what it had claimed.
    assert max(got.values()) <= 2
    assert len(twice) <= SENDERS * BATCH * 2, len(twice)
    print(f"\nkilled after {killed_at} messages; sent again after the kill: {len(twice)}")


async def test_delivery_goes_on_after_the_database_dropped_the_workers_connections(
    ctx: AppContext, count_only_service: PushService
) -> None:
    """A pooled connection the server closed (restart, failover) is replaced, not reused."""
    device = count_only_service.device()
    keys = device.subscription_json()["keys"]
    async with ctx.sessionmaker() as session:
        org = Organisation(name="Failover BV", slug=f"failover-{secrets.token_hex(4)}")
        session.add(org)
        await session.flush()
        user = User(organisation_id=org.id, email="l@failover.example", display_name="L", roles=[])
        session.add(user)
        await session.flush()
        session.add(
            PushSubscription(
                organisation_id=org.id,
                user_id=user.id,
                endpoint=device.endpoint,
                p256dh=keys["p256dh"],
                auth=keys["auth"],
            )
        )
        await session.commit()
        org_id, user_id = org.id, user.id

    async def queue_one(n: int) -> None:
        async with ctx.sessionmaker() as session:
            session.add(
                Nudge(
                    id=secrets.token_hex(16),
                    organisation_id=org_id,
                    user_id=user_id,
                    kind="daily_reminder",
                    dedupe_key=f"failover:{n}",
                    title="Tijd om te leren",
                    body=f"Bericht {n}",
                    due_at=datetime.now(UTC) - timedelta(seconds=1),
                )
            )
            await session.commit()

    engine = make_engine(ctx.settings.database_url)  # pooled, as a worker's is
    vapid = VapidHeaderCache(load_vapid_key(ctx.settings))
    try:
        async with PushSender(vapid, timeout=2) as sender:
            await queue_one(1)
            await deliver_due(engine, sender, datetime.now(UTC))
            assert count_only_service.count == 1
            async with ctx.engine.connect() as conn:
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            await queue_one(2)
            # as a worker's sender loop does: a pass that meets a dead connection fails (only
            # with a connection error), the next one takes a new connection
            for _ in range(3):
                with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError):
                    await deliver_due(engine, sender, datetime.now(UTC))
                if count_only_service.count == 2:
                    break
    finally:
        await engine.dispose()
    bodies = [device.decrypt(r.body)["body"] for r in count_only_service.received]
    assert bodies == ["Bericht 1", "Bericht 2"]  # the second nudge went out, once
    deliveries, statuses = await recorded(ctx)
    assert deliveries == 2 and statuses == Counter({"sent": 2})
