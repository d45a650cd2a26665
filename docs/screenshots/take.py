"""Screenshots of the learner app for the docs: Today, Catalogue, Log and Progress, in Dutch and
English, on a 320 px and a 390 px phone and a 1280 px laptop.

    LEARNLOOP_DATA_DIR=/tmp/demo uv run learnloop serve --demo --port 8765   # one terminal
    uv run python docs/screenshots/take.py [--base http://127.0.0.1:8765]    # another one

Signs in as the demo employee and writes <page>-<lang>-<width>.png next to this file: the whole
page on a phone (as if the phone were as tall as the page, so the tab bar sits at its foot), the
first screen (1280 x 800) on a laptop, whose side bar stays in place.
Chromium is Debian's (LEARNLOOP_CHROMIUM, default /usr/bin/chromium).
"""

import argparse
import asyncio
import os
from pathlib import Path

from playwright.async_api import async_playwright

HERE = Path(__file__).resolve().parent
PAGES = (("today", "/"), ("catalogue", "/catalogue"), ("log", "/log"), ("progress", "/progress"))
SIZES = ((320, 640), (390, 844), (1280, 800))
EMPLOYEE = "sanne.devries@polderhaven.nl"
PASSWORD = "leren-is-leuk"


async def take(base: str) -> None:
    chromium = os.environ.get("LEARNLOOP_CHROMIUM", "/usr/bin/chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for lang in ("nl", "en"):
            for width, height in SIZES:
                context = await browser.new_context(
                    viewport={"width": width, "height": height},
                    locale="nl-NL" if lang == "nl" else "en-GB",
                    timezone_id="Europe/Amsterdam",
                )
                page = await context.new_page()
                await page.goto(f"{base}/?lang={lang}")
                await page.fill("#email", EMPLOYEE)
                await page.fill("#password", PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_load_state()
                for name, path in PAGES:
                    await page.goto(f"{base}{path}?lang={lang}")
                    await page.wait_for_load_state("networkidle")
                    target = HERE / f"{name}-{lang}-{width}.png"
                    if width < 900:
                        # a phone as tall as the page, so the tab bar sits at its foot
                        tall = await page.evaluate("document.scrollingElement.scrollHeight")
                        await page.set_viewport_size({"width": width, "height": tall})
                    await page.screenshot(path=str(target))
                    await page.set_viewport_size({"width": width, "height": height})
                    print(target.relative_to(HERE.parents[1]))
                await context.close()
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="http://127.0.0.1:8765")
    asyncio.run(take(parser.parse_args().base))


if __name__ == "__main__":
    main()
