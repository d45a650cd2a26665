"""An L&D admin imports courses from a CSV file with one bad row, fixes it and imports."""

from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, ViewportSize, expect
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import Course
from tests.browser.test_log_moment import watch_console
from tests.browser.test_pwa_shell import screenshot
from tests.factories import PASSWORD, World

LAPTOP = ViewportSize(width=1280, height=900)
TABLET = ViewportSize(width=800, height=1100)
HEADER = "external_id;title;format;duration_minutes;cost;competencies;hot_skill\r\n"
ROWS = (
    "LMS-1;Feedback geven;elearning;45;0;Communicatie;nee\r\n"
    "LMS-2;Excel voor analisten;classroom;240;149,50;Data|Excel;ja\r\n"
)


async def imported_titles(ctx: AppContext, org_id: int) -> set[str]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(Course.title).where(
                Course.organisation_id == org_id,
                Course.external_id.is_not(None),  # type: ignore[union-attr]
            )
        )
        return set(rows.all())


@pytest.mark.browser
async def test_a_bad_row_is_shown_and_nothing_imported_then_the_fixed_file_imports(
    browser: BrowserContext, page: Page, live_server: str, world: World, ctx: AppContext,
    tmp_path: Path,
) -> None:  # fmt: skip
    errors = watch_console(page)
    await page.set_viewport_size(LAPTOP)
    await page.goto(f"{live_server}/login")
    await page.fill("#email", world.email("a", "ld_admin"))
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")
    await page.get_by_role("link", name="Importeren").first.click()
    await expect(page.get_by_role("heading", name="Importeren", level=1)).to_be_visible()
    await expect(page.get_by_text("Nog geen imports")).to_be_visible()
    await screenshot(page, "console-import-empty-1280-nl", tmp_path)

    bad = tmp_path / "cursussen.csv"
    bad.write_bytes(("\ufeff" + HEADER + ROWS + "LMS-3;Timemanagement;webinar;0;;;\r\n").encode())
    await page.get_by_label("Cursussen").check()
    await page.locator("#f-file").set_input_files(bad)
    await page.get_by_role("button", name="Controleren en importeren").click()

    problems = page.locator("#import-errors tbody tr")
    await expect(page.get_by_role("heading", name="1 probleem in “cursussen.csv”: er is niets geïmporteerd")).to_be_visible()  # fmt: skip
    await expect(problems).to_have_count(1)
    await expect(problems.first.locator("td").nth(0)).to_have_text("4")
    await expect(problems.first.locator("td").nth(1)).to_have_text("duration_minutes")
    await expect(problems.first.locator("td").nth(2)).to_have_text("Dit getal is te klein.")
    assert await imported_titles(ctx, world.a.id) == set()
    await screenshot(page, "console-import-errors-1280-nl", tmp_path)

    fixed = tmp_path / "cursussen-verbeterd.csv"
    fixed.write_bytes(
        ("\ufeff" + HEADER + ROWS + "LMS-3;Timemanagement;webinar;30;;;\r\n").encode()
    )
    await page.locator("#f-file").set_input_files(fixed)
    await page.get_by_role("button", name="Controleren en importeren").click()
    await expect(page.locator("#count-created")).to_have_text("3")  # after the JS saw it finish
    await expect(page.get_by_text("3 rijen geïmporteerd.")).to_be_visible()
    await expect(page.locator("#count-unchanged")).to_have_text("0")
    await screenshot(page, "console-import-done-1280-nl", tmp_path)
    assert await imported_titles(ctx, world.a.id) == {
        "Feedback geven",
        "Excel voor analisten",
        "Timemanagement",
    }

    # the course is in the catalogue, for learners too
    await page.goto(f"{live_server}/catalogue")
    await expect(page.get_by_text("Timemanagement").first).to_be_visible()

    # the same pages in English and on a tablet
    await page.set_viewport_size(TABLET)
    await page.goto(f"{live_server}/console/import?lang=en")
    await expect(page.get_by_role("heading", name="Recent imports")).to_be_visible()
    await expect(page.locator("table.data").last).to_contain_text("cursussen-verbeterd.csv")
    await screenshot(page, "console-import-800-en", tmp_path)
    # the rejected upload answers 400 on purpose (the browser logs it); nothing else went wrong
    assert [e for e in errors if "status of 400" not in e] == []
