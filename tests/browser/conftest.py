"""Real-browser tests: the app under uvicorn on 127.0.0.1, driven by Debian's Chromium.

Every test gets its own server (on the test's database, through the ``ctx`` fixture) and its
own Chromium profile, so service workers and caches never leak from one test to the next.

Chromium comes from LEARNLOOP_CHROMIUM (default /usr/bin/chromium). Without it the tests are
skipped, except with CI=true, where a missing browser fails the run.
"""

import asyncio
import os
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.async_api import BrowserContext, Page, ViewportSize, async_playwright

from backend.app import create_app
from backend.context import AppContext

CHROMIUM = Path(os.environ.get("LEARNLOOP_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
IN_CI = os.environ.get("CI", "").lower() == "true"
PHONE = ViewportSize(width=390, height=844)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every browser test is a slow one (``pytest -m "not slow"`` leaves them out)."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
async def live_server(ctx: AppContext) -> AsyncIterator[str]:
    """The real app served over HTTP in a background thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # a free port, held open until uvicorn takes it over
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(create_app(context=ctx), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    # uvicorn only installs signal handlers in the main thread, so Ctrl-C still reaches pytest
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(200):
                if not thread.is_alive():
                    pytest.fail("the app server stopped while starting")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.025)
            else:
                pytest.fail(f"the app server at {base} did not answer /healthz within 5 s")
        yield base
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10)
        sock.close()


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"Chromium not found at {CHROMIUM} (set LEARNLOOP_CHROMIUM)"
        if IN_CI:
            pytest.fail(f"browser tests need Chromium in CI: {reason}")
        pytest.skip(f"browser tests skipped: {reason}")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path, tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """A phone-sized Chromium with a fresh persistent profile (needed for installability)."""
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=chromium,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="nl-NL",
            timezone_id="Europe/Amsterdam",
        )
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
async def page(browser: BrowserContext) -> Page:
    return browser.pages[0] if browser.pages else await browser.new_page()
