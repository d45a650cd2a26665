"""What the operations layer (backend/ops/middleware.py: request id, request counter) costs a
request: 2,000 ``GET /healthz`` through Litestar's test client with the layer and without it
(the same app, its wrapper taken off), in alternating rounds, and the layer alone around a
bare ASGI app (CPU per call, 200,000 calls). Needs a PostgreSQL for /healthz's ``SELECT 1``:
``LEARNLOOP_TEST_DATABASE_URL`` or ``--database-url`` (default the local test server).

    uv run python benchmarks/ops_overhead.py [--requests 2000] [--rounds 5]
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# the project's pwa/ package first, not benchmarks/pwa.py
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.auth.passwords import TEST_HASH_COST
from backend.context import AppContext
from backend.ops.middleware import OperationsMiddleware
from backend.settings import Settings

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


Rounds = dict[str, list[float]]


async def http_rounds(url: str, requests: int, rounds: int) -> tuple[Rounds, Rounds]:
    """Per round, wall and CPU (this process: client, app and driver) us per request."""
    settings = Settings(
        database_url=url, secret_key="bench-" + "x" * 40, env="test", password_cost=TEST_HASH_COST
    )
    ctx = AppContext.from_settings(settings)  # pooled, as a server process
    app = create_app(context=ctx)
    wrapped = app.asgi_handler
    assert isinstance(wrapped, OperationsMiddleware)
    with_layer: Rounds = {"wall": [], "cpu": []}
    without: Rounds = {"wall": [], "cpu": []}
    async with AsyncTestClient(app=app) as client:
        for _ in range(200):  # warm up: connections, caches
            await client.get("/healthz")
        for _ in range(rounds):
            for handler, results in ((wrapped.app, without), (wrapped, with_layer)):
                app.asgi_handler = handler
                started, cpu = time.perf_counter(), time.process_time()
                for _ in range(requests):
                    response = await client.get("/healthz")
                    assert response.status_code == 200
                results["wall"].append((time.perf_counter() - started) / requests * 1e6)
                results["cpu"].append((time.process_time() - cpu) / requests * 1e6)
    app.asgi_handler = wrapped
    await ctx.engine.dispose()
    return with_layer, without


async def asgi_rounds(url: str, requests: int, rounds: int) -> tuple[Rounds, Rounds]:
    """The same, calling the app as an ASGI app (no test client, no HTTP): what the app
    itself spends per request, with and without the layer."""
    settings = Settings(
        database_url=url, secret_key="bench-" + "x" * 40, env="test", password_cost=TEST_HASH_COST
    )
    ctx = AppContext.from_settings(settings)
    app = create_app(context=ctx)
    wrapped = app.asgi_handler
    assert isinstance(wrapped, OperationsMiddleware)
    headers = [(b"host", b"127.0.0.1:8000"), (b"accept", b"*/*"), (b"user-agent", b"bench")]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def one() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/healthz",
            "raw_path": b"/healthz",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        await app(scope, receive, send)  # type: ignore[arg-type]

    with_layer: Rounds = {"wall": [], "cpu": []}
    without: Rounds = {"wall": [], "cpu": []}
    for _ in range(200):
        await one()
    for _ in range(rounds):
        for handler, results in ((wrapped.app, without), (wrapped, with_layer)):
            app.asgi_handler = handler
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(requests):
                await one()
            results["wall"].append((time.perf_counter() - started) / requests * 1e6)
            results["cpu"].append((time.process_time() - cpu) / requests * 1e6)
    app.asgi_handler = wrapped
    await ctx.engine.dispose()
    assert set(statuses) == {200}, set(statuses)
    return with_layer, without


async def layer_alone(calls: int) -> tuple[float, float]:
    """CPU us per call of a bare ASGI app, and of the same app inside the layer."""

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def sink(message: Any) -> None:
        return None

    class Context:
        settings = Settings(secret_key="x" * 40)
        engine = None

    layer = OperationsMiddleware(bare, Context())  # type: ignore[arg-type]
    headers = [(b"host", b"testserver"), (b"accept", b"*/*"), (b"user-agent", b"bench")]
    results = []
    for app in (bare, layer):
        started = time.process_time()
        for _ in range(calls):
            scope = {
                "type": "http",
                "method": "GET",
                "path": "/healthz",
                "headers": headers,
                "path_template": "/healthz",
            }
            await app(scope, None, sink)
        results.append((time.process_time() - started) / calls * 1e6)
    return results[0], results[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument(
        "--database-url", default=os.environ.get("LEARNLOOP_TEST_DATABASE_URL") or DEFAULT_URL
    )
    args = parser.parse_args()
    for title, rounds in (
        ("through the test client", http_rounds),
        ("called as an ASGI app (no HTTP)", asgi_rounds),
    ):
        with_layer, without = asyncio.run(rounds(args.database_url, args.requests, args.rounds))
        print(f"\nGET /healthz x {args.requests} {title}, {args.rounds} rounds")
        print("| us per request | wall median | wall min | CPU median | CPU min |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, got in (("without the layer", without), ("with the layer", with_layer)):
            wall, cpu = got["wall"], got["cpu"]
            print(
                f"| {name} | {statistics.median(wall):.0f} | {min(wall):.0f} | "
                f"{statistics.median(cpu):.0f} | {min(cpu):.0f} |"
            )
        for kind in ("wall", "cpu"):
            difference = statistics.median(with_layer[kind]) - statistics.median(without[kind])
            print(f"difference of {kind} medians: {difference:+.1f} us per request")
    bare, layered = asyncio.run(layer_alone(args.calls))
    print(
        f"the layer alone ({args.calls:,} calls, CPU): bare ASGI app {bare:.2f} us, inside the "
        f"layer {layered:.2f} us, cost {layered - bare:.2f} us per request"
    )


if __name__ == "__main__":
    main()
