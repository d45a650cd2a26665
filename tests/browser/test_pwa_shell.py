"""The installable app in a real Chromium: sign-in, manifest, service worker, offline shell."""

import os
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.factories import PASSWORD, World

ICONS = Path(__file__).resolve().parents[2] / "pwa" / "static" / "icons"
# set to keep the phone screenshots (otherwise they go to the test's tmp_path)
SCREENSHOT_DIR = os.environ.get("LEARNLOOP_SCREENSHOTS")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "a PNG file"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def png_pixels(data: bytes) -> list[bytes]:
    """Rows of RGBA pixels of an unfiltered 8-bit RGBA PNG (what make_icons.py writes)."""
    width, height = png_size(data)
    assert data[24:26] == bytes((8, 6)), "8-bit RGBA"
    idat, pos = b"", 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + 4 * width
    rows = [raw[i * stride : (i + 1) * stride] for i in range(height)]
    assert all(row[0] == 0 for row in rows), "rows are unfiltered"
    return [row[1:] for row in rows]


async def sign_in(page: Page, base: str) -> None:
    await page.goto(f"{base}/")
    await page.fill("#email", "sam@example.com")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("h1.greeting")).to_contain_text("Sam")


async def service_worker_ready(page: Page) -> str:
    script: str = await page.evaluate(
        "navigator.serviceWorker.ready.then((registration) => registration.active.scriptURL)"
    )
    return script


async def wait_until_cached(page: Page, path: str) -> None:
    """The service worker stores a copy after answering; wait for that copy to land."""
    await page.wait_for_function(
        "async (path) => Boolean(await caches.match(path))", arg=path, timeout=5000
    )


async def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    target = Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(target / f"{name}.png"), full_page=True)


@pytest.mark.browser
async def test_signing_in_through_the_form_shows_today_without_console_errors(
    browser: BrowserContext, page: Page, live_server: str, world: World
) -> None:
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    await sign_in(page, live_server)
    await expect(page).to_have_title("Vandaag · learnloop")
    await expect(page.get_by_role("button", name="Uitloggen")).to_be_visible()
    await service_worker_ready(page)
    # a CSP violation (inline script, manifest, worker) would show up as a console error
    assert errors == []


async def test_manifest_is_served_with_installable_fields_and_real_icons(
    live_server: str,
) -> None:
    async with httpx.AsyncClient(base_url=live_server) as client:
        response = await client.get("/manifest.webmanifest")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/manifest+json")
        manifest = response.json()
        assert manifest["name"] == "learnloop" and manifest["short_name"]
        assert manifest["start_url"] == "/?source=pwa" and manifest["scope"] == "/"
        assert manifest["display"] == "standalone"
        assert manifest["theme_color"] == "#0f766e"
        assert manifest["background_color"] == "#f6f7f5"
        assert manifest["lang"] in ("nl", "en")
        png_icons = {
            (icon["sizes"], icon.get("purpose", "any")): icon["src"]
            for icon in manifest["icons"]
            if icon["type"] == "image/png"
        }
        assert set(png_icons) >= {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")}
        for (sizes, _purpose), src in png_icons.items():
            icon = await client.get(src)
            assert icon.status_code == 200 and icon.headers["content-type"] == "image/png"
            assert "x".join(map(str, png_size(icon.content))) == sizes, src
        touch = await client.get("/static/icons/apple-touch-icon.png")
        assert png_size(touch.content) == (180, 180)
        home = await client.get("/")
        assert '<link rel="manifest" href="/manifest.webmanifest">' in home.text
        assert (
            '<link rel="apple-touch-icon" href="/static/icons/apple-touch-icon.png">' in home.text
        )


def test_maskable_icon_keeps_the_logo_inside_the_safe_zone() -> None:
    rows = png_pixels((ICONS / "icon-maskable-512.png").read_bytes())
    size = len(rows)
    teal = bytes((0x0F, 0x76, 0x6E, 0xFF))
    safe_radius = 0.4 * size  # the circle every launcher mask keeps
    outside = [
        row[4 * x : 4 * x + 4]
        for y, row in enumerate(rows)
        for x in range(size)
        if (x + 0.5 - size / 2) ** 2 + (y + 0.5 - size / 2) ** 2 > safe_radius**2
    ]
    assert outside and all(pixel == teal for pixel in outside), "only background outside"
    middle_column = [row[2 * size : 2 * size + 4] for row in rows]
    assert any(pixel != teal for pixel in middle_column), "the logo is drawn inside it"


@pytest.mark.browser
async def test_service_worker_registers_and_controls_the_page_after_reload(
    page: Page, live_server: str
) -> None:
    await page.goto(f"{live_server}/")
    assert await service_worker_ready(page) == f"{live_server}/sw.js"
    await page.reload()
    controller = await page.evaluate("navigator.serviceWorker.controller?.scriptURL")
    assert controller == f"{live_server}/sw.js"
    async with httpx.AsyncClient(base_url=live_server) as client:
        script = await client.get("/sw.js")
    assert script.headers["service-worker-allowed"] == "/"
    assert "no-cache" in script.headers["cache-control"]
    assert "__SHELL_VERSION__" not in script.text, "the cache name carries a real version"
    cache_names = await page.evaluate("caches.keys()")
    assert any(name.startswith("learnloop-shell-") for name in cache_names)
    assert await page.evaluate("caches.match('/offline').then((r) => Boolean(r))")


@pytest.mark.browser
async def test_chromium_finds_nothing_that_prevents_installing(
    browser: BrowserContext, page: Page, live_server: str
) -> None:
    await page.goto(f"{live_server}/")
    await service_worker_ready(page)
    cdp = await browser.new_cdp_session(page)
    manifest = await cdp.send("Page.getAppManifest")
    assert manifest["url"] == f"{live_server}/manifest.webmanifest"
    assert manifest["errors"] == []
    installability = await cdp.send("Page.getInstallabilityErrors")
    assert installability["installabilityErrors"] == []


@pytest.mark.browser
async def test_today_stays_readable_offline_and_unknown_pages_say_offline(
    browser: BrowserContext, page: Page, live_server: str, world: World, tmp_path: Path
) -> None:
    await sign_in(page, live_server)
    await service_worker_ready(page)
    await page.reload()  # now through the service worker, which keeps a copy
    await wait_until_cached(page, "/")
    await screenshot(page, "today", tmp_path)

    await browser.set_offline(True)
    await page.reload()
    await expect(page.locator("h1.greeting")).to_contain_text("Sam")
    # the installed app opens at its start URL, which falls back to the same page
    await page.goto(f"{live_server}/?source=pwa")
    await expect(page.locator("h1.greeting")).to_contain_text("Sam")

    await page.goto(f"{live_server}/never-visited")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Je bent offline")
    await expect(page.get_by_role("link", name="Opnieuw proberen")).to_be_visible()
    overflow = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert not overflow, "the offline page fits a phone screen"
    await screenshot(page, "offline", tmp_path)

    # back online, the offline page reloads by itself. Playwright lifts the page's offline
    # emulation a moment before the service worker's, so that first reload may still land on
    # the offline page; the next one gets the real answer (this URL really doesn't exist).
    async with page.expect_navigation():
        await browser.set_offline(False)
    await page.reload()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Pagina niet gevonden")


@pytest.mark.browser
async def test_signing_out_forgets_the_cached_pages_and_data(
    browser: BrowserContext, page: Page, live_server: str, world: World
) -> None:
    await sign_in(page, live_server)
    await service_worker_ready(page)
    await page.reload()
    # the Today API is kept for offline use; other API answers never are
    assert await page.evaluate("fetch('/api/v1/me/today').then((r) => r.status)") == 200
    assert await page.evaluate("fetch('/api/v1/me').then((r) => r.status)") == 200
    await wait_until_cached(page, "/api/v1/me/today")
    assert not await page.evaluate("caches.match('/api/v1/me').then((r) => Boolean(r))")

    await page.get_by_role("button", name="Uitloggen").click()
    await expect(page.locator("#email")).to_be_visible()
    assert not await page.evaluate("caches.match('/api/v1/me/today').then((r) => Boolean(r))")
    await browser.set_offline(True)
    await page.reload()
    await expect(page.locator("h1.greeting")).to_have_count(0)
