"""Web Push fan-out: learnloop's push workers next to naive pywebpush and Node.js web-push loops.

    uv run python benchmarks/push_fanout.py [--count 20000] [--workers 2] [--senders 8]
                                            [--concurrency 64] [--batch 200]
                                            [--naive-count N] [--skip-node]
                                            [--profile DIR] [--py-spy DIR]

Creates a fresh database ``learnloop_bench_push_<random>`` on 127.0.0.1:5432 (user
``postgres``, trust auth), migrates it, and seeds one organisation with ``--count`` learners,
each with one push subscription (its own P-256 key and auth secret, as a browser makes them).
A local push service (``tests/push/push_service.py --count-only``) runs in its own process
over HTTPS (a self-signed certificate for 127.0.0.1 made here and trusted by every client
through SSL_CERT_FILE / REQUESTS_CA_BUNDLE / NODE_EXTRA_CA_CERTS): it accepts and counts.

Measured, each against the same push service and the same subscriptions:

- ``learnloop worker``: ``--workers`` processes of the real worker (``python -m backend.cli
  worker``, production settings) are started idle; then ``--count`` due nudges are queued in
  one transaction and the clock runs from that commit until no nudge is pending: every message
  claimed, encrypted (aes128gcm), delivered and recorded (push_delivery rows checked);
- ``pywebpush.webpush() loop``: the documented one-call API in a plain loop (one process, a new
  claims dict per call as in the README, no session: a new connection per message);
- ``node web-push``: ``benchmarks/web_push_naive.mjs`` (npm ``web-push``, pinned in
  package.json: ``npm install --prefix benchmarks``) awaiting each send, and with 64 in flight.

For the workers' run it reports CPU per message of the workers, the push service, the
PostgreSQL backends of the benchmark's database and the whole machine (what is more than the
three is other work on the machine), and the load average before and after.

Afterwards a few devices' last messages are fetched from the push service and decrypted with
the device's private key, to show what was measured is real Web Push. Prints a table and
PASS/FAIL against the issue's targets: >= 2,000 messages/s end to end, and >= 4x the naive
pywebpush loop. The database is dropped at the end, also on errors and Ctrl+C; only 127.0.0.1
is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

PG = "postgres@127.0.0.1:5432"
TARGET_RATE = 2000.0
TARGET_RATIO = 4.0
SUBJECT = "mailto:bench@learnloop.example"
TTL = 12 * 3600


@dataclass
class Row:
    name: str
    messages: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


# --- setup -------------------------------------------------------------------------------------


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the push service speaks HTTPS like real ones)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "push-cert.pem", directory / "push-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def start_push_service(cert: Path, key: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.push.push_service",
            "--count-only",
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    origin = proc.stdout.readline().strip()
    if not origin.startswith("https://"):
        proc.kill()
        raise SystemExit(f"the push service did not start: {origin!r}")
    return proc, origin


def service_get(origin: str, path: str, cert: Path) -> bytes:
    import ssl

    context = ssl.create_default_context(cafile=str(cert))
    with urllib.request.urlopen(f"{origin}{path}", context=context, timeout=10) as response:
        body: bytes = response.read()
        return body


def service_count(origin: str, cert: Path) -> int:
    return int(json.loads(service_get(origin, "/stats", cert))["count"])


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://{PG}/postgres", timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def seed(url: str, origin: str, count: int) -> list[Any]:
    """Migrate, then one organisation with ``count`` learners, one device each."""
    from sqlalchemy import insert

    from backend.db.engine import make_engine, make_sessionmaker
    from backend.db.migrate import upgrade
    from backend.db.models import Organisation, PushSubscription, User
    from tests.push.push_service import FakeDevice

    engine = make_engine(url, null_pool=True)
    await upgrade(engine)
    devices = []
    async with make_sessionmaker(engine)() as session:
        org = Organisation(name="Fan-out BV", slug="fanout")
        session.add(org)
        await session.flush()
        org_id = org.id
        users = [
            User(
                organisation_id=org_id,
                email=f"l{i}@fanout.example",
                display_name=f"Learner {i}",
                roles=["employee"],
            )
            for i in range(count)
        ]
        session.add_all(users)
        await session.commit()
        user_ids = [u.id for u in users]
    now = dt.datetime.now(dt.UTC)
    rows = []
    for user_id in user_ids:
        device = FakeDevice(f"{origin}/push/{secrets.token_urlsafe(16)}")
        body = device.subscription_json()
        devices.append((user_id, device, body))
        rows.append(
            {
                "organisation_id": org_id,
                "user_id": user_id,
                "endpoint": body["endpoint"],
                "p256dh": body["keys"]["p256dh"],
                "auth": body["keys"]["auth"],
                "user_agent_label": "bench",
                "failure_count": 0,
                "created_at": now,
            }
        )
    async with engine.begin() as conn:
        await conn.execute(insert(PushSubscription.__table__), rows)  # type: ignore[attr-defined]
    await engine.dispose()
    return devices


def nudge_rows(devices: list[Any], org_id: int) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    return [
        {
            "id": secrets.token_hex(16),
            "organisation_id": org_id,
            "user_id": user_id,
            "kind": "daily_reminder",
            "variant": "",
            "dedupe_key": f"bench:{user_id}",
            "locale": "nl",
            "title": "Tijd om te leren",
            "body": "Vijf minuten vandaag houden je reeks in leven.",
            "url": "/log",
            "status": "pending",
            "due_at": now,
            "attempts": 0,
            "last_error": "",
            "created_at": now,
        }
        for user_id, _, _ in devices
    ]


async def queue_and_wait(url: str, devices: list[Any], limit_seconds: float) -> tuple[float, int]:
    """Queue one nudge per learner in one transaction; seconds until none is pending."""
    from sqlalchemy import func, insert, select, text

    from backend.db.engine import make_engine
    from backend.db.models import Nudge, PushDelivery

    nudge, delivery = Nudge.__table__, PushDelivery.__table__  # type: ignore[attr-defined]
    engine = make_engine(url, null_pool=True)
    try:
        async with engine.begin() as conn:
            org_id = (await conn.execute(text("SELECT id FROM organisation"))).scalar_one()
        rows = nudge_rows(devices, org_id)
        async with engine.begin() as conn:
            await conn.execute(insert(nudge), rows)
        start = time.perf_counter()
        deadline = start + limit_seconds
        while time.perf_counter() < deadline:
            async with engine.connect() as conn:
                pending = (
                    await conn.execute(
                        select(func.count()).select_from(nudge).where(nudge.c.status == "pending")
                    )
                ).scalar_one()
            if pending == 0:
                break
            await asyncio.sleep(0.05)
        else:
            raise SystemExit(f"{pending} nudges still pending after {limit_seconds:.0f} s")
        seconds = time.perf_counter() - start
        async with engine.connect() as conn:
            recorded = (await conn.execute(select(func.count()).select_from(delivery))).scalar_one()
        return seconds, int(recorded)
    finally:
        await engine.dispose()


# --- the three senders -----------------------------------------------------------------------


def run_learnloop(
    args: argparse.Namespace,
    url: str,
    devices: list[Any],
    env: dict[str, str],
    origin: str,
    cert: Path,
    service_pid: int,
    db: str,
) -> Row:
    before = service_count(origin, cert)
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                *(
                    ["-m", "cProfile", "-o", str(Path(args.profile) / f"worker-{n}.prof")]
                    if args.profile
                    else []
                ),
                "-m",
                "backend.cli",
                "worker",
                "--no-scheduler",
                "--senders",
                str(args.senders),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(args.workers)
    ]
    try:
        time.sleep(4)  # started and polling an empty outbox
        for worker in workers:
            if worker.poll() is not None:
                raise SystemExit(
                    f"a worker exited early: {worker.stderr.read() if worker.stderr else ''}"
                )
        spies = [
            subprocess.Popen(
                [
                    *("py-spy", "record", "--pid", str(w.pid), "--rate", "250", "--nonblocking"),
                    *("--format", "speedscope", "-o", str(Path(args.py_spy) / f"worker-{n}.json")),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for n, w in enumerate(workers)
            if args.py_spy
        ]
        if spies:
            time.sleep(1)
        cpu_before = sum(cpu_seconds(w.pid) for w in workers)
        service_before, backends_before = cpu_seconds(service_pid), backend_cpu_seconds(db)
        load_before, machine_before = os.getloadavg()[0], machine_busy_seconds()
        seconds, recorded = asyncio.run(queue_and_wait(url, devices, limit_seconds=600))
        machine_cpu = machine_busy_seconds() - machine_before
        worker_cpu = sum(cpu_seconds(w.pid) for w in workers) - cpu_before
        service_cpu = cpu_seconds(service_pid) - service_before
        # backends that connected during the run count from zero
        postgres_cpu = sum(
            cpu - backends_before.get(pid, 0.0) for pid, cpu in backend_cpu_seconds(db).items()
        )
        load_after = os.getloadavg()[0]
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(timeout=60)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    received = service_count(origin, cert) - before
    per_message = 1e6 / len(devices)
    cores = os.cpu_count() or 1
    note = (
        f"{args.workers} processes x {args.senders} senders x {args.batch}/claim; {recorded} "
        f"recorded, {received} received; CPU us/message: workers {worker_cpu * per_message:.0f}, "
        f"push service {service_cpu * per_message:.0f}, PostgreSQL backends "
        f"{postgres_cpu * per_message:.0f}, whole machine {machine_cpu * per_message:.0f} "
        f"(of {cores * seconds * per_message:.0f} on {cores} cores)"
        f"; load {load_before:.1f} -> {load_after:.1f}"
    )
    if recorded != len(devices) or received != len(devices):
        note += "  MISMATCH"
    return Row("learnloop worker (end to end)", len(devices), seconds, note)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu_seconds(db: str) -> dict[int, float]:
    """CPU time so far of each PostgreSQL backend connected to ``db`` (by process id)."""

    async def pids() -> list[int]:
        import asyncpg

        conn = await asyncpg.connect(f"postgresql://{PG}/postgres", timeout=10)
        try:
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", db)
            return [int(r["pid"]) for r in rows]
        finally:
            await conn.close()

    seconds = {}
    for pid in asyncio.run(pids()):
        with contextlib.suppress(OSError, IndexError, ValueError):
            seconds[pid] = cpu_seconds(pid)
    return seconds


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far (all cores, /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def naive_child(jobs_file: str) -> None:
    """The naive loop, in its own process: pywebpush.webpush() per message."""
    from pywebpush import webpush

    jobs = json.loads(Path(jobs_file).read_text())
    failed = 0
    start = time.perf_counter()
    for message in jobs["messages"]:
        response = webpush(
            subscription_info=message["subscription"],
            data=message["payload"],
            vapid_private_key=jobs["vapid_key_file"],
            vapid_claims={"sub": jobs["vapid"]["subject"]},
            ttl=jobs["ttl"],
            timeout=10,
        )
        if getattr(response, "status_code", 0) >= 300:
            failed += 1
    seconds = time.perf_counter() - start
    print(
        json.dumps({"sent": len(jobs["messages"]) - failed, "failed": failed, "seconds": seconds})
    )


def write_jobs(directory: Path, devices: list[Any], count: int, vapid_key_file: Path) -> Path:
    from cryptography.hazmat.primitives import serialization

    from backend.push.keys import b64url, read_key
    from backend.push.payload import PushMessage, payload_json

    key = read_key(vapid_key_file)
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    messages = []
    for _, _, body in devices[:count]:
        message = PushMessage(
            secrets.token_hex(16),
            "daily_reminder",
            "nl",
            "Tijd om te leren",
            "Vijf minuten vandaag houden je reeks in leven.",
            "/log",
        )
        messages.append(
            {
                "subscription": {"endpoint": body["endpoint"], "keys": body["keys"]},
                "payload": payload_json(message).decode(),
            }
        )
    jobs = {
        "vapid": {
            "subject": SUBJECT,
            "publicKey": b64url(public),
            "privateKey": b64url(key.private_numbers().private_value.to_bytes(32, "big")),
        },
        "vapid_key_file": str(vapid_key_file),
        "ttl": TTL,
        "messages": messages,
    }
    path = directory / "jobs.json"
    path.write_text(json.dumps(jobs))
    return path


def run_child(name: str, command: list[str], env: dict[str, str], expected: int) -> Row:
    import resource

    load_before, machine_before = os.getloadavg()[0], machine_busy_seconds()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - wall
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        return Row(name, 0, 0.0, f"failed: {done.stderr.strip()[-300:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    own = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    per_message = 1e6 / max(1, int(result["sent"]))
    note = (
        f"CPU us/message: sender {own * per_message:.0f}, whole machine "
        f"{(machine_busy_seconds() - machine_before) * per_message:.0f} "
        f"(of {(os.cpu_count() or 1) * wall * per_message:.0f}); load {load_before:.1f} -> "
        f"{os.getloadavg()[0]:.1f}"
    )
    if result["failed"] or result["sent"] != expected:
        note += f"; {result['failed']} failed"
    return Row(name, int(result["sent"]), float(result["seconds"]), note)


def check_samples(origin: str, cert: Path, devices: list[Any], samples: int = 5) -> str:
    """Decrypt a few devices' last messages with their own keys."""
    checked = 0
    for _, device, _ in random.sample(devices, min(samples, len(devices))):
        payload = device.decrypt(service_get(origin, f"/last/{device.token}", cert))
        assert payload["title"] == "Tijd om te leren" and payload["nudge_id"], payload
        checked += 1
    return f"{checked} sampled messages decrypted with the devices' keys: OK"


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    naive = next((r for r in rows if r.name.startswith("pywebpush") and r.rate), None)
    print()
    print(
        f"Web Push fan-out, {args.count} nudges, one device each (HTTPS push service on 127.0.0.1)"
    )
    print()
    print("| sender | messages | seconds | messages/s | vs pywebpush loop | notes |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for row in rows:
        ratio = f"{row.rate / naive.rate:.1f}x" if naive and row.rate else "-"
        print(
            f"| {row.name} | {row.messages} | {row.seconds:.2f} | {row.rate:,.0f} | {ratio} | {row.note} |"
        )
    ours = rows[0]
    print()
    verdict = ours.rate >= TARGET_RATE
    print(
        f"{'PASS' if verdict else 'FAIL'}: learnloop {ours.rate:,.0f} messages/s (target >= {TARGET_RATE:,.0f})"
    )
    if naive:
        ratio = ours.rate / naive.rate
        print(
            f"{'PASS' if ratio >= TARGET_RATIO else 'FAIL'}: {ratio:.1f}x the naive pywebpush loop "
            f"(target >= {TARGET_RATIO:.0f}x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument(
        "--naive-count",
        type=int,
        default=None,
        help="messages for the naive loops (default: --count)",
    )
    parser.add_argument("--skip-node", action="store_true")
    parser.add_argument(
        "--profile", metavar="DIR", help="run the workers under cProfile, writing DIR/worker-N.prof"
    )
    parser.add_argument(
        "--py-spy",
        metavar="DIR",
        help="sample the workers with py-spy (installed separately) during the measured run",
    )
    parser.add_argument("--naive-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_child:
        naive_child(args.naive_child)
        return
    naive_count = min(args.naive_count or args.count, args.count)

    from backend.push.keys import write_new_key

    db = f"learnloop_bench_push_{secrets.token_hex(4)}"
    url = f"postgresql+asyncpg://{PG}/{db}"
    workdir = Path(tempfile.mkdtemp(prefix="learnloop-push-bench-"))
    cert, key = make_certificate(workdir)
    vapid_key_file = workdir / "vapid.pem"
    write_new_key(vapid_key_file)
    service, origin = start_push_service(cert, key)
    asyncio.run(_admin(f'CREATE DATABASE "{db}"'))
    rows: list[Row] = []
    try:
        print(f"seeding {args.count} learners and devices in {db} ...", file=sys.stderr)
        devices = asyncio.run(seed(url, origin, args.count))
        base_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            "SSL_CERT_FILE": str(cert),
            "REQUESTS_CA_BUNDLE": str(cert),
            "NODE_EXTRA_CA_CERTS": str(cert),
        }
        worker_env = base_env | {
            "LEARNLOOP_ENV": "production",
            "LEARNLOOP_SECRET_KEY": secrets.token_urlsafe(48),
            "LEARNLOOP_DATABASE_URL": url,
            "LEARNLOOP_VAPID_PRIVATE_KEY_FILE": str(vapid_key_file),
            "LEARNLOOP_VAPID_SUBJECT": SUBJECT,
            "LEARNLOOP_PUSH_CONCURRENCY": str(args.concurrency),
            "LEARNLOOP_PUSH_BATCH_SIZE": str(args.batch),
            "LEARNLOOP_LOG_LEVEL": "WARNING",
        }
        print("learnloop worker ...", file=sys.stderr)
        rows.append(run_learnloop(args, url, devices, worker_env, origin, cert, service.pid, db))
        print(check_samples(origin, cert, devices), file=sys.stderr)
        jobs = write_jobs(workdir, devices, naive_count, vapid_key_file)
        print(f"naive pywebpush loop ({naive_count}) ...", file=sys.stderr)
        rows.append(
            run_child(
                "pywebpush.webpush() loop",
                [sys.executable, __file__, "--naive-child", str(jobs)],
                base_env,
                naive_count,
            )
        )
        if not args.skip_node:
            if not (HERE / "node_modules" / "web-push").exists() or shutil.which("node") is None:
                rows.append(
                    Row("node web-push", 0, 0.0, "not installed: npm install --prefix benchmarks")
                )
            else:
                for lanes in (1, 64):
                    print(f"node web-push, {lanes} in flight ...", file=sys.stderr)
                    name = (
                        "node web-push, await each"
                        if lanes == 1
                        else f"node web-push, {lanes} in flight"
                    )
                    rows.append(
                        run_child(
                            name,
                            ["node", str(HERE / "web_push_naive.mjs"), str(jobs), str(lanes)],
                            base_env,
                            naive_count,
                        )
                    )
    finally:
        service.send_signal(signal.SIGTERM)
        with contextlib.suppress(Exception):
            service.wait(timeout=10)
        with contextlib.suppress(Exception):
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            print(f"dropped database {db}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(rows, args)


if __name__ == "__main__":
    main()
