"""Every page in a real Chromium, in Dutch and English: axe-core finds nothing, not even a
minor issue; and hostile text in a course title or testimonial stays text.

axe-core is vendored (tests/browser/vendor) and injected through the DevTools protocol, which
the page's Content-Security-Policy does not apply to, so the pages keep their real CSP.
"""

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, expect

from backend.context import AppContext
from backend.db.models import Course
from backend.db.models import Testimonial as StoredTestimonial  # a "Test..." name is collected
from tests.browser.test_pwa_shell import screenshot, service_worker_ready, sign_in
from tests.factories import World

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
HOSTILE = '<script>alert("xss")</script><img src=x onerror="alert(\'img\')">'


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Every axe-core violation on the page as it is now, whatever its impact."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.evaluate(AXE + "\n;true")
    results: dict[str, Any] = await page.evaluate(
        "axe.run(document, {resultTypes: ['violations']})"
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in results["violations"]
    ]


async def _seed_rich_pages(ctx: AppContext, world: World) -> None:
    """A testimonial, so the course page shows one."""
    async with ctx.sessionmaker() as session:
        session.add(
            StoredTestimonial(
                organisation_id=world.a.id,
                course_id=world.a.course_id,
                user_id=world.a.users["manager"].id or 0,
                text="Heel praktisch, direct toepasbaar.",
            )
        )
        await session.commit()


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["nl", "en"])
async def test_axe_finds_nothing_on_any_learner_page(
    browser: BrowserContext,
    page: Page,
    live_server: str,
    world: World,
    ctx: AppContext,
    lang: str,
    tmp_path: Path,
) -> None:
    await _seed_rich_pages(ctx, world)
    found: dict[str, list[dict[str, Any]]] = {}

    async def check(path: str, label: str | None = None) -> None:
        separator = "&" if "?" in path else "?"
        response = await page.goto(f"{live_server}{path}{separator}lang={lang}")
        assert response is not None and response.ok, path
        await expect(page.locator("html")).to_have_attribute("lang", lang)
        violations = await axe_violations(page)
        if violations:
            found[path] = violations
        # phone-size pictures of every page (kept with LEARNLOOP_SCREENSHOTS=<folder>)
        name = label or path.strip("/").replace("/", "-").replace("?step=", "-") or "today"
        await screenshot(page, f"{name}-{lang}", tmp_path)

    await check("/", "sign-in")
    await check("/offline", "offline-signed-out")
    await page.goto(f"{live_server}/?lang={lang}")
    await sign_in_as(page, live_server, lang)
    await service_worker_ready(page)
    for path in (
        "/",
        "/welcome",
        "/welcome?step=2",
        "/welcome?step=3",
        "/log",
        "/catalogue",
        f"/catalogue/{world.a.course_id}",
        "/catalogue/budget",
        "/progress",
        "/goals",
        "/team",
        "/team/kudos",
        "/settings",
        "/offline",
    ):
        await check(path)
    assert found == {}


async def sign_in_as(page: Page, base: str, lang: str) -> None:
    if lang == "nl":
        await sign_in(page, base)
        return
    await page.fill("#email", "sam@example.com")
    from tests.factories import PASSWORD

    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("h1.greeting")).to_contain_text("Sam")


@pytest.mark.browser
async def test_script_in_a_course_title_and_a_testimonial_shows_as_text_and_never_runs(
    browser: BrowserContext, page: Page, live_server: str, world: World, ctx: AppContext
) -> None:
    async with ctx.sessionmaker() as session:
        course = Course(organisation_id=world.a.id, title=f"Hack {HOSTILE}", duration_minutes=30)
        session.add(course)
        await session.flush()
        assert course.id is not None
        session.add(
            StoredTestimonial(
                organisation_id=world.a.id,
                course_id=course.id,
                user_id=world.a.users["manager"].id or 0,
                text=f"Great {HOSTILE}",
            )
        )
        await session.commit()
        course_id = course.id
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    await page.add_init_script("window.__ran = []; window.alert = (m) => window.__ran.push(m);")
    await sign_in(page, live_server)

    await page.goto(f"{live_server}/catalogue?q=Hack")
    await expect(page.locator(".course-card h3")).to_contain_text('<script>alert("xss")</script>')
    await page.goto(f"{live_server}/catalogue/{course_id}")
    await expect(page.locator("h1")).to_contain_text("<img src=x onerror=")
    await expect(page.locator(".testimonial-text")).to_contain_text(
        'Great <script>alert("xss")</script>'
    )
    # no element was made from the hostile text, and nothing of it ran
    assert await page.locator("main script, main img[src='x']").count() == 0
    assert await page.evaluate("window.__ran") == []
    assert dialogs == []
