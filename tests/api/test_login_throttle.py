"""Login throttling slows guessing per account and address with growing delays, and never
locks a whole office (one shared address) out: a colleague's right password signs in.
HSTS in production."""

import re
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.auth.rate_limit import LoginRateLimiter
from backend.context import AppContext
from backend.settings import Settings
from tests.factories import PASSWORD, World

WINDOW = 900.0


def test_delays_double_after_the_free_failures_up_to_the_cap_and_are_forgotten() -> None:
    limiter = LoginRateLimiter(free_failures=3, window_seconds=WINDOW, max_delay_seconds=60)
    now = 1000.0
    waits = []
    for _ in range(10):
        waits.append(limiter.retry_after("10.0.0.1", "Sam@Example.com", now))
        limiter.record_failure("10.0.0.1", "sam@example.com", now)
    assert waits[:3] == [None, None, None]  # three free tries
    # each later try would have had to wait: 1, 2, 4, ... seconds after the last failure
    assert limiter.retry_after("10.0.0.1", "sam@example.com", now) == 60  # capped
    limiter2 = LoginRateLimiter(free_failures=3, window_seconds=WINDOW)
    delays = []
    for _ in range(7):
        limiter2.record_failure("10.0.0.1", "sam@example.com", now)
        delays.append(limiter2.retry_after("10.0.0.1", "sam@example.com", now))
    assert delays == [None, None, 1, 2, 4, 8, 16]
    assert limiter2.retry_after("10.0.0.1", "sam@example.com", now + 16) is None
    # another address, or another account from this one, is not slowed by them
    assert limiter2.retry_after("10.0.0.2", "sam@example.com", now) is None
    assert limiter2.retry_after("10.0.0.1", "mia@example.com", now) is None
    # a window after the last failure, the pair starts afresh
    limiter2.record_failure("10.0.0.1", "sam@example.com", now + 20)
    assert limiter2.retry_after("10.0.0.1", "sam@example.com", now + 20 + WINDOW) is None


def test_past_the_address_ceiling_delays_start_at_the_first_failure() -> None:
    limiter = LoginRateLimiter(free_failures=5, window_seconds=WINDOW, address_ceiling=10)
    now = 1000.0
    for n in range(10):  # ten accounts tried once each from one address
        limiter.record_failure("office", f"user{n}@example.com", now)
    assert limiter.over_ceiling("office", now)
    assert limiter.retry_after("office", "colleague@example.com", now) is None  # first try
    limiter.record_failure("office", "colleague@example.com", now)
    assert limiter.retry_after("office", "colleague@example.com", now) == 1
    assert not limiter.over_ceiling("office", now + WINDOW)


@pytest.fixture
async def office(settings: Settings) -> AsyncIterator[Litestar]:
    """An app whose address ceiling is ten failures: the test client is one address."""
    context = AppContext.from_settings(
        replace(settings, login_address_ceiling=10, login_attempts_per_window=5), null_pool=True
    )
    yield create_app(context=context)
    await context.engine.dispose()


def _form_token(page: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    assert match, "the form carries a CSRF token"
    return match.group(1)


async def test_an_office_behind_one_address_is_not_locked_out(
    office: Litestar, world: World
) -> None:
    async with AsyncTestClient(app=office) as client:
        await client.get("/")
        headers = {"x-csrf-token": client.cookies.get("learnloop_csrf") or ""}

        async def login(email: str, password: str) -> int:
            answer = await client.post(
                "/api/v1/auth/login", json={"email": email, "password": password}, headers=headers
            )
            return answer.status_code

        # someone behind the office's address tries twelve accounts
        statuses = [await login(f"guess{n}@acme.example", "wrong guess") for n in range(12)]
        assert statuses == [401] * 12
        # a colleague behind the same address signs in with the right password
        assert await login("manager@acme.example", PASSWORD) == 200
        # past the ceiling a wrong password is slowed from its first failure on
        assert await login("ld@acme.example", "typo") == 401
        again = await client.post(
            "/api/v1/auth/login",
            json={"email": "ld@acme.example", "password": PASSWORD},
            headers=headers,
        )
        assert again.status_code == 429
        assert int(again.headers["retry-after"]) >= 1
        assert "try again in" in again.json()["detail"]


async def test_the_sign_in_form_says_when_to_try_again_in_both_languages(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    page = await client.get("/")
    form = {"email": "sam@example.com", "password": "not it", "_csrf_token": _form_token(page.text)}
    answers = [await client.post("/login", data=form) for _ in range(6)]  # 5 free, then 1 s
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert answers[-1].headers["retry-after"] == "1"
    assert "Te veel pogingen. Probeer het over 1 seconde opnieuw." in answers[-1].text
    english = await client.post("/login", data=form, headers={"accept-language": "en"})
    assert english.status_code == 429
    assert re.search(r"Too many attempts\. Try again in \d+ seconds?\.", english.text)


async def test_production_over_https_asks_browsers_for_https_only(settings: Settings) -> None:
    for base_url, env, expected in [
        ("https://learn.example.com", "production", True),
        ("http://127.0.0.1:8000", "production", False),
        ("https://learn.example.com", "dev", False),
    ]:
        context = AppContext.from_settings(
            replace(settings, base_url=base_url, env=env), null_pool=True
        )
        async with AsyncTestClient(app=create_app(context=context)) as client:
            answer = await client.get("/healthz")
        await context.engine.dispose()
        hsts = answer.headers.get("strict-transport-security")
        assert (hsts == "max-age=31536000; includeSubDomains") is expected, (base_url, env)
