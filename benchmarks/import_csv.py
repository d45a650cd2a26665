"""CSV import speed: a 10,000-row file of courses and of people, next to parsing alone.

    uv run python benchmarks/import_csv.py [--rows 10000] [--rounds 3] [--service-rows 300]

Creates a fresh database ``learnloop_bench_<random>`` on 127.0.0.1:5432 (user ``postgres``,
trust auth), migrates it, and per round creates a new organisation with one L&D admin, then
measures in this process, one after the other:

- ``parse``: reading the file alone (``backend.imports.reader.read_csv``): the baseline;
- ``check``: reading and checking every row (schemas, duplicates, the database's
  uniqueness) without writing: what the upload answers before anything is imported;
- ``import``: check + write every row into the empty organisation (``submit`` + ``run``:
  one transaction, the job's progress from a second connection, the audit entry);
- ``re-import``: the same file again (every row unchanged: compared, nothing written);
- ``one by one``: ``--service-rows`` rows through the single-row services the JSON API
  uses (``create_course`` / ``create_user``, a commit each), the alternative to the bulk
  write path; rows/s extrapolates to the file.

Courses: semicolon separated with a BOM (Dutch Excel), every column, 40 competencies.
People: comma separated, 200 teams. Prints medians over ``--rounds`` rounds. The database is
dropped at the end, also on errors. Only 127.0.0.1 is contacted.
"""

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from backend.accounts.schemas import UserCreate  # noqa: E402
from backend.auth.passwords import TEST_HASH_COST  # noqa: E402
from backend.auth.principal import Principal  # noqa: E402
from backend.catalogue.schemas import CourseCreate  # noqa: E402
from backend.db.engine import make_engine, make_sessionmaker  # noqa: E402
from backend.db.migrate import upgrade  # noqa: E402
from backend.db.models import Organisation, User  # noqa: E402
from backend.imports import services  # noqa: E402
from backend.imports.reader import read_csv  # noqa: E402
from backend.tenancy import OrgScope  # noqa: E402

SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"


def courses_csv(rows: int) -> bytes:
    lines = [
        "external_id;title;description;provider;format;duration_minutes;cost;url;"
        "xapi_activity_id;competencies;hot_skill"
    ]
    for i in range(rows):
        lines.append(
            f'LMS-{i};Cursus {i};"Wat je leert in cursus {i};\r\nen waarom";Academie {i % 12};'
            f"{('elearning', 'classroom', 'webinar', 'video')[i % 4]};{i % 480 + 5};"
            f'"{i % 300},{i % 100:02d}";https://lms.example.com/c/{i};'
            f"https://lms.example.com/xapi/{i};Skill {i % 40}|Skill {(i + 7) % 40};"
            f"{'ja' if i % 9 == 0 else 'nee'}"
        )
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def people_csv(rows: int) -> bytes:
    lines = ["email,name,roles,teams,manager,locale,external_id"]
    for i in range(rows):
        manager = i % 50 == 0
        lines.append(
            f"person{i}@bench.example,Persoon {i},employee{'|manager' if manager else ''},"
            f"Team {i % 200},{'yes' if manager else 'no'},{'nl' if i % 3 else 'en'},EMP-{i}"
        )
    return ("\n".join(lines) + "\n").encode()


async def new_org(sessionmaker: Any) -> Principal:
    async with sessionmaker() as session:
        slug = f"bench-{uuid.uuid4().hex[:8]}"
        org = Organisation(name=slug, slug=slug)
        session.add(org)
        await session.flush()
        admin = User(
            organisation_id=org.id,
            email=f"ld@{slug}.example",
            display_name="Bench admin",
            roles=["employee", "ld_admin"],
        )
        session.add(admin)
        await session.commit()
        return Principal(
            organisation_id=org.id or 0,
            user_id=admin.id,
            roles=frozenset(admin.roles),
            via="session",
            display_name=admin.display_name,
            email=admin.email,
        )


async def timed(step: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await step()
    return time.perf_counter() - start, result


async def one_round(
    sessionmaker: Any, kind: str, data: bytes, service_rows: int
) -> dict[str, float]:
    spec = services.KINDS[kind]
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    table = read_csv(data, known=spec.columns, required=spec.required, aliases=spec.aliases)
    seconds["parse"] = time.perf_counter() - start
    rows = len(table.rows)
    principal = await new_org(sessionmaker)

    async def check() -> Any:
        async with sessionmaker() as session:
            return await services.validate(OrgScope(session, principal), spec, data)

    seconds["check"], checked = await timed(check)
    assert checked.ok and len(checked.rows) == rows, checked.problems[:3]

    async def import_file() -> Any:
        async with sessionmaker() as session:
            job, ready = await services.submit(
                OrgScope(session, principal), spec, "bench.csv", data
            )
        assert job.status == "running", job.errors[:3]
        return await services.run(sessionmaker, principal, job.id, ready)

    seconds["import"], job = await timed(import_file)
    assert (job.status, job.created) == ("done", rows), (job.status, job.created, job.errors)
    seconds["re-import"], again = await timed(import_file)
    assert again.unchanged == rows, (again.created, again.updated, again.unchanged)

    other = await new_org(sessionmaker)
    sample = checked.rows[:service_rows]

    async def one_by_one() -> None:
        if kind == "courses":
            from backend.catalogue.services import create_course

            for row in sample:
                async with sessionmaker() as session:
                    data = row.data.model_copy(update={"external_id": row.external_id})
                    await create_course(
                        OrgScope(session, other),
                        CourseCreate.model_validate(data.model_dump() | {"competency_ids": []}),
                    )
        else:
            from backend.accounts.services import create_user

            for row in sample:
                async with sessionmaker() as session:
                    await create_user(
                        OrgScope(session, other),
                        UserCreate.model_validate(row.data.model_dump()),
                        TEST_HASH_COST,
                    )

    elapsed, _ = await timed(one_by_one)
    seconds["one by one"] = elapsed * rows / max(len(sample), 1)  # extrapolated to the file
    return seconds


async def main(rows: int, rounds: int, service_rows: int) -> None:
    name = f"learnloop_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(f"{SERVER}/postgres", null_pool=True)
    async with admin.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(f"{SERVER}/{name}")  # pooled, as the app runs
    try:
        await upgrade(engine)
        sessionmaker = make_sessionmaker(engine)
        files = {"courses": courses_csv(rows), "people": people_csv(rows)}
        print(
            f"{rows:,} rows per file; medians of {rounds} rounds; "
            f"'one by one' measured on {service_rows} rows and extrapolated\n"
        )
        print(f"{'file':<8} {'step':<11} {'seconds':>8} {'rows/s':>9} {'x parse':>8}")
        for kind, data in files.items():
            results: dict[str, list[float]] = {}
            for _ in range(rounds):
                for step, value in (
                    await one_round(sessionmaker, kind, data, service_rows)
                ).items():
                    results.setdefault(step, []).append(value)
            parse = statistics.median(results["parse"])
            for step, values in results.items():
                median = statistics.median(values)
                print(
                    f"{kind:<8} {step:<11} {median:>8.2f} {rows / median:>9,.0f} "
                    f"{median / parse:>7.1f}x"
                )
            print(f"         ({len(data) / 1e6:.1f} MB)")
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--service-rows", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.rounds, args.service_rows))
