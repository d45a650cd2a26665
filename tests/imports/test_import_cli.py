"""``learnloop import courses|people FILE --org SLUG``, run as an operator would."""

import subprocess
import sys
from pathlib import Path

from sqlmodel import select

from backend.context import AppContext
from backend.db.models import AuditEntry, Course, User
from tests.factories import World

ROOT = Path(__file__).resolve().parents[2]


def learnloop(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
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


async def test_the_cli_reports_every_problem_exits_1_and_imports_nothing(
    tmp_path: Path, database_url: str, ctx: AppContext, world: World
) -> None:
    bad = tmp_path / "cursussen.csv"
    bad.write_bytes(
        "\ufeffexternal_id;title;format;duration_minutes\r\n"
        "K-1;Goed;video;10\r\n"
        "K-2;;video;-1\r\n".encode()
    )
    result = learnloop(tmp_path, database_url, "import", "courses", str(bad), "--org", "acme")
    assert result.returncode == 1
    assert "cursussen.csv: 2 problem(s); nothing was imported" in result.stderr
    assert "row 3, column title: This field is required." in result.stderr
    assert "row 3, column duration_minutes: This number is too small." in result.stderr
    async with ctx.sessionmaker() as session:
        assert (await session.exec(select(Course).where(Course.external_id == "K-1"))).all() == []


async def test_the_cli_imports_with_a_progress_bar_and_again_changes_nothing(
    tmp_path: Path, database_url: str, ctx: AppContext, world: World
) -> None:
    good = tmp_path / "mensen.csv"
    good.write_text(
        "email,name,teams,manager\n"
        "ilse@acme.example,Ilse Visser,Sales,yes\n"
        "joris@acme.example,Joris Smit,Sales,no\n"
    )
    first = learnloop(tmp_path, database_url, "import", "people", str(good), "--org", "acme")
    assert first.returncode == 0, first.stderr
    assert "importing people" in first.stderr  # the progress bar
    assert first.stdout.strip() == (
        "imported 2 people from mensen.csv: 2 created, 0 updated, 0 unchanged"
    )
    again = learnloop(tmp_path, database_url, "import", "people", str(good), "--org", "acme")
    assert again.stdout.strip().endswith("0 created, 0 updated, 2 unchanged")
    async with ctx.sessionmaker() as session:
        ilse = (await session.exec(select(User).where(User.email == "ilse@acme.example"))).one()
        assert ilse.organisation_id == world.a.id and "manager" in ilse.roles
        audit = (await session.exec(select(AuditEntry))).all()
        assert [(a.action, a.actor_name) for a in audit] == [
            ("import.people", "command line"),
            ("import.people", "command line"),
        ]
    unknown = learnloop(tmp_path, database_url, "import", "people", str(good), "--org", "nope")
    assert unknown.returncode == 1 and "no organisation with slug 'nope'" in unknown.stderr
