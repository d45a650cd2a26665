"""People rows: the columns of a people CSV and how a row becomes a ``UserCreate``.

A row is matched by e-mail address (case does not matter), updated when it differs and
created otherwise; nobody gets a password from a file (they sign in through an invitation
or a reset link). ``teams`` are names separated by ``|`` or ``;``: a team the organisation
does not have yet is created, and the person's teams become exactly the listed ones.
``manager`` (yes/no) makes them manager of those teams, and gives them the manager role.

An empty cell leaves that field as it is for an existing person (and takes the default for
a new one); a column the file does not have is never touched.
"""

import re
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlmodel import col

from backend.accounts.bulk import PersonWrite, find_or_create_teams, memberships_of, write_people
from backend.accounts.schemas import UserCreate
from backend.db.models import User
from backend.imports.cells import CellError, parse_bool, schema_problems, split_names
from backend.imports.counts import BATCH, Counts, Progress
from backend.imports.reader import Problem
from backend.tenancy import OrgScope
from backend.validation import Name
from pwa.i18n import N_

TEAM_NAME: TypeAdapter[str] = TypeAdapter(Name)

COLUMNS = (
    "email",
    "name",
    "roles",
    "teams",
    "manager",
    "locale",
    "timezone",
    "start_date",
    "external_id",
    "job_family",
)
REQUIRED = ("email", "name")
COLUMN_OF = {"display_name": "name"}
FIELD_OF = {v: k for k, v in COLUMN_OF.items()}
ALIASES = {"team": "teams", "role": "roles", "e_mail": "email", "display_name": "name"}
MAX_EXTERNAL_ID = 200  # the user_account.external_id column

TEMPLATE = (
    "email,name,roles,teams,manager,locale,timezone,start_date,external_id\r\n"
    "anouk.jansen@example.com,Anouk Jansen,employee|ld_admin,HR,no,nl,Europe/Amsterdam,"
    "2024-03-01,EMP-0001\r\n"
    "daan.devries@example.com,Daan de Vries,employee|manager,Klantenservice,yes,nl,,,EMP-0002\r\n"
    "sam.smith@example.com,Sam Smith,,Klantenservice|Sales,no,en,,,EMP-0003\r\n"
)


@dataclass(frozen=True)
class PersonRow:
    row: int
    email: str  # normalised: lower case, no spaces around
    data: UserCreate
    given: frozenset[str]  # the UserCreate fields this row gives (non-empty cells)
    external_id: str | None
    teams: list[str] | None  # names; None: leave the person's teams as they are
    manager: bool | None


def _role(value: str) -> str:
    # "L&D admin", "ld-admin", "Manager" -> ld_admin, manager
    cleaned = re.sub(r"[\s\-&]+", "_", value.strip().lower()).replace("l_d", "ld")
    return {"l_d_admin": "ld_admin", "admin": "ld_admin"}.get(cleaned, cleaned)


def parse_row(row: int, cells: dict[str, str]) -> tuple[PersonRow | None, list[Problem]]:
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    manager: bool | None = None
    for column, cell in cells.items():
        if not cell or column in ("teams", "external_id"):
            continue
        field = FIELD_OF.get(column, column)
        try:
            if column == "manager":
                manager = parse_bool(cell)
            elif column == "roles":
                values[field] = [_role(name) for name in split_names(cell)]
            elif column in ("locale", "email"):
                values[field] = cell.lower()
            else:
                values[field] = cell
        except CellError as exc:
            problems.append(Problem(row, column, str(exc)))
    if manager and "roles" in values and "manager" not in values["roles"]:
        values["roles"].append("manager")
    teams = split_names(cells.get("teams", ""))
    for name in teams:
        try:
            _team_name(name)
        except ValidationError:
            problems.append(
                Problem(
                    row,
                    "teams",
                    N_("“%(name)s” is not a valid team name (1 to 120 characters)."),
                    {"name": name[:40]},
                )
            )
            break
    external_id = cells.get("external_id") or None
    if external_id is not None and len(external_id) > MAX_EXTERNAL_ID:
        problems.append(Problem(row, "external_id", N_("This is too long.")))
    if manager and not teams and "teams" in cells:
        problems.append(
            Problem(row, "manager", N_("A manager needs a team: fill in the teams column."))
        )
    try:
        data = UserCreate.model_validate(values)
    except ValidationError as exc:
        seen = {p.column for p in problems}
        problems += [p for p in schema_problems(row, exc, COLUMN_OF) if p.column not in seen]
        return None, problems
    if problems:
        return None, problems
    return (
        PersonRow(
            row=row,
            email=data.email.strip().lower(),
            data=data,
            given=frozenset(values),
            external_id=external_id,
            teams=teams if "teams" in cells and teams else None,
            manager=manager,
        ),
        [],
    )


def _team_name(name: str) -> None:
    TEAM_NAME.validate_python(name)


# --- against the database ------------------------------------------------------------------


async def _existing(scope: OrgScope, emails: list[str]) -> dict[str, User]:
    found: dict[str, User] = {}
    for start in range(0, len(emails), 20_000):
        part = emails[start : start + 20_000]
        for user in await scope.all(scope.select(User).where(col(User.email).in_(part))):
            found[user.email] = user
    return found


async def check(scope: OrgScope, rows: list[PersonRow]) -> list[Problem]:
    """The same person twice, and the one change an admin cannot make to themself."""
    problems: list[Problem] = []
    first_row: dict[str, int] = {}
    me = scope.principal.email.strip().lower()
    for row in rows:
        if row.email in first_row:
            problems.append(
                Problem(
                    row.row,
                    "email",
                    N_("“%(value)s” is also on row %(other)d; each person once."),
                    {"value": row.email[:60], "other": first_row[row.email]},
                )
            )
        first_row.setdefault(row.email, row.row)
        roles = {r.value for r in row.data.roles}
        if me and row.email == me and "roles" in row.given and "ld_admin" not in roles:
            problems.append(
                Problem(row.row, "roles", N_("You cannot remove your own L&D admin role."))
            )
    return problems


def _roles(row: PersonRow, user: User | None) -> list[str]:
    if "roles" in row.given or user is None:
        roles = {r.value for r in row.data.roles}
    else:
        roles = set(user.roles)
    roles.add("employee")  # everybody learns
    if row.manager:
        roles.add("manager")
    return sorted(roles)


async def write(scope: OrgScope, rows: list[PersonRow], progress: Progress) -> Counts:
    """Create or update every row's person and their teams, in the caller's transaction."""
    counts = Counts()
    org = await scope.organisation()
    team_ids, new_teams = await find_or_create_teams(
        scope, [name for row in rows for name in row.teams or []]
    )
    counts.extra["teams"] = len(new_teams)
    # read once, before anything is written (the file names each person once)
    existing = await _existing(scope, [row.email for row in rows])
    memberships = await memberships_of(scope, [u.id for u in existing.values() if u.id is not None])
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        writes: list[PersonWrite] = []
        for row in batch:
            user = existing.get(row.email)
            have = memberships.get(user.id or 0, {}) if user is not None else {}
            values: dict[str, Any] = {"roles": _roles(row, user)}
            for field in ("display_name", "locale", "timezone", "start_date", "job_family"):
                if field in row.given:
                    values[field] = getattr(row.data, field)
            if row.external_id is not None:
                values["external_id"] = row.external_id
            teams: dict[int, bool] | None = None
            if row.teams is not None:
                teams = {
                    team_ids[name.lower()]: (
                        row.manager
                        if row.manager is not None
                        else have.get(team_ids[name.lower()], False)
                    )
                    for name in row.teams
                }
            elif row.manager is not None:
                teams = dict.fromkeys(have, row.manager)
            if user is None:
                values |= {
                    "email": row.email,
                    "locale": values.get("locale") or org.default_locale,
                    "timezone": values.get("timezone") or org.default_timezone,
                }
                writes.append(PersonWrite(None, values, list((teams or {}).items())))
                counts.created += 1
                continue
            changed = {k: v for k, v in values.items() if getattr(user, k) != v}
            replace = teams is not None and teams != have
            if changed or replace:
                moved = list(teams.items()) if replace and teams is not None else None
                writes.append(PersonWrite(user.id, changed, moved))
                counts.updated += 1
            else:
                counts.unchanged += 1
        counts.people.extend(await write_people(scope, writes))
        await progress(start + len(batch))
    return counts
