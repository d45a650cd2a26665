"""``learnloop doctor`` run as an operator would: one line per check, exit 0 when the
deployment is fine, exit 1 naming what is wrong and what to do when it is not."""

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from backend.context import AppContext
from backend.push.keys import write_new_key
from tests.factories import World
from tests.push.conftest import queue_nudge

ROOT = Path(__file__).resolve().parent.parent.parent


def doctor(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LEARNLOOP_ENV": "test",
        "LEARNLOOP_SECRET_KEY": "doctor-test-secret-" + "z" * 32,
    }
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", "doctor"],
        capture_output=True,
        text=True,
        env={**base, **env},
        cwd=ROOT,
        timeout=120,
    )


def lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """{check name: its line}"""
    found: dict[str, str] = {}
    for line in result.stdout.splitlines():
        status, _, rest = line.partition(" ")
        assert status in {"OK", "WARN", "FAIL"}, line
        found.setdefault(rest.strip().split(":", 1)[0], line)
    return found


def test_doctor_passes_a_good_configuration(tmp_path: Path, database_url: str) -> None:
    key = tmp_path / "vapid.pem"
    write_new_key(key)
    result = doctor(
        tmp_path,
        LEARNLOOP_DATABASE_URL=database_url,
        LEARNLOOP_VAPID_PRIVATE_KEY_FILE=str(key),
        LEARNLOOP_VAPID_SUBJECT="mailto:ops@acme.example",
        LEARNLOOP_METRICS_TOKEN="a-long-enough-metrics-token",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    checks = lines(result)
    assert checks["database"].startswith("OK") and "PostgreSQL" in checks["database"]
    assert checks["schema"].startswith("OK") and "migrated to head" in checks["schema"]
    assert checks["VAPID key"].startswith("OK") and "signs" in checks["VAPID key"]
    assert checks["replica"] == "OK   replica: not configured (every read goes to the primary)"
    assert checks["metrics"].startswith("OK")
    assert checks["push outbox"] == "OK   push outbox: no nudge overdue"
    assert checks["scheduler"] == "OK   scheduler: no learner overdue"
    assert "FAIL" not in result.stdout


def test_doctor_names_each_problem_and_exits_1(tmp_path: Path, database_url: str) -> None:
    broken_key = tmp_path / "vapid.pem"
    broken_key.write_text("not a key\n")
    result = doctor(
        tmp_path,
        LEARNLOOP_DATABASE_URL="postgresql://postgres@127.0.0.1:1/learnloop",
        LEARNLOOP_VAPID_PRIVATE_KEY_FILE=str(broken_key),
        LEARNLOOP_VAPID_SUBJECT="mailto:ops@acme.example",
        # the primary named as the replica: it accepts writes, so it is no replica
        LEARNLOOP_DATABASE_REPLICA_URL=database_url,
    )
    assert result.returncode == 1
    checks = lines(result)
    assert checks["database"].startswith("FAIL") and "cannot connect" in checks["database"]
    assert "LEARNLOOP_DATABASE_URL" in checks["database"]
    assert (
        checks["VAPID key"].startswith("FAIL") and "is not a PEM private key" in checks["VAPID key"]
    )
    assert "learnloop vapid generate" in checks["VAPID key"]
    assert checks["replica"].startswith("FAIL") and "not a standby" in checks["replica"]
    assert "something needs fixing" in result.stderr


def test_doctor_fails_a_production_setup_served_over_http(
    tmp_path: Path, database_url: str
) -> None:
    result = doctor(
        tmp_path,
        LEARNLOOP_ENV="production",
        LEARNLOOP_DATABASE_URL=database_url,
        LEARNLOOP_BASE_URL="http://learn.acme.example",
    )
    assert result.returncode == 1
    checks = lines(result)
    assert checks["base URL"].startswith("FAIL") and "https" in checks["base URL"]
    # production without a key file: no push, said plainly
    assert checks["VAPID key"].startswith("FAIL")
    assert "LEARNLOOP_VAPID_PRIVATE_KEY_FILE" in checks["VAPID key"]
    assert checks["metrics"].startswith("WARN")


def test_doctor_says_when_the_settings_do_not_load(tmp_path: Path) -> None:
    result = doctor(tmp_path, LEARNLOOP_DATABASE_URL="sqlite:///learnloop.db")
    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    assert line.startswith("FAIL settings: LEARNLOOP_DATABASE_URL must be a PostgreSQL URL")


def test_doctor_notices_a_database_behind_the_code(tmp_path: Path, postgres_server: str) -> None:
    from sqlalchemy.engine import make_url

    from tests.conftest import _create_database, _drop_database

    name = "learnloop_doctor_empty"
    asyncio.run(_create_database(postgres_server, name))
    try:
        url = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
        result = doctor(tmp_path, LEARNLOOP_DATABASE_URL=url)
    finally:
        asyncio.run(_drop_database(postgres_server, name))
    assert result.returncode == 1
    assert lines(result)["schema"] == (
        "FAIL schema: has no schema (never migrated) -> run: learnloop migrate"
    )


async def test_doctor_notices_that_no_worker_or_scheduler_is_at_work(
    tmp_path: Path, database_url: str, ctx: AppContext, world: World
) -> None:
    sam = world.a.users["employee"]
    now = datetime.now(UTC)
    await queue_nudge(ctx, sam, due_at=now - timedelta(minutes=20))
    async with ctx.engine.begin() as conn:
        await conn.execute(
            text("UPDATE learner_state SET next_nudge_at = :at WHERE user_id = :user"),
            {"at": now - timedelta(minutes=12), "user": sam.id},
        )
    result = await asyncio.to_thread(doctor, tmp_path, LEARNLOOP_DATABASE_URL=database_url)
    assert result.returncode == 0, result.stdout  # warnings: it still works, only slowly
    checks = lines(result)
    assert checks["push outbox"].startswith("WARN push outbox: 1 nudge overdue")
    assert "the oldest by 20 min" in checks["push outbox"]
    assert "learnloop worker" in checks["push outbox"]
    assert checks["scheduler"].startswith("WARN") and "the oldest by 12 min" in checks["scheduler"]
