"""The push worker: N concurrent sender loops and the nudge scheduler tick, until told to stop.

``learnloop worker`` runs one per process (any number of processes); on the embedded database
``learnloop serve`` runs one inside the app (``push_in_process``).
Stopping is graceful: the loops finish and record the batch in hand, claim nothing new, and
hand back claims they had not started sending.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from backend.context import AppContext
from backend.db.types import utcnow
from backend.insights import snapshots
from backend.log_config import REQUEST_ID, new_request_id
from backend.nudges.scheduler import run_tick
from backend.ops import metrics
from backend.push import outbox
from backend.push.delivery import DeliveryLog, deliver
from backend.push.keys import PushNotConfigured, load_vapid_key
from backend.push.model import DeliveryReport
from backend.push.sender import PushSender, SendLanes
from backend.push.vapid import VapidHeaderCache

log = logging.getLogger("learnloop.push")

TICK_SECONDS = 60.0
IDLE_POLL_SECONDS = 1.0


class PushWorker:
    def __init__(
        self,
        ctx: AppContext,
        *,
        senders: int | None = None,
        run_scheduler: bool = True,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.senders = senders or settings.push_senders
        self.run_scheduler = run_scheduler
        self.clock = clock
        self.batch_size = settings.push_batch_size
        self.max_attempts = settings.push_max_attempts
        self.timeout = settings.push_timeout_seconds
        # a claim outlives a batch's slowest send by far, so it only expires when a worker died
        self.lease_seconds = settings.push_lease_seconds or max(60.0, 3 * self.timeout + 30.0)
        self.stop = asyncio.Event()
        self._work = asyncio.Event()
        self.report = DeliveryReport()
        self.concurrency = settings.push_concurrency

    async def run(self) -> DeliveryReport:
        """Run until :attr:`stop` is set; returns what was delivered."""
        tasks: list[asyncio.Task[Any]] = []
        if self.run_scheduler:
            tasks.append(asyncio.create_task(self._scheduler_loop(), name="nudge-scheduler"))
            tasks.append(asyncio.create_task(self._insights_loop(), name="insights-refresh"))
        try:
            key = load_vapid_key(self.ctx.settings)
        except PushNotConfigured as exc:
            log.warning("push delivery is off: %s", exc)
            key = None
        try:
            if key is None:
                await self.stop.wait()
            else:
                vapid = VapidHeaderCache(key)
                async with (
                    PushSender(
                        vapid, timeout=self.timeout, connections_per_host=self.concurrency
                    ) as sender,
                    SendLanes(sender, self.concurrency) as lanes,
                ):
                    delivery_log = DeliveryLog(self.ctx.engine)
                    senders = [
                        asyncio.create_task(
                            self._sender_loop(lanes, delivery_log), name=f"push-sender-{i}"
                        )
                        for i in range(self.senders)
                    ]
                    try:
                        await asyncio.gather(*senders)
                    finally:
                        await asyncio.shield(delivery_log.close())
        finally:
            self.stop.set()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        return self.report

    async def _sender_loop(self, lanes: SendLanes, delivery_log: DeliveryLog) -> None:
        while not self.stop.is_set():
            batch_id = REQUEST_ID.set(new_request_id("push-"))  # its log lines name the batch
            try:
                handled = await self._one_batch(lanes, delivery_log)
            except Exception:  # the database or a bug: log, breathe, go on
                log.exception("push batch failed; its claims expire and are retried")
                metrics.PUSH_BATCHES.inc(("failed",))
                handled = 0
            finally:
                REQUEST_ID.reset(batch_id)
            if handled == 0:
                await self._idle()

    async def _idle(self) -> None:
        """Wait for the next poll, until stopped, or until another loop found a full batch."""
        waits = [asyncio.ensure_future(self.stop.wait()), asyncio.ensure_future(self._work.wait())]
        await asyncio.wait(waits, timeout=IDLE_POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        for waiting in waits:
            waiting.cancel()

    async def _one_batch(self, lanes: SendLanes, delivery_log: DeliveryLog) -> int:
        engine = self.ctx.engine
        batch = await outbox.claim(
            engine, self.clock(), limit=self.batch_size, lease_seconds=self.lease_seconds
        )
        if not batch.nudges:
            return 0
        if len(batch.nudges) == self.batch_size:
            # more is probably due (a tick just queued a burst): wake the idle loops now
            self._work.set()
            self._work.clear()
        report = await deliver(
            engine, lanes, delivery_log, batch, max_attempts=self.max_attempts, clock=self.clock
        )
        self.report.add(report)
        metrics.count_push(report)
        return len(batch.nudges)

    async def _scheduler_loop(self) -> None:
        while not self.stop.is_set():
            tick_id = REQUEST_ID.set(new_request_id("tick-"))  # its log lines name the tick
            started = time.perf_counter()
            try:
                created = await run_tick(self.ctx, self.clock())
                if created:
                    log.info("scheduler tick queued %d nudges", created)
                metrics.TICKS.inc(("ok",))
                metrics.NUDGES_QUEUED.inc((), created)
            except Exception:
                log.exception("scheduler tick failed; trying again next minute")
                metrics.TICKS.inc(("failed",))
            finally:
                metrics.TICK_SECONDS.observe(time.perf_counter() - started)
                REQUEST_ID.reset(tick_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), TICK_SECONDS)

    async def _insights_loop(self) -> None:
        """Keep large organisations' organisation-wide insights (backend/insights/snapshots.py)."""
        while not self.stop.is_set():
            try:
                kept = await snapshots.refresh_due(self.ctx.sessionmaker, self.clock())
                if kept:
                    log.info("kept %d organisation-wide insights", kept)
            except Exception:
                log.exception("insights refresh failed; trying again next minute")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), TICK_SECONDS)


class InProcessWorker:
    """Startup/shutdown hooks that run a :class:`PushWorker` inside the web app."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.worker: PushWorker | None = None
        self.task: asyncio.Task[DeliveryReport] | None = None

    async def start(self) -> None:
        self.worker = PushWorker(self.ctx)
        self.task = asyncio.create_task(self.worker.run(), name="push-worker")

    async def stop(self) -> None:
        if self.worker is None or self.task is None:
            return
        self.worker.stop.set()
        try:
            await asyncio.wait_for(self.task, self.worker.timeout + 5)
        except (TimeoutError, asyncio.CancelledError):
            log.warning("push worker did not stop in time; its claims will expire")
        except Exception:
            log.exception("push worker failed")
