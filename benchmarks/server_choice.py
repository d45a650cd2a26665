"""Measure and pick the production ASGI server: uvicorn (uvloop + httptools) vs granian.

    uv run python benchmarks/server_choice.py [--duration 10] [--warmup 3] [--rounds 1]

Each server runs ``backend.app:create_app`` (factory) with one worker on a free 127.0.0.1 port,
on an empty, migrated embedded PostgreSQL in a temporary folder. A load generator in its own
process (``wrk`` when installed — ``apt-get install wrk`` — else the small asyncio HTTP/1.1
client in this file) keeps a fixed number of keep-alive connections busy against

- ``/healthz``              the app's full stack plus a database round trip (SELECT 1), and
- ``/static/css/app.css``   a static file through Litestar's static files router,

first for a warm-up, then for the measured run. On Linux the server is pinned to CPU 0 and
the load generator to CPU 1 (when there are two), so they do not steal each other's core.
Everything stops by itself: every step has a timeout and the servers are stopped at the end.
Only 127.0.0.1 is ever contacted. Prints a table; nothing is written outside a temp folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
ENDPOINTS = ("/healthz", "/static/css/app.css")
APP = "backend.app:create_app"


@dataclass(frozen=True)
class Server:
    name: str
    argv: Callable[[int], list[str]]


SERVERS = (
    Server(
        "uvicorn",
        lambda port: [
            sys.executable, "-m", "uvicorn", APP, "--factory",
            "--loop", "uvloop", "--http", "httptools",
            "--host", HOST, "--port", str(port), "--workers", "1",
            "--no-access-log", "--log-level", "warning",
        ],
    ),
    Server(
        "granian",
        lambda port: [
            sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
            "--loop", "uvloop",
            "--host", HOST, "--port", str(port), "--workers", "1",
            "--no-access-log", "--log-level", "warning",
            APP,
        ],
    ),
)  # fmt: skip


@dataclass
class Result:
    server: str
    endpoint: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us: float  # server CPU time (user + system, all its processes) per request
    tool: str


# --- helpers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every live process in process group ``pgid`` (Linux /proc).

    Unlike req/s this barely moves when other work shares the machine, so it is the steadier
    number for comparing servers on a busy box."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # fields[0] is field 3 (state); pgrp is field 5
                ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def _pin(cpu: int) -> Callable[[], None] | None:
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def run_checked(argv: list[str], env: dict[str, str], timeout: float) -> None:
    result = subprocess.run(
        argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")


def wait_until_up(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before it answered")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=2) as resp,
        ):
            if resp.status == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"server on port {port} did not answer /healthz within {timeout:.0f}s")


@contextlib.contextmanager
def running(server: Server, env: dict[str, str], log: Path) -> Iterator[tuple[int, int]]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            server.argv(port),
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops its workers
            preexec_fn=_pin(0),
        )
        try:
            wait_until_up(port, proc)
            for path in ENDPOINTS:  # both must really answer 200 before we measure them
                with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=5) as resp:
                    assert resp.status == 200, (path, resp.status)
            yield port, proc.pid  # the pid is also the process group id
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


# --- load generators -------------------------------------------------------------------------

_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _WRK_UNITS[match.group(2)]


def load_wrk(url: str, seconds: float, connections: int) -> tuple[float, float, float, int, int]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        preexec_fn=_pin(1),
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _wrk_ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _wrk_ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return rps, p50, p99, total, errors


async def _client(port: int, path: str, seconds: float, connections: int) -> dict[str, object]:
    """Fixed-concurrency HTTP/1.1 keep-alive load: ``connections`` loops, each one request at
    a time. Deliberately minimal (Content-Length or chunked bodies, nothing else)."""
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: */*\r\n\r\n".encode()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def read_response(reader: asyncio.StreamReader) -> int:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        headers = head.decode("latin-1").lower()
        if m := re.search(r"\r\ncontent-length:\s*(\d+)", headers):
            await reader.readexactly(int(m.group(1)))
        elif "transfer-encoding: chunked" in headers:
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        return status

    async def loop() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    writer.write(request)
                    status = await asyncio.wait_for(read_response(reader), timeout=10)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, port)
                    continue
                latencies.append(time.perf_counter() - start)
                if not 200 <= status < 400:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    q = (
        statistics.quantiles(latencies, n=100, method="inclusive")
        if len(latencies) > 1
        else [0.0] * 99
    )
    return {
        "rps": len(latencies) / elapsed,
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
        "requests": len(latencies),
        "errors": errors,
    }


def load_python(
    port: int, path: str, seconds: float, connections: int
) -> tuple[float, float, float, int, int]:
    # In its own process (like wrk), so the client never shares an interpreter with a server.
    code = (
        "import asyncio, json, sys; sys.path.insert(0, sys.argv[1]); "
        "from server_choice import _client; "
        "print(json.dumps(asyncio.run(_client(int(sys.argv[2]), sys.argv[3], "
        "float(sys.argv[4]), int(sys.argv[5])))))"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(Path(__file__).parent),
            str(port),
            path,
            str(seconds),
            str(connections),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        preexec_fn=_pin(1),
    )
    if out.returncode != 0:
        raise SystemExit(f"load generator failed:\n{out.stderr}")
    r = json.loads(out.stdout)
    return r["rps"], r["p50"], r["p99"], r["requests"], r["errors"]


def load(
    tool: str, port: int, path: str, seconds: float, connections: int
) -> tuple[float, float, float, int, int]:
    if tool == "wrk":
        return load_wrk(f"http://{HOST}:{port}{path}", seconds, connections)
    return load_python(port, path, seconds, connections)


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per run")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds (servers alternate); medians are shown"
    )
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    if not 1 <= args.duration <= 120 or not 0 <= args.warmup <= 60 or not 1 <= args.rounds <= 5:
        parser.error("keep it bounded: duration 1-120 s, warm-up 0-60 s, rounds 1-5")
    tool = args.loadgen
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "python"
    elif tool == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk)")

    with tempfile.TemporaryDirectory(prefix="learnloop-bench-") as tmp:
        env = {
            **os.environ,
            "LEARNLOOP_ENV": "production",
            "LEARNLOOP_DATA_DIR": f"{tmp}/data",  # an embedded PostgreSQL, thrown away after
            "LEARNLOOP_SECRET_KEY": secrets.token_urlsafe(48),
            "LEARNLOOP_LOG_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.pop("LEARNLOOP_SECRET_KEY_FILE", None)
        env.pop("LEARNLOOP_DATABASE_URL", None)
        run_checked([sys.executable, "-m", "backend.cli", "migrate"], env, timeout=120)
        print(
            f"load: {tool}, {args.connections} connections, {args.warmup:g}s warm-up + "
            f"{args.duration:g}s per run, {args.rounds} round(s); server on CPU 0, load on CPU 1",
            file=sys.stderr,
        )
        runs: dict[tuple[str, str], list[Result]] = {}
        for round_no in range(args.rounds):
            # alternate the order, so neither server always gets the quieter slot
            order = SERVERS if round_no % 2 == 0 else tuple(reversed(SERVERS))
            for server in order:
                log = Path(tmp) / f"{server.name}.log"
                try:
                    with running(server, env, log) as (port, pgid):
                        for path in ENDPOINTS:
                            if args.warmup:
                                load(tool, port, path, args.warmup, args.connections)
                            cpu_before = group_cpu_seconds(pgid)
                            rps, p50, p99, n, errors = load(
                                tool, port, path, args.duration, args.connections
                            )
                            cpu_us = (group_cpu_seconds(pgid) - cpu_before) / max(n, 1) * 1e6
                            print(
                                f"  round {round_no + 1} {server.name:<8} {path:<20} "
                                f"{rps:7.0f} req/s  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
                                f"{cpu_us:6.0f} CPU-us/req",
                                file=sys.stderr,
                            )
                            runs.setdefault((server.name, path), []).append(
                                Result(server.name, path, rps, p50, p99, n, errors, cpu_us, tool)
                            )
                except BaseException:
                    sys.stderr.write(log.read_text(errors="replace")[-3000:])
                    raise

    print_table(runs)


def print_table(runs: dict[tuple[str, str], list[Result]]) -> None:
    """Medians over the rounds (and the req/s range when there was more than one round).

    "vs uvicorn" after req/s: higher is better; after CPU us/req: lower is better."""
    print()
    print(
        f"{'server':<9} {'endpoint':<20} {'req/s':>7} {'(range)':>13} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'errors':>6} {'vs uvicorn':>10} {'CPU us/req':>10} {'vs uvicorn':>10}"
    )
    for path in ENDPOINTS:
        base = statistics.median(r.rps for r in runs[("uvicorn", path)])
        base_cpu = statistics.median(r.cpu_us for r in runs[("uvicorn", path)])
        for server in SERVERS:
            rs = runs[(server.name, path)]
            rps = statistics.median(r.rps for r in rs)
            cpu = statistics.median(r.cpu_us for r in rs)
            spread = (
                f"{min(r.rps for r in rs):.0f}-{max(r.rps for r in rs):.0f}" if len(rs) > 1 else ""
            )
            print(
                f"{server.name:<9} {path:<20} {rps:>7.0f} {spread:>13} "
                f"{statistics.median(r.p50_ms for r in rs):>7.2f} "
                f"{statistics.median(r.p99_ms for r in rs):>7.2f} "
                f"{sum(r.errors for r in rs):>6} {rps / base:>9.2f}x "
                f"{cpu:>10.0f} {cpu / base_cpu:>9.2f}x"
            )
    print(
        "\nmedians over the rounds; errors: non-2xx/3xx answers plus socket errors, summed (wrk "
        "counts a request slower than 2 s as a timeout); CPU us/req: the server's own CPU time."
    )


if __name__ == "__main__":
    main()
