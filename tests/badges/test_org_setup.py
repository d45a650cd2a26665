"""A new organisation (CLI create-org, or the demo seed) starts with the default badges."""

import asyncio
import subprocess
import sys
from datetime import date
from pathlib import Path

from sqlmodel import select

from backend.badges.defaults import DEFAULT_BADGES
from backend.context import AppContext
from backend.db.models import BadgeDefinition
from backend.demo.seed import seed_demo

DEFAULT_CODES = sorted(b.definition.code for b in DEFAULT_BADGES)


def _cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


async def test_create_org_starts_with_the_default_badges(
    tmp_path: Path, database_url: str, ctx: AppContext
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LEARNLOOP_DATABASE_URL": database_url,
        "LEARNLOOP_SECRET_KEY": "cli-test-secret-" + "y" * 32,
        "LEARNLOOP_ENV": "test",
    }
    await asyncio.to_thread(_cli, env, "migrate")
    await asyncio.to_thread(_cli, env, "create-org", "Bakkerij Jansen")
    async with ctx.sessionmaker() as session:
        codes = (await session.exec(select(BadgeDefinition.code))).all()
    assert sorted(codes) == DEFAULT_CODES


async def test_the_demo_organisation_has_the_default_badges(ctx: AppContext) -> None:
    result = await seed_demo(ctx, today=date(2025, 3, 12))
    async with ctx.sessionmaker() as session:
        codes = (
            await session.exec(
                select(BadgeDefinition.code).where(
                    BadgeDefinition.organisation_id == result.organisation_id
                )
            )
        ).all()
    assert sorted(codes) == DEFAULT_CODES
