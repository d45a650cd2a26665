"""Scale-out on a real PostgreSQL primary with a streaming replica: a mixed load, then faults.

    uv run python benchmarks/scale_out.py [--learners 100000] [--events 10000000]
        [--duration 180] [--concurrency 16] [--sessions 200] [--devices 20000]
        [--calibrate 6] [--faults worker,scheduler,app,primary,replica,burst | --skip-faults]
        [--due-learners N] [--down-seconds 8] [--burst 300] [--keep DIR | --reuse DIR]

Starts its own primary + streaming standby (``scripts/replica.sh start DIR``, on free ports;
the machine's PostgreSQL at 127.0.0.1:5432 is never touched), migrates with ``learnloop
migrate`` and seeds one organisation with ``--learners`` learners in teams of 10 and
``--events`` learning events by COPY: ``benchmarks/insights.py``'s seeder (``seed``). Then it
gives ``--sessions`` learners, 20 managers and the L&D admin a password, 20 courses an
``xapi_activity_id`` (``benchmarks/ingest.py``'s IRIs), makes an API key, and gives
``--devices`` learners a push subscription at a local HTTPS push service
(``benchmarks/push_fanout.py``'s). Quiet hours are switched off for everyone, so nudges go
out at whatever hour the harness runs.

Processes (production settings, both database URLs): 2 app processes (``uvicorn
backend.app:create_app --factory`` on two ports; the load round-robins), 2 push workers
(``learnloop worker --no-scheduler``) and 1 scheduler (``learnloop worker --scheduler``; it
takes one nudge per claim, so it barely pushes), the push service. Everyone signs in through
the real login (``POST /api/v1/auth/login``: session cookie + CSRF).

Phases:

1. calibration: each operation alone for ``--calibrate`` seconds (4 clients): the app's CPU
   per request and the CPU per request of the primary's and the replica's processes
   (postmaster, backends, WAL sender/receiver, checkpointer, recovery: /proc), and a burst of
   queued nudges for the workers' CPU per push. This is how database CPU is divided per
   operation: by measuring each alone; the mixed phase then shows how much of its measured
   database CPU these per-operation figures explain.
2. the mixed load: ``--concurrency`` clients for ``--duration`` seconds drawing operations by
   weight (``_scale_load.OPERATIONS``), while the scheduler ticks and the workers push.
3. faults (``_scale_faults``), each a PASS/FAIL line: sent / stored / lost / doubled.

Prints a table per operation (count, throughput, p50/p99, errors, CPU per request) and the
fault lines. Everything stops by itself; processes and the cluster are removed at the end,
also on errors and Ctrl+C (``--keep DIR``: the seeded cluster is kept, stopped, to be used
again with ``--reuse DIR``). Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(HERE))  # after the project: benchmarks/pwa.py must not shadow pwa/

import insights  # noqa: E402
from _scale_faults import FAULTS, Env, fetch, run_faults, wait_replica  # noqa: E402
from _scale_load import OPERATIONS, Outcome, Signed, Target, closed_loop  # noqa: E402
from _scale_stack import Cluster, Stack, app_proc, worker_proc  # noqa: E402
from ingest import COURSES, activity_iri  # noqa: E402
from push_fanout import (  # noqa: E402
    SUBJECT,
    make_certificate,
    service_count,
    start_push_service,
)
from reads import sign_in  # noqa: E402

PASSWORD = "scale-out-bench-password"
TEAM_SIZE = 10
PUSH_SENDERS = 8  # the settings' defaults, named for the at-least-once bound
PUSH_BATCH = 200
LEASE_SECONDS = 15.0


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


# --- seeding and preparing ------------------------------------------------------------------------


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "backend.cli", "migrate"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"learnloop migrate failed:\n{done.stdout}{done.stderr}")


def seed(url: str, args: argparse.Namespace) -> dict[str, float]:
    """benchmarks/insights.py's seeder: the organisation, its people and the events (COPY)."""
    shape = argparse.Namespace(
        learners=args.learners, events=args.events, team_size=TEAM_SIZE,
        nudges=args.learners * 5, weeks=52,
    )  # fmt: skip
    return asyncio.run(insights.seed(url, shape, datetime.now(UTC).date()))


async def prepare(cluster: Cluster, args: argparse.Namespace, origin: str) -> dict[str, Any]:
    """Passwords, courses with xAPI ids, an API key, push subscriptions; idempotent, so a
    reused cluster is prepared again (the push service's port is new every run)."""
    import asyncpg
    from sqlalchemy import insert

    from backend.auth.passwords import hash_password
    from backend.context import AppContext
    from backend.db.models import PushSubscription
    from backend.integrations.services import create_api_key
    from backend.settings import Settings
    from tests.push.push_service import FakeDevice

    dsn = cluster.dsn()
    learners = [
        r[0] for r in await fetch(dsn, "SELECT id FROM user_account WHERE is_active ORDER BY id")
    ]
    step = max(1, len(learners) // args.sessions)
    sessions = [u for u in learners[1::step] if u % TEAM_SIZE][: args.sessions]
    managers = [
        (r[0], r[1])
        for r in await fetch(
            dsn,
            "SELECT m.user_id, m.team_id FROM team_membership m JOIN user_account u"
            " ON u.id = m.user_id WHERE m.is_manager AND u.is_active ORDER BY m.user_id LIMIT 20",
        )
    ]
    step = max(1, len(learners) // args.devices)
    device_users = learners[::step][: args.devices]
    password_hash = hash_password(PASSWORD)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(
            "UPDATE user_account SET password_hash = $1 WHERE id = ANY($2::bigint[])",
            password_hash,
            [1, *sessions, *(m for m, _ in managers)],
        )
        # quiet hours off (start = end): nudges go out whatever hour the harness runs
        await conn.execute(
            "UPDATE user_account SET quiet_hours_start = '00:00', quiet_hours_end = '00:00'"
            " WHERE quiet_hours_start <> quiet_hours_end"
        )
        for course in range(COURSES):
            await conn.execute(
                "UPDATE course SET xapi_activity_id = $1 WHERE id = $2",
                activity_iri(course),
                course + 1,
            )
        await conn.execute("DELETE FROM push_subscription WHERE user_agent_label = 'scale-out'")
        # and the organisation's quiet hours off, weekends allowed (the product's defaults
        # keep every nudge back at night, when this may run)
        await conn.execute(
            'UPDATE organisation SET settings = settings::jsonb || \'{"quiet_hours_start": 0,'
            ' "quiet_hours_end": 0, "nudges_on_weekends": true}\'::jsonb WHERE id = 1'
        )
    finally:
        await conn.close()
    ctx = AppContext.from_settings(
        Settings(database_url=cluster.primary_url, env="test"), null_pool=True
    )
    try:
        async with ctx.sessionmaker() as session:
            api_key = (await create_api_key(session, 1, "scale-out LMS", None)).key
        now = datetime.now(UTC)
        rows = []
        for user_id in device_users:
            body = FakeDevice(f"{origin}/push/{secrets.token_urlsafe(16)}").subscription_json()
            rows.append(
                {
                    "organisation_id": 1, "user_id": user_id, "endpoint": body["endpoint"],
                    "p256dh": body["keys"]["p256dh"], "auth": body["keys"]["auth"],
                    "user_agent_label": "scale-out", "failure_count": 0, "created_at": now,
                }
            )  # fmt: skip
        async with ctx.engine.begin() as conn2:
            for first in range(0, len(rows), 5000):
                await conn2.execute(
                    insert(PushSubscription.__table__),  # type: ignore[attr-defined]
                    rows[first : first + 5000],
                )
    finally:
        await ctx.engine.dispose()
    return {
        "learners": learners,
        "sessions": sessions,
        "managers": managers,
        "device_users": device_users,
        "api_key": api_key,
    }


def sign_everyone_in(
    ports: list[int], prepared: dict[str, Any]
) -> tuple[list[Signed], list[Signed], Signed]:
    """The real login (argon2id, session + CSRF cookies), alternating the app processes."""

    def one(n: int, user_id: int, team: int | None = None) -> Signed:
        email = f"l{user_id}@bench.example"
        return Signed(user_id, email, sign_in(ports[n % len(ports)], email, PASSWORD), team)

    with ThreadPoolExecutor(4) as pool:
        sessions = list(pool.map(lambda p: one(*p), enumerate(prepared["sessions"])))
        managers = list(
            pool.map(lambda p: one(p[0], p[1][0], p[1][1]), enumerate(prepared["managers"]))
        )
    return sessions, managers, one(0, 1)


# --- measuring -------------------------------------------------------------------------------------


class Clocks:
    """CPU seconds of every part, read before and after a phase."""

    def __init__(self, cluster: Cluster, stack: Stack) -> None:
        self.cluster, self.stack = cluster, stack

    def read(self) -> dict[str, float]:
        out = self.stack.cpu()
        out["primary"] = self.cluster.cpu_seconds("primary")
        out["replica"] = self.cluster.cpu_seconds("replica")
        out["wall"] = time.perf_counter()
        return out

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before[k] for k in before}


def calibrate(
    target: Target, clocks: Clocks, seconds: float, origin: str, cert: Path, env: Env
) -> dict[str, dict[str, float]]:
    """Each operation alone: CPU per request of the apps, the primary and the replica."""
    per_op: dict[str, dict[str, float]] = {}
    # warm: every route once through each process (imports, caches, prepared statements)
    asyncio.run(closed_loop(target, OPERATIONS, 4, max(5.0, seconds), seed=2))
    for name, (_, op) in OPERATIONS.items():
        asyncio.run(closed_loop(target, {name: (1.0, op)}, 2, 1.0, seed=3))
        before = clocks.read()
        outs = asyncio.run(closed_loop(target, {name: (1.0, op)}, 4, seconds, seed=4))
        d = Clocks.delta(before, clocks.read())
        n = max(1, len(outs))
        per_op[name] = {
            "requests": n,
            "errors": sum(1 for o in outs if not 200 <= o.status < 300),
            "app": d["apps"] / n * 1e6,
            "primary": d["primary"] / n * 1e6,
            "replica": d["replica"] / n * 1e6,
            "items": statistics.mean(o.items for o in outs) if outs else 1,
            "rps": n / d["wall"],
        }
        print(
            f"  calibrated {name:<34} {n / d['wall']:7.1f} req/s alone; CPU us/req app "
            f"{per_op[name]['app']:8.0f} primary {per_op[name]['primary']:7.0f} replica "
            f"{per_op[name]['replica']:6.0f}",
            file=sys.stderr,
        )
    # pushes: a burst of queued nudges, the workers' CPU per delivered message
    from _scale_faults import deliveries_total, pending_of, poll, queue_nudges

    dsn = env.cluster.dsn()
    count = max(2000, 2 * len(env.pushed_users))
    tag = f"calibrate-{secrets.token_hex(3)}"
    before = clocks.read()
    received = service_count(origin, cert)
    delivered = asyncio.run(deliveries_total(dsn))
    asyncio.run(queue_nudges(dsn, env.pushed_users, tag, count))

    async def drained() -> bool:
        return await pending_of(dsn, "n.dedupe_key LIKE $1 || ':%'", tag) == 0

    asyncio.run(poll(drained, 300, 0.2))
    d = Clocks.delta(before, clocks.read())
    pushed = service_count(origin, cert) - received
    recorded = asyncio.run(deliveries_total(dsn)) - delivered
    per_op["push: deliver a queued nudge"] = {
        "requests": pushed,
        "errors": pushed - recorded,
        "app": (d["workers"] + d["scheduler"]) / max(1, pushed) * 1e6,
        "primary": d["primary"] / max(1, pushed) * 1e6,
        "replica": d["replica"] / max(1, pushed) * 1e6,
        "items": 1,
        "rps": pushed / d["wall"],
        "push service": d["push service"] / max(1, pushed) * 1e6,
    }
    print(
        f"  calibrated pushes: {pushed} in {d['wall']:.1f}s, workers {per_op['push: deliver a queued nudge']['app']:.0f} us/push, "
        f"primary {per_op['push: deliver a queued nudge']['primary']:.0f} us/push",
        file=sys.stderr,
    )
    return per_op


def mixed(
    target: Target, clocks: Clocks, args: argparse.Namespace, origin: str, cert: Path
) -> dict[str, Any]:
    before = clocks.read()
    received = service_count(origin, cert)
    load0 = os.getloadavg()[0]
    outs = asyncio.run(closed_loop(target, OPERATIONS, args.concurrency, args.duration, seed=42))
    d = Clocks.delta(before, clocks.read())
    return {
        "outcomes": outs,
        "cpu": d,
        "pushes": service_count(origin, cert) - received,
        "load": (load0, os.getloadavg()[0]),
    }


# --- the report --------------------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    cal: dict[str, dict[str, float]],
    mix: dict[str, Any] | None,
    verdicts: list[Any],
    seeded: dict[str, float],
    counts: dict[str, int],
) -> None:
    print()
    print(
        f"scale-out: {counts['learners']:,} learners, {counts['events']:,} learning events, "
        f"{counts['statements']:,} xAPI statements stored; {os.cpu_count()} vCPU "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}, "
        f"PostgreSQL primary + streaming replica (scripts/replica.sh) on the same machine"
    )
    for step, seconds in seeded.items():
        print(f"seeded {step}: {seconds:.0f}s")
    if mix:
        outs: list[Outcome] = mix["outcomes"]
        d = mix["cpu"]
        seconds = args.duration
        print(
            f"\nmixed load: {args.concurrency} clients, closed loop, {seconds:g}s, 2 app "
            f"processes round-robin; load average {mix['load'][0]:.1f} -> {mix['load'][1]:.1f}\n"
        )
        print(
            "| operation | weight | count | per s | p50 ms | p99 ms | errors | app CPU us/req "
            "| primary CPU us/req | replica CPU us/req |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        explained = {"app": 0.0, "primary": 0.0, "replica": 0.0}
        for name, (weight, _) in OPERATIONS.items():
            mine = [o for o in outs if o.op == name]
            lat = [o.seconds * 1000 for o in mine]
            errors = sum(1 for o in mine if not 200 <= o.status < 300)
            c = cal.get(name, {})
            for part in explained:
                explained[part] += len(mine) * c.get(part, 0.0) / 1e6
            print(
                f"| {name} | {weight:g} | {len(mine):,} | {len(mine) / seconds:.1f} | "
                f"{_percentile(lat, 50):.0f} | {_percentile(lat, 99):.0f} | {errors} | "
                f"{c.get('app', 0):,.0f} | {c.get('primary', 0):,.0f} | {c.get('replica', 0):,.0f} |"
            )
        pushes = mix["pushes"]
        p = cal.get("push: deliver a queued nudge", {})
        print(
            f"| push: nudges delivered (scheduler + workers) | - | {pushes:,} | "
            f"{pushes / seconds:.1f} | - | - | - | {p.get('app', 0):,.0f} (workers) | "
            f"{p.get('primary', 0):,.0f} | {p.get('replica', 0):,.0f} |"
        )
        total = len(outs)
        statements = sum(o.items for o in outs if o.op.startswith("LMS: xAPI") and o.status == 200)
        errors = [o for o in outs if not 200 <= o.status < 300]
        print(
            f"\nall: {total:,} requests, {total / seconds:.1f} req/s, {statements:,} statements "
            f"stored ({statements / seconds:.0f}/s), {len(errors)} errors"
            + (f" (first: {errors[0].error})" if errors else "")
        )
        print(
            "CPU seconds in the mixed phase (and share of the machine's "
            f"{(os.cpu_count() or 1) * seconds:.0f}): "
            + ", ".join(
                f"{k} {v:.1f} ({v / ((os.cpu_count() or 1) * seconds):.0%})"
                for k, v in d.items()
                if k != "wall"
            )
        )
        print(
            "per request of the mix: "
            f"apps {d['apps'] / total * 1e6:,.0f} us, primary {d['primary'] / total * 1e6:,.0f} us, "
            f"replica {d['replica'] / total * 1e6:,.0f} us; the calibrated per-operation figures "
            f"explain apps {explained['app'] / max(d['apps'], 1e-9):.0%}, primary "
            f"{explained['primary'] / max(d['primary'], 1e-9):.0%}, replica "
            f"{explained['replica'] / max(d['replica'], 1e-9):.0%} of it"
        )
        print(
            f"workers: {d['workers']:.1f} CPU s for {pushes:,} pushes in the mix; the "
            f"calibration's burst: {p.get('requests', 0):,.0f} pushes at {p.get('rps', 0):,.0f}/s, "
            f"{p.get('app', 0):,.0f} us worker CPU + {p.get('push service', 0):,.0f} us push "
            f"service per push; scheduler {d['scheduler']:.1f} CPU s"
        )
    if cal:
        print("\ncalibration (each operation alone, 4 clients):\n")
        print(
            "| operation | req/s alone | app CPU us/req | primary us/req | replica us/req | errors |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, c in cal.items():
            print(
                f"| {name} | {c['rps']:,.1f} | {c['app']:,.0f} | {c['primary']:,.0f} | "
                f"{c['replica']:,.0f} | {c['errors']:.0f} |"
            )
    if verdicts:
        print()
        for v in verdicts:
            print(v.line())


# --- main -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of mixed load")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sessions", type=int, default=200, help="signed-in learners")
    parser.add_argument("--devices", type=int, default=20_000, help="learners with a device")
    parser.add_argument("--calibrate", type=float, default=6.0, help="seconds per operation")
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--skip-faults", action="store_true")
    parser.add_argument("--skip-load", action="store_true", help="calibration and faults only")
    parser.add_argument(
        "--due-learners", type=int, default=0, help="scheduler fault (default: half)"
    )
    parser.add_argument("--down-seconds", type=float, default=8.0)
    parser.add_argument("--burst", type=int, default=400, help="LMS batches of 50 at once")
    parser.add_argument("--keep", type=Path, help="seed into DIR and keep it (stopped)")
    parser.add_argument("--reuse", type=Path, help="a DIR kept by --keep: no seeding")
    parser.add_argument("--seed-only", action="store_true", help="with --keep: seed, then stop")
    args = parser.parse_args()
    which = [] if args.skip_faults else [f for f in args.faults.split(",") if f]
    if not (
        1000 <= args.learners <= 1_000_000
        and 1000 <= args.events <= 50_000_000
        and 5 <= args.duration <= 1800
        and 1 <= args.concurrency <= 256
        and 1 <= args.sessions <= 2000
        and 10 <= args.devices <= 100_000
        and set(which) <= set(FAULTS)
        and not (args.keep and args.reuse)
    ):
        parser.error("keep it bounded: learners 1000-1M, events 1000-50M, duration 5-1800 s, ...")
    args.devices = min(args.devices, args.learners // 2)
    args.due_learners = args.due_learners or min(args.learners // 2, 30_000)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    workdir = Path(tempfile.mkdtemp(prefix="learnloop-scale-"))
    workdir.chmod(0o755)  # the cluster's directory must be reachable by the postgres user
    if args.keep or args.reuse:
        directory = (args.keep or args.reuse).resolve()
        directory.parent.mkdir(parents=True, exist_ok=True)
        directory.parent.chmod(directory.parent.stat().st_mode | 0o055)
    else:
        directory = workdir / "pg"
    cluster = Cluster(directory)
    stacks: list[Stack] = []  # filled as soon as processes start, so they are always stopped
    try:
        run(args, which, cluster, workdir, stacks)
    finally:
        for stack in stacks:
            stack.stop()
        if args.keep or args.reuse:
            cluster.stop()
            print(f"kept the cluster in {directory} (--reuse {directory})", file=sys.stderr)
        else:
            cluster.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


def run(
    args: argparse.Namespace, which: list[str], cluster: Cluster, workdir: Path, stacks: list[Stack]
) -> None:
    started = time.perf_counter()
    cluster.start()
    print(f"cluster in {cluster.directory}: {cluster.urls}", file=sys.stderr)
    from backend.push.keys import write_new_key

    cert, key = make_certificate(workdir)
    vapid = workdir / "vapid.pem"
    write_new_key(vapid)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "SSL_CERT_FILE": str(cert),
        "REQUESTS_CA_BUNDLE": str(cert),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LEARNLOOP_ENV": "production",
        "LEARNLOOP_SECRET_KEY": secrets.token_urlsafe(48),
        "LEARNLOOP_DATABASE_URL": cluster.primary_url,
        "LEARNLOOP_DATABASE_REPLICA_URL": cluster.replica_url,
        "LEARNLOOP_VAPID_PRIVATE_KEY_FILE": str(vapid),
        "LEARNLOOP_VAPID_SUBJECT": SUBJECT,
        "LEARNLOOP_PUSH_LEASE_SECONDS": str(LEASE_SECONDS),
        "LEARNLOOP_LOG_LEVEL": "WARNING",
    }
    seeded: dict[str, float] = {}
    migrate(env)  # a reused cluster too: the code may have new migrations since
    if not args.reuse:
        seeded = seed(cluster.primary_url, args)
        print(f"seeded in {sum(seeded.values()):.0f}s: {seeded}", file=sys.stderr)
        if args.seed_only:
            return
    asyncio.run(wait_replica(cluster, 1800))
    counts = {
        "learners": asyncio.run(fetch(cluster.dsn(), "SELECT count(*) FROM user_account"))[0][0],
        "events": asyncio.run(
            fetch(
                cluster.dsn(),
                "SELECT reltuples::bigint FROM pg_class WHERE relname = 'learning_event'",
            )
        )[0][0],
    }
    push_service, origin = start_push_service(cert, key)
    stacks.append(Stack([], [], worker_proc("unused", {}, workdir, False), push_service))
    logs = workdir / "logs"
    logs.mkdir()
    stack = Stack(
        apps=[app_proc(n, env, logs) for n in range(2)],
        workers=[worker_proc(f"worker-{n}", env, logs, scheduler=False) for n in range(2)],
        # one nudge per claim: the scheduler's process barely pushes
        scheduler=worker_proc("scheduler", env | {"LEARNLOOP_PUSH_BATCH_SIZE": "1"}, logs, True),
        push_service=push_service,
    )
    stacks[:] = [stack]
    prepared = asyncio.run(prepare(cluster, args, origin))
    for proc in stack.all():
        proc.start(wait_http=proc in stack.apps)
    sessions, managers, ld = sign_everyone_in(stack.ports, prepared)
    print(
        f"ready in {time.perf_counter() - started:.0f}s: {len(sessions)} learners, "
        f"{len(managers)} managers and L&D signed in; {len(prepared['device_users'])} devices",
        file=sys.stderr,
    )
    target = Target(
        ports=stack.ports,
        api_key=prepared["api_key"],
        learners=prepared["learners"],
        sessions=sessions,
        managers=managers,
        ld=ld,
    )
    random.seed(1)
    env_faults = Env(
        cluster=cluster, stack=stack, target=target, device_users=prepared["device_users"],
        origin=origin, cert=cert, push_senders=PUSH_SENDERS, push_batch=PUSH_BATCH,
        lease_seconds=LEASE_SECONDS, due_learners=args.due_learners,
    )  # fmt: skip
    clocks = Clocks(cluster, stack)
    cal = calibrate(target, clocks, args.calibrate, origin, cert, env_faults)
    mix = None if args.skip_load else mixed(target, clocks, args, origin, cert)
    verdicts = asyncio.run(run_faults(env_faults, which, args.down_seconds, args.burst))
    counts["statements"] = asyncio.run(fetch(cluster.dsn(), "SELECT count(*) FROM xapi_statement"))[
        0
    ][0]
    report(args, cal, mix, verdicts, seeded, counts)
    for proc in stack.all():
        if "Traceback" in proc.log.read_text(errors="replace"):
            print(f"note: {proc.name}'s log has tracebacks ({proc.log})", file=sys.stderr)
    if os.environ.get("SCALE_OUT_LOGS"):
        shutil.copytree(logs, os.environ["SCALE_OUT_LOGS"], dirs_exist_ok=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
