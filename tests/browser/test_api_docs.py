"""The API docs at /schema in a real Chromium: they render under the app's strict CSP."""

from playwright.async_api import Page, expect


async def test_the_api_docs_render_without_breaking_the_csp(live_server: str, page: Page) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" or "Content Security Policy" in message.text
            else None
        ),
    )
    await page.set_viewport_size({"width": 1280, "height": 900})
    # the browser reports every blocked script, style or image as a securitypolicyviolation
    await page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation', (e) =>"
        " window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )

    response = await page.goto(f"{live_server}/schema")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp

    await expect(page.locator(".info .title")).to_contain_text("learnloop API")
    # an operation's summary, as written in the route's summary=
    operation = page.get_by_text("Liveness and database check")
    await expect(operation).to_be_visible()
    # opening an operation renders its details (parameters, responses) too
    await operation.click()
    await expect(page.locator(".opblock.is-open .responses-wrapper")).to_be_visible()
    # a long list is drawn as it scrolls into view: scroll down to a later section
    later = page.get_by_text("Approve a testimonial")
    for _ in range(400):
        if await later.count():
            break
        await page.mouse.wheel(0, 500)  # in steps shorter than a section: none is skipped
        await page.wait_for_timeout(50)
    await expect(later).to_be_visible()

    assert await page.evaluate("window.__violations") == []
    assert problems == []
    # everything the page loaded came from the app itself
    hosts = await page.evaluate(
        "[...new Set(performance.getEntriesByType('resource').map((r) => new URL(r.name).host))]"
    )
    assert hosts == [live_server.removeprefix("http://")]
