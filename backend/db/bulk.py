"""Writing many rows of one table in one statement (the bulk write paths of imports).

``executemany`` would run one UPDATE per row, and every statement runs the table's
statement triggers (``organisation.config_version``, migration 0015) once more. Here the
rows travel as one JSON document: ``UPDATE t SET a = v.a FROM jsonb_to_recordset(...)``.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from pydantic_core import PydanticUndefined
from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel


def column_defaults(model: type[SQLModel]) -> dict[str, Any]:
    """The values a new row of ``model`` gets for the fields it is not given (the model's
    own defaults, factories called once): a multi-row INSERT without building a model per
    row, which costs more than the INSERT itself."""
    defaults = {}
    for name, info in model.model_fields.items():
        if name == "id":
            continue
        value = info.get_default(call_default_factory=True)
        if value is not PydanticUndefined:
            defaults[name] = value
    return defaults


def _json_value(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


async def update_rows(
    conn: AsyncConnection,
    table: Table,
    organisation_id: int,
    columns: Iterable[str],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """Set ``columns`` of each row (by its ``id``) of the organisation to the row's values."""
    names = list(columns)
    if not rows or not names:
        return
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    # column names come from the table itself, never from the input
    record = ", ".join(
        f'"{name}" {table.c[name].type.compile(dialect=dialect)}' for name in ["id", *names]
    )
    assignments = ", ".join(f'"{name}" = v."{name}"' for name in names)
    payload = json.dumps(
        [{k: _json_value(row[k]) for k in ["id", *names]} for row in rows], default=str
    )
    await conn.execute(
        text(
            f'UPDATE "{table.name}" AS t SET {assignments} '
            f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v({record}) "
            "WHERE t.id = v.id AND t.organisation_id = :org"
        ),
        {"rows": payload, "org": organisation_id},
    )


async def insert_rows(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows`` (dicts with the same keys) in one statement."""
    if not rows:
        return
    names = list(rows[0])
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    record = ", ".join(f'"{name}" {table.c[name].type.compile(dialect=dialect)}' for name in names)
    listed = ", ".join(f'"{name}"' for name in names)
    payload = json.dumps([{k: _json_value(row[k]) for k in names} for row in rows], default=str)
    await conn.execute(
        text(
            f'INSERT INTO "{table.name}" ({listed}) SELECT {listed} '
            f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v({record})"
        ),
        {"rows": payload},
    )
