"""Deliver a claimed batch: send each nudge to every device of its learner, judge, record.

A worker's sender loop claims a batch (:func:`backend.push.outbox.claim`: due ``pending``
rows whose claim is free or expired get ``claimed_until = now + lease`` under ``FOR UPDATE
SKIP LOCKED``, so any number of workers take disjoint rows; the learners' devices and the
deliveries already recorded come in the same statement), then :func:`deliver`:

1. **send** concurrently, skipping every (nudge, device) pair that ``push_delivery`` already
   holds: that unique pair is the dedupe key, checked before any retry. Each success is
   written to ``push_delivery`` within milliseconds (:class:`DeliveryLog`), not at batch end.
2. **judge** (:func:`judge`, no I/O): each nudge ``sent`` / ``skipped`` / ``dead``, or back to
   ``pending`` with a later ``due_at`` (429: Retry-After; 5xx/timeout: exponential backoff
   with jitter, ``dead`` with the reason after ``max_attempts``); devices gone (404/410).
3. **record** (:func:`backend.push.outbox.record`, one transaction): the deliveries not
   written yet, devices gone removed, device success/failure counters, each nudge's verdict.

A worker that dies between claim and record loses nothing: its claim expires and another
worker sends again. Messages it had already handed to a push service but not yet recorded are
the only ones that can reach a device twice; their Topic header (the push service keeps only
the newest undelivered message of a topic) and the notification tag (the device replaces a
shown notification of the same tag) keep that invisible. The window is a response's way
through the event loop plus the early record's commit: killing one of two busy workers
re-sends 50-130 of 6,000 messages (tests/push/test_workers_postgres.py).
"""

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.push import outbox
from backend.push.model import Batch, ClaimedNudge, DeliveryReport, Outcomes, Verdict
from backend.push.payload import payload_json
from backend.push.sender import Device, Outcome, SendJob, SendLanes, SendResult

log = logging.getLogger("learnloop.push")

BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with equal jitter: 30 s, 60 s, 120 s ... at most an hour."""
    delay: float = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** max(0, attempt - 1))
    return delay / 2 + random.uniform(0.0, delay / 2)


class DeliveryLog:
    """Writes ``push_delivery`` rows within ``interval`` seconds of the push service's 2xx.

    The batch's record writes the ones not written yet (duplicates are ignored); recording
    early shrinks the window in which a worker that dies has sent a message it has not
    recorded (which another worker would then send again) from a whole batch to
    ``interval``. One per worker process, shared by its sender loops; it remembers what it
    wrote only for batches not yet recorded.
    """

    def __init__(self, engine: AsyncEngine, interval: float = 0.05) -> None:
        self.engine = engine
        self.interval = interval
        self._rows: list[outbox.DeliveryRow] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # nudge id -> devices whose delivery is committed, for nudges whose batch is in hand
        self._written: dict[str, set[int]] = {}

    def add(self, nudge: ClaimedNudge, device: Device, status: int) -> None:
        nudge_id = nudge.message.nudge_id
        self._written.setdefault(nudge_id, set())
        self._rows.append(
            (nudge.organisation_id, nudge_id, device.subscription_id, status, datetime.now(UTC))
        )
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="push-delivery-log")

    def written(self, batch: Batch) -> set[tuple[str, int]]:
        """The (nudge id, subscription id) pairs of this batch already in ``push_delivery``."""
        return {
            (n.message.nudge_id, device)
            for n in batch.nudges
            for device in self._written.get(n.message.nudge_id, ())
        }

    def forget(self, batch: Batch) -> None:
        """The batch is recorded: a write of its rows still in flight is remembered no more."""
        for nudge in batch.nudges:
            self._written.pop(nudge.message.nudge_id, None)

    async def _run(self) -> None:
        while not self._closing or self._rows:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.interval)  # gather what completes meanwhile
            await self.flush()

    async def flush(self) -> None:
        rows, self._rows = self._rows, []
        if not rows:
            return
        try:
            await outbox.insert_deliveries(self.engine, rows)
        except (DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            # a device or nudge deleted meanwhile, a deadlock, a lost connection: the batch's
            # record sorts it out
            log.debug("early delivery record failed (%s); recorded with the batch", exc)
            return
        for _, nudge_id, device, _, _ in rows:
            written = self._written.get(nudge_id)
            if written is not None:  # None: its batch was recorded meanwhile
                written.add(device)

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()


async def send_batch(
    lanes: SendLanes, batch: Batch, delivery_log: DeliveryLog
) -> list[tuple[ClaimedNudge, Device, SendResult]]:
    """Send every (nudge, device) pair of the batch not delivered before, on ``lanes``."""
    pairs: list[tuple[ClaimedNudge, Device]] = []
    jobs: list[SendJob] = []
    for nudge in batch.nudges:
        payload = payload_json(nudge.message)
        for device in batch.devices.get(nudge.user_id, []):
            if (nudge.message.nudge_id, device.subscription_id) in batch.delivered:
                continue  # the dedupe key: this device has it already
            pairs.append((nudge, device))
            jobs.append((device, nudge.message.kind, payload))

    def delivered(index: int, result: SendResult) -> None:
        if result.outcome is Outcome.DELIVERED:
            nudge, device = pairs[index]
            delivery_log.add(nudge, device, result.status)

    results = await lanes.send_all(jobs, delivered)
    return [(n, d, r) for (n, d), r in zip(pairs, results, strict=True)]


def judge(
    batch: Batch,
    results: Iterable[tuple[ClaimedNudge, Device, SendResult]],
    now: datetime,
    *,
    max_attempts: int,
) -> Outcomes:
    """Decide each nudge's next state from its devices' answers (pure: no I/O)."""
    out = Outcomes()
    by_nudge: dict[str, list[tuple[Device, SendResult]]] = defaultdict(list)
    for nudge, device, result in results:
        by_nudge[nudge.message.nudge_id].append((device, result))
        if result.outcome is Outcome.DELIVERED:
            out.delivered.append((nudge, device, result.status))
        elif result.outcome is Outcome.GONE:
            out.gone.add(device.subscription_id)
        else:
            out.failed_devices.add(device.subscription_id)
    for nudge in batch.nudges:
        nid = nudge.message.nudge_id
        answers = by_nudge.get(nid, [])
        devices = batch.devices.get(nudge.user_id, [])
        ever_delivered = any((nid, d.subscription_id) in batch.delivered for d in devices) or any(
            r.outcome is Outcome.DELIVERED for _, r in answers
        )
        limited = [r for _, r in answers if r.outcome is Outcome.RATE_LIMITED]
        retry = [r for _, r in answers if r.outcome is Outcome.RETRY]
        rejected = [r for _, r in answers if r.outcome is Outcome.REJECTED]
        verdict = Verdict(attempts=nudge.attempts)
        if not devices:
            verdict.status, verdict.error = "skipped", "no device subscribed to push"
        elif limited or retry:
            attempts = nudge.attempts + (1 if retry else 0)  # waiting out a 429 is no failure
            reason = (retry or limited)[-1].error
            if retry and attempts >= max_attempts:
                verdict.status = "sent" if ever_delivered else "dead"
                verdict.error = f"gave up after {attempts} attempts: {reason}"
            else:
                wait = max(
                    [r.retry_after for r in limited]
                    + ([backoff_seconds(attempts)] if retry else [0.0])
                )
                verdict.due_at = now + timedelta(seconds=wait)
                verdict.error = reason
            verdict.attempts = attempts
        elif ever_delivered:
            verdict.status = "sent"
            if rejected:
                verdict.error = rejected[-1].error
        elif rejected:
            verdict.status, verdict.error = "dead", rejected[-1].error
        else:  # every device answered 404/410
            verdict.status, verdict.error = "skipped", "every device had unsubscribed"
        out.verdicts[nid] = verdict
    return out


def tally(out: Outcomes) -> DeliveryReport:
    statuses = [v.status for v in out.verdicts.values()]
    return DeliveryReport(
        sent=len(out.delivered),
        nudges_sent=statuses.count("sent"),
        retried=statuses.count("pending"),
        dead=statuses.count("dead"),
        gone=len(out.gone),
    )


async def deliver(
    engine: AsyncEngine,
    lanes: SendLanes,
    delivery_log: DeliveryLog,
    batch: Batch,
    *,
    max_attempts: int,
    clock: Callable[[], datetime],
) -> DeliveryReport:
    """Send a claimed batch, judge the answers at ``clock()`` and record the outcomes."""
    try:
        try:
            results = await send_batch(lanes, batch, delivery_log)
        except asyncio.CancelledError:
            # stopped hard before the batch was sent: let other workers take it right away
            nudge_ids = [n.message.nudge_id for n in batch.nudges]
            await asyncio.shield(outbox.release(engine, nudge_ids))
            raise
        now = clock()
        outcomes = judge(batch, results, now, max_attempts=max_attempts)
        written = delivery_log.written(batch)
        await asyncio.shield(outbox.record(engine, batch, outcomes, now, written))
    finally:
        delivery_log.forget(batch)
    return tally(outcomes)
