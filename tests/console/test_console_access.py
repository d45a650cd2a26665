"""Who enters the console: every console route, read from the app itself.

Anonymous visitors are sent to sign in (and come back afterwards), employees get a 403 page
on every route and method, managers on every route but the leaders' pages (their team,
budget requests, insights), and an L&D admin gets every page that needs no id.
Cross-organisation checks live with each section's tests (they need that section's rows).
"""

import re

import pytest
from httpx import Response
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from backend.console.shell import requires_leader
from tests.factories import PASSWORD, World, sign_in, signed_in_client

PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")
SAMPLE = {
    "int": "1",
    "str": "x",
    "date": "2026-01-01",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def console_routes(app: Litestar, *, leaders: bool | None = None) -> list[tuple[str, str]]:
    """(method, path) of the console; ``leaders``: only the pages managers use too (True) or
    only the L&D admins' (False)."""
    routes = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        if not (route.path == "/console" or route.path.startswith("/console/")):
            continue
        for handler in route.route_handlers:
            for_leaders = requires_leader in handler.resolve_guards()
            if leaders is not None and for_leaders != leaders:
                continue
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                routes.append((method, route.path))
    return sorted(routes)


def below_the_floor(response: Response) -> bool:
    """A figures page refused for a group below the privacy floor (the test world is small)."""
    return response.status_code == 403 and "data-privacy-floor" in response.text


def concrete(path: str) -> str:
    return PARAM.sub(lambda m: SAMPLE.get(m.group(2) or "str", "1"), path)


def test_the_console_has_routes(app: Litestar) -> None:
    assert ("GET", "/console") in console_routes(app)


async def test_anonymous_visitors_are_sent_to_sign_in_and_come_back(
    app: Litestar, world: World
) -> None:
    async with AsyncTestClient(app=app) as client:
        for method, path in console_routes(app):
            response = await client.request(method, concrete(path), follow_redirects=False)
            if method == "GET":
                assert response.status_code == 303, (method, path)
                assert response.headers["location"].startswith("/login?next=%2Fconsole")
            else:  # a write without a session is stopped (by the CSRF check or the guard)
                assert response.status_code in (401, 403, 303), (method, path)
        # signing in from there leads back to the page that was asked for
        page = await client.get("/login?next=/console/courses")
        assert page.status_code == 200
        assert 'name="next" value="/console/courses"' in page.text
        token = client.cookies.get("learnloop_csrf")
        done = await client.post(
            "/login",
            data={
                "email": world.email("a", "ld_admin"),
                "password": PASSWORD,
                "next": "/console/courses",
                "_csrf_token": token,
            },
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/console/courses"


async def test_next_never_leads_to_another_site(app: Litestar, world: World) -> None:
    async with AsyncTestClient(app=app) as client:
        await client.get("/login")
        token = client.cookies.get("learnloop_csrf")
        for target in ("//evil.example/x", "https://evil.example", "/\\evil.example"):
            done = await client.post(
                "/login",
                data={
                    "email": world.email("a", "employee"),
                    "password": PASSWORD,
                    "next": target,
                    "_csrf_token": token,
                },
                follow_redirects=False,
            )
            assert done.headers["location"] == "/", target


def test_managers_have_pages_of_their_own(app: Litestar) -> None:
    pages = {p for m, p in console_routes(app, leaders=True) if m == "GET"}
    assert {"/console/team", "/console/budget", "/console/insights"} <= pages
    assert "/console/people" not in pages


@pytest.mark.parametrize("role", ["employee", "manager"])
async def test_employees_and_managers_get_403_on_every_ld_console_route(
    app: Litestar, world: World, role: str
) -> None:
    async with signed_in_client(app, world.email("a", role)) as client:
        for method, path in console_routes(app, leaders=False if role == "manager" else None):
            response = await client.request(
                method, concrete(path), headers={"accept": "text/html"}, follow_redirects=False
            )
            assert response.status_code == 403, (method, path, response.status_code)
            if method == "GET":
                assert "Only for " in response.text or "L&amp;D-beheerders" in response.text


async def test_a_manager_opens_the_leaders_pages_in_both_languages(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "manager")) as client:
        pages = [p for m, p in console_routes(app, leaders=True) if m == "GET" and "{" not in p]
        for path in pages:
            for lang in ("nl", "en"):
                response = await client.get(f"{path}?lang={lang}")
                assert response.status_code == 200 or below_the_floor(response), (
                    path,
                    response.status_code,
                    response.text[:300],
                )
                if response.headers.get("content-type", "").startswith("text/html"):
                    assert f'<html lang="{lang}">' in response.text, path
                    # the sidebar shows managers only their part of the console
                    assert 'href="/console/people"' not in response.text, path


async def test_an_ld_admin_opens_every_console_page_in_both_languages(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as client:
        pages = [p for m, p in console_routes(app) if m == "GET" and "{" not in p]
        assert pages
        for path in pages:
            for lang in ("nl", "en"):
                response = await client.get(f"{path}?lang={lang}")
                assert response.status_code == 200 or below_the_floor(response), (
                    path,
                    lang,
                    response.text[:300],
                )
                assert f'<html lang="{lang}">' in response.text or not response.headers.get(
                    "content-type", ""
                ).startswith("text/html")


async def test_an_ld_admin_lands_on_the_console_and_the_app_links_to_it(
    app: Litestar, world: World
) -> None:
    async with AsyncTestClient(app=app) as client:
        await client.get("/")
        token = client.cookies.get("learnloop_csrf")
        done = await client.post(
            "/login",
            data={
                "email": world.email("a", "ld_admin"),
                "password": PASSWORD,
                "_csrf_token": token,
            },
            follow_redirects=False,
        )
        assert done.headers["location"] == "/console"
        overview = await client.get("/console?lang=en")
        assert "Set up your programme" in overview.text
        assert 'href="/"' in overview.text  # back to the app
        today = await client.get("/?lang=en")
        assert 'href="/console"' in today.text
    async with signed_in_client(app, world.email("a", "employee")) as client:
        today = await client.get("/?lang=en")
        assert 'href="/console"' not in today.text
        assert 'href="/console/team"' not in today.text


async def test_a_manager_lands_on_their_team_and_the_app_links_to_it(
    app: Litestar, world: World
) -> None:
    async with AsyncTestClient(app=app) as client:
        await client.get("/")
        token = client.cookies.get("learnloop_csrf")
        done = await client.post(
            "/login",
            data={"email": world.email("a", "manager"), "password": PASSWORD, "_csrf_token": token},
            follow_redirects=False,
        )
        assert done.headers["location"] == "/console/team"
        today = await client.get("/?lang=en")
        assert 'href="/console/team"' in today.text


async def test_the_overview_counts_only_the_callers_organisation(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("b", "ld_admin")) as client:
        await sign_in(client, world.email("b", "ld_admin"))
        page = await client.get("/console?lang=en")
    # Globex has 3 people, 1 team, 1 course of its own; Acme's never add up here
    assert page.status_code == 200
    assert page.text.count('<p class="stat">3</p>') == 1
