"""Writing many people at once: one statement per kind of write, whatever their number.

``write_people`` inserts new people and updates existing ones, and sets the teams of those
given, in the caller's transaction (the caller records the audit entry and commits). New
people get their learner state row due now, as ``create_user`` does, so the scheduler plans
their welcome. ``find_or_create_teams`` turns team names into ids, creating missing teams.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select

from backend.db.bulk import column_defaults, insert_rows, update_rows
from backend.db.models import Team, TeamMembership, User
from backend.db.types import utcnow
from backend.nudges.scheduler import wake_learners
from backend.tenancy import OrgScope

USERS = User.__table__  # type: ignore[attr-defined]
TEAMS = Team.__table__  # type: ignore[attr-defined]
MEMBERSHIPS = TeamMembership.__table__  # type: ignore[attr-defined]
CHUNK = 2000  # rows per statement: well under PostgreSQL's 32,767 bind parameters


@dataclass(frozen=True)
class PersonWrite:
    """One person to insert (``user_id`` None) or update.

    ``fields`` are stored values by column name; ``teams`` None leaves their teams as they
    are, else (team id, is manager) pairs that become exactly their memberships.
    """

    user_id: int | None
    fields: dict[str, Any]
    teams: list[tuple[int, bool]] | None = None


def _chunks(items: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def write_people(scope: OrgScope, writes: Sequence[PersonWrite]) -> list[int]:
    """Insert and update these people; returns their ids in the order given.

    Raises ``IntegrityError`` when an e-mail address is taken in the organisation.
    """
    conn = await scope.session.connection()
    org = scope.organisation_id
    ids: list[int | None] = [w.user_id for w in writes]
    new = [i for i, w in enumerate(writes) if w.user_id is None]
    defaults = column_defaults(User) | {"organisation_id": org}
    for part in _chunks(new):
        rows = [defaults | writes[i].fields for i in part]
        result = await conn.execute(
            insert(USERS).returning(USERS.c.id, sort_by_parameter_order=True), rows
        )
        for i, new_id in zip(part, result.scalars().all(), strict=True):
            ids[i] = new_id
    # updates, grouped by the set of columns they change (an import's rows share one)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for w in writes:
        if w.user_id is not None and w.fields:
            groups.setdefault(tuple(sorted(w.fields)), []).append(w.fields | {"id": w.user_id})
    for names, values in groups.items():
        for part in _chunks(values):
            await update_rows(conn, USERS, org, names, part)
    placed = [(ids[i], w.teams) for i, w in enumerate(writes) if w.teams is not None]
    if placed:
        for part in _chunks([uid for uid, _ in placed if uid is not None]):
            await conn.execute(
                delete(MEMBERSHIPS).where(
                    MEMBERSHIPS.c.organisation_id == org, MEMBERSHIPS.c.user_id.in_(list(part))
                )
            )
        rows = [
            {"team_id": team_id, "user_id": uid, "organisation_id": org, "is_manager": manager}
            for uid, teams in placed
            for team_id, manager in dict(teams or []).items()
        ]
        for part in _chunks(rows):
            await insert_rows(conn, MEMBERSHIPS, part)
    created = [ids[i] for i in new if ids[i] is not None]
    if created:
        # a state row due now: the scheduler plans each new hire's welcome at its next tick
        await wake_learners(scope.session, org, [i for i in created if i is not None], utcnow())
    return [i for i in ids if i is not None]


async def find_or_create_teams(
    scope: OrgScope, names: Sequence[str]
) -> tuple[dict[str, int], list[str]]:
    """Lower-cased name -> id for every name, and the names of the teams created."""
    wanted = {name.lower(): name for name in names}
    if not wanted:
        return {}, []
    found = await team_ids(scope, list(wanted))
    missing = [wanted[key] for key in wanted if key not in found]
    if missing:
        now = utcnow()
        await (await scope.session.connection()).execute(
            pg_insert(TEAMS)
            .values(
                [
                    {"organisation_id": scope.organisation_id, "name": n, "created_at": now}
                    for n in missing
                ]
            )
            .on_conflict_do_nothing()
        )
        found = await team_ids(scope, list(wanted))
    return found, missing


async def team_ids(scope: OrgScope, lowered: list[str]) -> dict[str, int]:
    """Lower-cased name -> id of the organisation's teams with these names."""
    rows = (
        await scope.session.exec(
            select(func.lower(Team.name), Team.id)
            .where(scope.owns(Team), func.lower(Team.name).in_(lowered))
            .order_by(col(Team.id))
        )
    ).all()
    found: dict[str, int] = {}
    for name, ident in rows:
        if ident is not None:
            found.setdefault(name, ident)
    return found


async def memberships_of(scope: OrgScope, user_ids: Sequence[int]) -> dict[int, dict[int, bool]]:
    """user id -> {team id: is manager}."""
    found: dict[int, dict[int, bool]] = {uid: {} for uid in user_ids}
    for part in _chunks(list(user_ids), 20_000):
        rows = (
            await scope.session.exec(
                select(
                    TeamMembership.user_id, TeamMembership.team_id, TeamMembership.is_manager
                ).where(scope.owns(TeamMembership), col(TeamMembership.user_id).in_(list(part)))
            )
        ).all()
        for user_id, team_id, manager in rows:
            found[user_id][team_id] = manager
    return found
