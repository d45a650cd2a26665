"""The scale-out harness's faults, one phase each, each ending in a PASS/FAIL line with what was
sent, what is stored, what was lost and what was doubled (benchmarks/scale_out.py).

- ``worker``: a push worker SIGKILLed mid-batch;
- ``scheduler``: the scheduler SIGKILLed mid-tick;
- ``app``: an app process SIGKILLed while LMS batches are in flight;
- ``primary``: the primary stopped and started again under load;
- ``replica``: the replica stopped (reads go on from the primary);
- ``burst``: a burst of LMS batches at one app, more than its pool serves in time.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from _scale_load import OPERATIONS, Lms, Outcome, Target, client, closed_loop
from _scale_stack import Cluster, Stack
from push_fanout import service_count

from backend.nudges.scheduler import BATCH_SIZE

FAULTS = ("worker", "scheduler", "app", "primary", "replica", "burst")
HANG_SECONDS = 35.0  # the pool's 5 s wait + the 30 s statement timeout: a bound, not a hang


@dataclass
class Verdict:
    fault: str
    ok: bool
    sent: int
    stored: int
    lost: int
    doubled: int
    note: str = ""
    words: tuple[str, str] = ("sent", "stored")

    def line(self) -> str:
        head = "PASS" if self.ok else "FAIL"
        return (
            f"{head}  {self.fault}: {self.words[0]} {self.sent:,} / {self.words[1]} "
            f"{self.stored:,} / lost {self.lost:,} / doubled {self.doubled:,}"
            + (f"  ({self.note})" if self.note else "")
        )


@dataclass
class Env:
    """What the fault phases act on."""

    cluster: Cluster
    stack: Stack
    target: Target
    device_users: list[int]
    origin: str
    cert: Path
    push_senders: int
    push_batch: int
    lease_seconds: float
    due_learners: int

    @property
    def pushed_users(self) -> list[int]:
        """The devices' first half: the calibration's and the faults' queued nudges."""
        return self.device_users[: max(1, len(self.device_users) // 2)]


async def fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def value(dsn: str, sql: str, *args: Any) -> Any:
    return (await fetch(dsn, sql, *args))[0][0]


async def poll(check: Any, seconds: float, step: float = 0.25) -> bool:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if await check():
            return True
        await asyncio.sleep(step)
    return False


# --- statements ---------------------------------------------------------------------------------


async def statement_counts(dsn: str, ids: list[str]) -> tuple[int, int, int, int]:
    """(ids stored in xapi_statement, doubled there, ids with a learning_event, doubled there)."""
    rows = await fetch(
        dsn,
        "SELECT statement_id::text AS id, count(*) AS n FROM xapi_statement"
        " WHERE organisation_id = 1 AND statement_id = ANY($1::uuid[]) GROUP BY 1",
        ids,
    )
    events = await fetch(
        dsn,
        "SELECT idempotency_key AS id, count(*) AS n FROM learning_event"
        " WHERE organisation_id = 1 AND idempotency_key = ANY($1::text[]) GROUP BY 1",
        [f"xapi:{i}" for i in ids],
    )
    return (
        len(rows),
        sum(r["n"] - 1 for r in rows),
        len(events),
        sum(r["n"] - 1 for r in events),
    )


async def statements_verdict(fault: str, dsn: str, lms: Lms, note: str, ok: bool) -> Verdict:
    ids = lms.ids
    stored, doubled, events, events_doubled = await statement_counts(dsn, ids)
    lost = len(ids) - min(stored, events)
    doubled_all = doubled + events_doubled
    unsent = sum(len(b) for b in lms.unsent)
    note = f"{note}; xapi_statement {stored:,}, learning_event {events:,}" + (
        f"; {unsent} never got a 200 before the deadline" if unsent else ""
    )
    return Verdict(
        fault,
        ok and lost == 0 and doubled_all == 0,
        len(ids),
        min(stored, events),
        lost,
        doubled_all,
        note,
    )


# --- nudges -------------------------------------------------------------------------------------


async def queue_nudges(dsn: str, users: list[int], tag: str, count: int) -> None:
    """``count`` due nudges over ``users`` (round robin), as the scheduler writes them."""
    now = datetime.now(UTC)
    rows = [
        (
            secrets.token_hex(16), 1, users[n % len(users)], "daily_reminder", "",
            f"{tag}:{n}", "nl", "Tijd om te leren", f"Bericht {n}", "/log", "pending",
            now - timedelta(seconds=1), 0, "", now,
        )
        for n in range(count)
    ]  # fmt: skip
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.copy_records_to_table(
            "nudge",
            records=rows,
            columns=(
                "id", "organisation_id", "user_id", "kind", "variant", "dedupe_key", "locale",
                "title", "body", "url", "status", "due_at", "attempts", "last_error",
                "created_at",
            ),
        )  # fmt: skip
    finally:
        await conn.close()


NUDGES_OF_TAG = "n.dedupe_key LIKE $1 || ':%'"


async def pending_of(dsn: str, where: str, *args: Any) -> int:
    return int(
        await value(
            dsn, f"SELECT count(*) FROM nudge n WHERE {where} AND status = 'pending'", *args
        )
    )


async def push_pairs(dsn: str, where: str, *args: Any) -> tuple[int, int, int, Counter[str]]:
    """(expected (nudge, device) pairs, delivery rows, distinct delivered pairs, statuses)."""
    expected = await value(
        dsn,
        f"SELECT count(*) FROM nudge n JOIN push_subscription s ON s.user_id = n.user_id"
        f" WHERE {where}",
        *args,
    )
    rows, distinct = (
        await fetch(
            dsn,
            f"SELECT count(*), count(DISTINCT (d.nudge_id, d.subscription_id)) FROM push_delivery d"
            f" JOIN nudge n ON n.id = d.nudge_id WHERE {where}",
            *args,
        )
    )[0]
    statuses = Counter(
        {
            r[0]: r[1]
            for r in await fetch(
                dsn, f"SELECT status, count(*) FROM nudge n WHERE {where} GROUP BY 1", *args
            )
        }
    )
    return int(expected), int(rows), int(distinct), statuses


async def deliveries_total(dsn: str) -> int:
    return int(await value(dsn, "SELECT count(*) FROM push_delivery"))


async def fault_worker(e: Env) -> Verdict:
    """Queue nudges for the devices, SIGKILL one push worker a third of the way through,
    start a new one; every (nudge, device) delivered and recorded once; what the dead worker
    had handed to the push service but not recorded goes out again (at least once)."""
    dsn = e.cluster.dsn()
    tag = f"fault-worker-{secrets.token_hex(3)}"
    count = max(3000, 2 * len(e.pushed_users))
    deliveries_before = await deliveries_total(dsn)
    received_before = service_count(e.origin, e.cert)
    await queue_nudges(dsn, e.pushed_users, tag, count)
    victim = e.stack.workers[0]

    async def a_third() -> bool:
        return service_count(e.origin, e.cert) - received_before >= count // 3

    reached = await poll(a_third, 180, 0.02)
    await asyncio.to_thread(victim.kill)
    killed_at = service_count(e.origin, e.cert) - received_before
    await asyncio.to_thread(victim.start)  # a new worker, as a supervisor would start one
    done = await poll(lambda: _none_pending(dsn, NUDGES_OF_TAG, tag), e.lease_seconds + 240, 0.5)
    await asyncio.sleep(1.0)
    expected, rows, distinct, statuses = await push_pairs(dsn, NUDGES_OF_TAG, tag)
    received = service_count(e.origin, e.cert) - received_before
    recorded = await deliveries_total(dsn) - deliveries_before
    resent = received - recorded
    bound = e.push_senders * e.push_batch
    lost = (expected - distinct) + count - statuses.get("sent", 0)
    ok = reached and done and killed_at < count and lost == 0 and rows == distinct
    ok &= 0 <= resent <= bound
    note = (
        f"{count:,} nudges to {len(e.pushed_users):,} devices; killed after {killed_at:,} "
        f"received; statuses {dict(statuses)}; sent again to a device (at least once, allowed "
        f"up to the dead worker's claims, {bound:,}): {resent:,}"
    )
    return Verdict(
        "push worker SIGKILLed mid-batch", ok, expected, distinct, lost, rows - distinct, note
    )


async def _none_pending(dsn: str, where: str, *args: Any) -> bool:
    return await pending_of(dsn, where, *args) == 0


async def fault_scheduler(e: Env) -> Verdict:
    """Make ``due_learners`` learners due, start the scheduler (it ticks at once), SIGKILL it
    once some batches committed, start a new one: every due learner planned once, no nudge
    twice, and the nudges it created delivered."""
    dsn = e.cluster.dsn()
    await asyncio.to_thread(e.stack.scheduler.stop)
    t0 = await value(dsn, "SELECT now()")
    # the devices' second half first: nothing was pushed to them yet (min_gap, caps)
    spare = e.device_users[len(e.device_users) // 2 :]
    users = [
        r[0]
        for r in await fetch(
            dsn,
            "SELECT s.user_id FROM learner_state s JOIN user_account u ON u.id = s.user_id"
            " WHERE u.is_active AND s.last_active_date < (now() AT TIME ZONE u.timezone)::date"
            " ORDER BY s.user_id <> ALL($2::bigint[]), s.user_id LIMIT $1",
            e.due_learners,
            spare,
        )
    ]  # fmt: skip  (who has not learned today: a reminder is due)
    await fetch(
        dsn,
        "UPDATE learner_state SET next_nudge_at = $1::timestamptz - interval '1 second'"
        " WHERE user_id = ANY($2::bigint[])",
        t0,
        users,
    )
    # a reminder time just past, in their timezone: the policy has a nudge to send now (else
    # it plans one for the hour they usually learn, and a tick at night creates none)
    await fetch(
        dsn,
        "UPDATE user_account SET reminder_time = ((now() AT TIME ZONE timezone)"
        " - interval '10 minutes')::time WHERE id = ANY($1::bigint[])",
        users,
    )
    due_sql = "SELECT count(*) FROM learner_state WHERE next_nudge_at <= $1"
    due_at_start = int(await value(dsn, due_sql, t0))
    e.stack.scheduler.start()

    # mid-tick: a fifth of the due learners planned (batches committed), or, with fewer
    # than a few batches' worth, a batch's transaction open (the kill rolls it back)
    open_batch = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        " AND query ILIKE '%next_nudge_at%'"
    )

    async def mid_tick() -> bool:
        if int(await value(dsn, due_sql, t0)) <= due_at_start * 0.8:
            return True
        return due_at_start < 3 * BATCH_SIZE and int(await value(dsn, open_batch)) > 0

    reached = await poll(mid_tick, 240, 0.01)
    await asyncio.to_thread(e.stack.scheduler.kill)
    due_at_kill = int(await value(dsn, due_sql, t0))
    started = time.monotonic()
    e.stack.scheduler.start()
    finished = await poll(lambda: _equals(dsn, due_sql, 0, t0), 600, 0.5)
    tick_seconds = time.monotonic() - started
    still_due = int(await value(dsn, due_sql, t0))
    # (the seeded history has nudges dated later today: its dedupe keys are bench:<n>)
    where = (
        "n.created_at >= $1 AND n.user_id = ANY($2::bigint[]) AND n.dedupe_key NOT LIKE 'bench:%'"
    )
    nudges, pairs, kinds, learners = (
        await fetch(
            dsn,
            f"SELECT count(*), count(DISTINCT (n.user_id, n.dedupe_key)),"
            f" count(DISTINCT (n.user_id, n.kind)), count(DISTINCT n.user_id) FROM nudge n"
            f" WHERE {where}",
            t0,
            users,
        )
    )[0]
    delivered = await poll(lambda: _none_pending(dsn, where, t0, users), 300, 0.5)
    expected, rows, distinct, statuses = await push_pairs(dsn, where, t0, users)
    doubled = (nudges - pairs) + (nudges - kinds) + (rows - distinct)
    lost = still_due + (expected - distinct)
    ok = reached and due_at_kill > 0 and finished and delivered
    ok &= lost == 0 and doubled == 0
    note = (
        f"{due_at_start:,} due; killed with {due_at_kill:,} still due (its uncommitted batch "
        f"rolled back); the new scheduler planned the rest in {tick_seconds:.0f}s; "
        f"{nudges:,} nudges for {learners:,} learners; pushes: {distinct:,} of {expected:,} "
        f"(nudge, device) pairs delivered, statuses {dict(statuses)}"
    )
    return Verdict(
        "scheduler SIGKILLed mid-tick", ok, due_at_start, due_at_start - still_due, lost,
        doubled, note, ("due learners", "planned"),
    )  # fmt: skip


async def _equals(dsn: str, sql: str, want: int, *args: Any) -> bool:
    return int(await value(dsn, sql, *args)) == want


async def fault_app(e: Env) -> Verdict:
    """LMS batches in flight to both apps; SIGKILL one app 4 s in, start it again 3 s later;
    the LMS retries whatever did not get a 200; every statement stored once."""
    lms = Lms(e.target, batch=50)
    victim = e.stack.apps[0]
    now = time.perf_counter()
    async with client(16) as http:
        sending = asyncio.create_task(lms.run(http, 8, now + 14, now + 120))
        await asyncio.sleep(4)
        in_flight = len(lms.ids) - 50 * sum(1 for o in lms.outcomes if o.status == 200)
        await asyncio.to_thread(victim.kill)
        await asyncio.sleep(3)
        await asyncio.to_thread(victim.start, True)
        await sending
    statuses = Counter(o.status for o in lms.outcomes)
    note = (
        f"~{in_flight} statements in flight at the kill; answers {dict(statuses)} (0: connection "
        "cut or refused, retried on the other app)"
    )
    return await statements_verdict(
        "app SIGKILLed with LMS batches in flight", e.cluster.dsn(), lms, note, True
    )


async def fault_primary(e: Env, down_seconds: float) -> Verdict:
    """LMS batches (retried) and learners' Today reads while the primary is stopped for
    ``down_seconds`` and started again: 503 + Retry-After while down (no 500, no hang), the
    apps reconnect, workers and the scheduler resume, nothing lost or doubled."""
    dsn = e.cluster.dsn()
    lms = Lms(e.target, batch=20, seed=11)
    readers = {k: OPERATIONS[k] for k in ("learner: GET /api/v1/me/today", "learner: Today page /")}
    reads: list[Outcome] = []
    marks: dict[str, float] = {}

    async def read_loop(until: float) -> None:
        reads.extend(await closed_loop(e.target, readers, 4, until - time.perf_counter(), seed=5))

    async def outage() -> None:
        await asyncio.sleep(5)
        marks["down"] = time.perf_counter()
        await asyncio.to_thread(e.cluster.stop_primary)
        marks["stopped"] = time.perf_counter()
        await asyncio.sleep(down_seconds)
        await asyncio.to_thread(e.cluster.start_primary)
        marks["up"] = time.perf_counter()

    now = time.perf_counter()
    total = 5 + down_seconds + 20
    async with client(16) as http:
        await asyncio.gather(
            lms.run(http, 4, now + total, now + total + 90), read_loop(now + total), outage()
        )
    everything = reads + lms.outcomes
    bad = [o for o in everything if o.status >= 500 and o.status != 503]
    no_retry_after = [o for o in everything if o.status == 503 and not o.retry_after]
    slowest = max((o.seconds for o in everything), default=0.0)
    during = [o for o in everything if marks["down"] <= o.started + o.seconds <= marks["up"]]
    refused = Counter(o.status for o in during)
    back = [o.started + o.seconds for o in reads if o.status == 200 and o.started >= marks["up"]]
    reconnect = (min(back) - marks["up"]) if back else float("inf")
    alive = all(p.alive() for p in (*e.stack.workers, e.stack.scheduler, *e.stack.apps))
    # the workers resume: nudges queued now are delivered
    tag = f"fault-primary-{secrets.token_hex(3)}"
    await queue_nudges(dsn, e.pushed_users, tag, min(500, len(e.pushed_users)))
    pushed = await poll(lambda: _none_pending(dsn, NUDGES_OF_TAG, tag), 120, 0.5)
    expected, rows, distinct, _ = await push_pairs(dsn, NUDGES_OF_TAG, tag)
    # the scheduler resumes: learners made due now are planned by its next tick
    t1 = await value(dsn, "SELECT now()")
    await fetch(
        dsn,
        "UPDATE learner_state SET next_nudge_at = $1 WHERE user_id = ANY($2::bigint[])",
        t1,
        e.pushed_users[:100],
    )
    ticked = await poll(
        lambda: _equals(dsn, "SELECT count(*) FROM learner_state WHERE next_nudge_at <= $1", 0, t1),
        75,
        1.0,
    )
    ok = not bad and not no_retry_after and slowest <= HANG_SECONDS and reconnect < 30
    ok &= alive and pushed and ticked and expected == distinct == rows
    note = (
        f"down {marks['up'] - marks['down']:.1f}s; answers while down {dict(refused)}; "
        f"5xx other than 503: {len(bad)}; 503 without Retry-After: {len(no_retry_after)}; "
        f"slowest answer {slowest:.1f}s; first 200 {reconnect:.1f}s after the restart; "
        f"processes alive {alive}; pushes after: {distinct}/{expected}; scheduler ticked: {ticked}"
    )
    if bad:
        note += f"; first: {bad[0].error}"
    return await statements_verdict("primary restarted mid-load", dsn, lms, note, ok)


async def fault_replica(e: Env, seconds: float) -> Verdict:
    """Stop the replica; insights, the leadership summary and statement queries keep
    answering (from the primary); start it again."""
    reads = {
        k: OPERATIONS[k]
        for k in (
            "manager: team insight (API)",
            "L&D: insights page",
            "L&D: leadership summary",
            "LMS: GET /xapi/statements",
        )
    }
    await asyncio.to_thread(e.cluster.stop_replica)
    outs = await closed_loop(e.target, {k: (1.0, v[1]) for k, v in reads.items()}, 4, seconds)
    await asyncio.to_thread(e.cluster.start_replica)
    caught_up = await wait_replica(e.cluster, 120)
    failed = [o for o in outs if o.status != 200]
    slowest = max((o.seconds for o in outs), default=0.0)
    note = (
        f"{len(outs)} reads in {seconds:.0f}s, slowest {slowest:.2f}s; replica started "
        f"again and caught up: {caught_up}"
        + (f"; first failure: {failed[0].error}" if failed else "")
    )
    return Verdict(
        "replica stopped, reads go on", not failed and caught_up, len(outs),
        len(outs) - len(failed), len(failed), 0, note, ("reads", "answered 200"),
    )  # fmt: skip


async def fault_burst(e: Env, burst: int) -> Verdict:
    """``burst`` LMS batches at once at one app: each answered 200, or 429/503 with
    Retry-After, within a bounded time; then the LMS retries the refused ones."""
    lms = Lms(e.target, batch=50, seed=13)
    port = e.stack.apps[0].port
    batches = [lms.make() for _ in range(burst)]
    async with client(burst, timeout=120) as http:
        firsts = await asyncio.gather(
            *(
                lms.send_until_stored(http, time.perf_counter() + 150, port, items)
                for items in batches
            )
        )
    statuses = Counter(o.status for o in firsts)
    refused = [o for o in firsts if o.status in (429, 503)]
    bad = [o for o in firsts if o.status not in (200, 429, 503)]
    without = [o for o in refused if not o.retry_after]
    slowest = max(o.seconds for o in firsts)
    slowest_refusal = max((o.seconds for o in refused), default=0.0)
    ok = bool(refused) and not bad and not without and slowest <= HANG_SECONDS
    note = (
        f"{burst} batches of 50 at once at one app; first answers {dict(statuses)}; refusals "
        f"without Retry-After {len(without)}; slowest refusal {slowest_refusal:.1f}s, slowest "
        f"answer {slowest:.1f}s (bound {HANG_SECONDS:.0f}s)"
        + ("; the pool was not exhausted: raise --burst" if not refused else "")
    )
    return await statements_verdict("pool exhausted by a burst", e.cluster.dsn(), lms, note, ok)


async def wait_replica(cluster: Cluster, seconds: float) -> bool:
    """True once the replica has replayed everything the primary had written when asked."""
    try:
        target = await value(cluster.dsn(), "SELECT pg_current_wal_lsn()")
    except (OSError, asyncpg.PostgresError):
        return False

    async def replayed() -> bool:
        try:  # asyncpg reads a pg_lsn as an int
            return int(
                await value(cluster.dsn("replica"), "SELECT pg_last_wal_replay_lsn()")
            ) >= int(target)
        except (OSError, TypeError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False

    return await poll(replayed, seconds, 0.5)


async def run_faults(e: Env, which: list[str], down_seconds: float, burst: int) -> list[Verdict]:
    verdicts = []
    for fault in which:
        started = time.monotonic()
        print(f"fault: {fault} ...", flush=True, file=__import__("sys").stderr)
        try:
            if fault == "worker":
                v = await fault_worker(e)
            elif fault == "scheduler":
                v = await fault_scheduler(e)
            elif fault == "app":
                v = await fault_app(e)
            elif fault == "primary":
                v = await fault_primary(e, down_seconds)
            elif fault == "replica":
                v = await fault_replica(e, 10)
            else:
                v = await fault_burst(e, burst)
        except Exception as exc:  # a phase that breaks is a FAIL with its reason, not a crash
            v = Verdict(fault, False, 0, 0, 0, 0, f"the phase failed: {exc!r}")
        v.note += f"; phase {time.monotonic() - started:.0f}s"
        print("  " + v.line(), flush=True, file=__import__("sys").stderr)
        verdicts.append(v)
        # whatever the phase left down comes back before the next one
        for proc in (*e.stack.apps, *e.stack.workers, e.stack.scheduler):
            if not proc.alive():
                await asyncio.to_thread(proc.start, proc in e.stack.apps)
    return verdicts
