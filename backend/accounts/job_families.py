"""Job families and the competencies L&D expects of everyone in one.

A job family is the text on ``User.job_family`` and ``Course.job_family`` (e.g. "Finance");
it has no table of its own. L&D says which competencies each family is expected to have
(``job_family_competency``): the recommendations suggest courses in those competencies to
whoever has not learned in them yet. ``set_expected_competencies`` is the one write, used by
the API, the console form and the demo seed; it writes an audit entry.
"""

from collections.abc import Iterable

from litestar.exceptions import ClientException
from sqlalchemy import delete, func, text
from sqlmodel import col, select

from backend.accounts.schemas import (
    MAX_EXPECTED_COMPETENCIES,
    ExpectedCompetency,
    JobFamilyPublic,
)
from backend.accounts.services import job_families
from backend.audit import services as audit
from backend.db.models import Competency, Course, JobFamilyCompetency, User
from backend.tenancy import OrgScope

MAX_JOB_FAMILY = 80  # User.job_family, Course.job_family


def clean_job_family(value: str) -> str:
    """The job family as stored, or a 400 saying what is wrong with it."""
    family = (value or "").replace("\x00", "").strip()
    if not family:
        raise ClientException("name a job family", extra={"field": "job_family"})
    if len(family) > MAX_JOB_FAMILY:
        raise ClientException(
            f"a job family has at most {MAX_JOB_FAMILY} characters",
            extra={"field": "job_family"},
        )
    return family


async def expected_competencies(
    scope: OrgScope, job_family: str | None = None
) -> dict[str, list[ExpectedCompetency]]:
    """Per job family (only ``job_family`` when given), its expected competencies by name."""
    j, c = JobFamilyCompetency, Competency
    query = (
        select(col(j.job_family), col(c.id), col(c.name))
        .join(c, col(c.id) == col(j.competency_id))
        .where(scope.owns(j), scope.owns(c))
        .order_by(col(j.job_family), func.lower(c.name), col(c.id))
    )
    if job_family is not None:
        query = query.where(col(j.job_family) == job_family.strip())
    expected: dict[str, list[ExpectedCompetency]] = {}
    for family, competency_id, name in (await scope.session.exec(query)).all():
        expected.setdefault(family, []).append(ExpectedCompetency(id=competency_id, name=name))
    return expected


async def job_family_overview(scope: OrgScope) -> list[JobFamilyPublic]:
    """Every job family in use by people or courses or with expected competencies: how many
    active people and courses it has and what is expected of it, in alphabetical order."""
    people = dict(
        (
            await scope.session.exec(
                select(col(User.job_family), func.count())
                .where(scope.owns(User), col(User.job_family).is_not(None), col(User.is_active))
                .group_by(col(User.job_family))
            )
        ).all()
    )
    courses = dict(
        (
            await scope.session.exec(
                select(col(Course.job_family), func.count())
                .where(
                    scope.owns(Course),
                    col(Course.job_family).is_not(None),
                    col(Course.archived_at).is_(None),
                )
                .group_by(col(Course.job_family))
            )
        ).all()
    )
    # families of deactivated people and archived courses are listed too (forms offer them)
    in_use = await job_families(scope)
    expected = await expected_competencies(scope)
    families = sorted(set(in_use) | set(expected), key=lambda f: (f.casefold(), f))
    return [
        JobFamilyPublic(
            job_family=family,
            people=int(people.get(family, 0)),
            courses=int(courses.get(family, 0)),
            competencies=expected.get(family, []),
        )
        for family in families
    ]


async def job_family_public(scope: OrgScope, job_family: str) -> JobFamilyPublic:
    """One job family as the overview shows it (also one nobody is in yet)."""
    family = clean_job_family(job_family)
    for row in await job_family_overview(scope):
        if row.job_family == family:
            return row
    return JobFamilyPublic(job_family=family, people=0, courses=0, competencies=[])


async def set_expected_competencies(
    scope: OrgScope, job_family: str, competency_ids: Iterable[int], *, commit: bool = True
) -> JobFamilyPublic:
    """Expect exactly these competencies of everyone in ``job_family`` (none: expect nothing).

    400 when the family is empty or too long or a competency is not one of the
    organisation's; writes an audit entry when something changed. ``commit=False`` leaves
    the transaction open (the demo seed writes everything in one).
    """
    family = clean_job_family(job_family)
    wanted = sorted(set(competency_ids))
    if len(wanted) > MAX_EXPECTED_COMPETENCIES:
        raise ClientException(
            f"expect at most {MAX_EXPECTED_COMPETENCIES} competencies of a job family",
            extra={"field": "competency_ids"},
        )
    in_range = [i for i in wanted if 0 < i < 2**31]
    names: dict[int | None, str] = dict(
        (
            await scope.session.exec(
                select(col(Competency.id), col(Competency.name)).where(
                    scope.owns(Competency), col(Competency.id).in_(in_range)
                )
            )
        ).all()
    )
    unknown = [i for i in wanted if i not in names]
    if unknown:
        raise ClientException(
            "no such competency in your organisation: " + ", ".join(map(str, unknown)),
            extra={"field": "competency_ids", "unknown": unknown},
        )
    j = JobFamilyCompetency
    before = {c.id: c.name for c in (await expected_competencies(scope, family)).get(family, [])}
    if set(before) != set(wanted):
        await scope.session.exec(delete(j).where(scope.owns(j), col(j.job_family) == family))
        for competency_id in wanted:
            scope.add(
                JobFamilyCompetency(
                    organisation_id=scope.organisation_id,
                    job_family=family,
                    competency_id=competency_id,
                )
            )
        after = sorted((names[i] for i in wanted), key=str.casefold)
        audit.record(
            scope,
            "job_family.competencies",
            target_type="job_family",
            target_id=family,
            summary=(
                f"Expected {', '.join(after)} of job family {family}"
                if after
                else f"Expected no competencies of job family {family} any more"
            ),
            details={
                "before": sorted(before.values(), key=str.casefold),
                "after": after,
            },
        )
        if commit:
            await scope.session.commit()
        else:
            await scope.session.flush()
    return await job_family_public(scope, family)


async def move_expected_competency(scope: OrgScope, source_id: int, into_id: int) -> int:
    """Expect ``into_id`` wherever ``source_id`` was expected, and ``source_id`` nowhere (a
    merge of two competencies; the caller's transaction and audit entry); the number of job
    families that expected ``source_id``."""
    params = {"org": scope.organisation_id, "source": source_id, "into": into_id}
    connection = await scope.session.connection()
    await connection.execute(
        text(
            """INSERT INTO job_family_competency (organisation_id, job_family, competency_id)
               SELECT organisation_id, job_family, :into FROM job_family_competency
                WHERE organisation_id = :org AND competency_id = :source
               ON CONFLICT DO NOTHING"""
        ),
        params,
    )
    moved = await connection.execute(
        text(
            """DELETE FROM job_family_competency
                WHERE organisation_id = :org AND competency_id = :source"""
        ),
        params,
    )
    return int(moved.rowcount or 0)


async def families_expecting(scope: OrgScope, competency_id: int) -> list[str]:
    """The job families that expect ``competency_id``, in alphabetical order."""
    j = JobFamilyCompetency
    rows = await scope.session.exec(
        select(col(j.job_family)).where(scope.owns(j), col(j.competency_id) == competency_id)
    )
    return sorted(rows.all(), key=str.casefold)
