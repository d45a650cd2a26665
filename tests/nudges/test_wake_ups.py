"""Wake-ups: what changes a learner's nudges has the scheduler look again now, not later.

A new hire (API or CLI) gets a state row due now, so the next tick plans the pre-boarding
welcome; new reminder time, quiet hours, nudge kinds or timezone (API or Settings page)
move ``next_nudge_at`` to now, and the tick replans from the new preferences.
"""

import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from litestar import Litestar

from backend.context import AppContext
from backend.nudges.scheduler import run_tick
from tests.factories import World, signed_in_client
from tests.nudges.test_scheduler import next_of, nudges_of, set_next

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
ROOT = Path(__file__).resolve().parents[2]


def next_tuesday(hour: int, minute: int = 0) -> datetime:
    """A weekday morning after today, in Amsterdam (outside quiet hours, not a weekend)."""
    day = datetime.now(UTC).date() + timedelta(days=1)
    while day.weekday() != 1:
        day += timedelta(days=1)
    return datetime.combine(day, time(hour, minute), tzinfo=AMSTERDAM).astimezone(UTC)


async def test_new_hire_added_by_ld_gets_the_welcome_at_the_next_tick(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    tick_at = next_tuesday(11)
    start = tick_at.date() + timedelta(days=14)
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        response = await admin.post(
            "/api/v1/users",
            json={
                "email": "noor@acme.example",
                "display_name": "Noor",
                "locale": "en",
                "start_date": start.isoformat(),
            },
        )
        assert response.status_code == 201, response.text
    noor = response.json()["id"]
    woken = await next_of(ctx, noor)
    assert woken is not None and woken <= datetime.now(UTC)

    await run_tick(ctx, tick_at)

    [welcome] = [n for n in await nudges_of(ctx, noor) if n.kind == "welcome"]
    assert welcome.locale == "en" and welcome.due_at == tick_at
    assert welcome.title and welcome.status == "pending"


def _cli(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LEARNLOOP_DATABASE_URL": database_url,
        "LEARNLOOP_SECRET_KEY": "cli-test-secret-" + "y" * 32,
        "LEARNLOOP_ENV": "test",
    }
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


async def test_new_hire_created_on_the_command_line_gets_the_welcome(
    ctx: AppContext, world: World, database_url: str, tmp_path: Path
) -> None:
    tick_at = next_tuesday(11)
    start = tick_at.date() + timedelta(days=3)
    created = _cli(
        database_url,
        tmp_path,
        "create-user",
        "--org",
        "acme",
        "--email",
        "ties@acme.example",
        "--name",
        "Ties",
        "--password",
        "een lang wachtwoord",
        "--start-date",
        start.isoformat(),
    )
    assert created.returncode == 0, created.stderr
    ties = int(created.stdout.split("(id ")[1].split(")")[0])
    assert (await next_of(ctx, ties) or tick_at) <= datetime.now(UTC)

    await run_tick(ctx, tick_at)

    assert [n.kind for n in await nudges_of(ctx, ties)].count("welcome") == 1


async def test_changed_reminder_time_and_nudge_kinds_replan_now(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sam = world.a.users["employee"]
    assert sam.id
    later = datetime.now(UTC) + timedelta(days=3)
    await set_next(ctx, sam.id, later)
    async with signed_in_client(app, world.email("a", "employee")) as client:
        off = await client.patch("/api/v1/me", json={"nudge_kinds_off": ["budget"]})
        assert off.status_code == 200, off.text
        woken = await next_of(ctx, sam.id)
        assert woken is not None and woken <= datetime.now(UTC)

        await set_next(ctx, sam.id, later)
        moved = await client.patch("/api/v1/me", json={"reminder_time": "12:30"})
        assert moved.status_code == 200, moved.text
        woken = await next_of(ctx, sam.id)
        assert woken is not None and woken <= datetime.now(UTC)

        # the tick plans from the new time: today's 12:30 in Amsterdam, not the old look
        tick_at = next_tuesday(10)
        await run_tick(ctx, tick_at)
        local_day: date = tick_at.astimezone(AMSTERDAM).date()
        expected = datetime.combine(local_day, time(12, 30), tzinfo=AMSTERDAM)
        assert await next_of(ctx, sam.id) == expected.astimezone(UTC)

        # a change that has nothing to do with nudges leaves the plan alone
        await client.patch("/api/v1/me", json={"leaderboard_opt_in": True})
        assert await next_of(ctx, sam.id) == expected.astimezone(UTC)


async def test_timezone_changed_on_the_settings_page_replans_now(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sam = world.a.users["employee"]
    assert sam.id
    await set_next(ctx, sam.id, datetime.now(UTC) + timedelta(days=3))
    async with signed_in_client(app, world.email("a", "employee")) as client:
        page = await client.get("/settings")
        token = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
        saved = await client.post(
            "/settings",
            data={"_csrf_token": token, "section": "timezone", "timezone": "Asia/Kolkata"},
            follow_redirects=False,
        )
        assert saved.status_code == 303
    woken = await next_of(ctx, sam.id)
    assert woken is not None and woken <= datetime.now(UTC)
