"""Cells as people type them (ja/nee, € 12,50, names with | or ;) and schema errors as problems."""

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError

from backend.console.shell import _PYDANTIC_MESSAGES as SCHEMA_MESSAGES
from backend.imports.reader import Problem
from pwa.i18n import N_

TRUE = frozenset({"yes", "y", "ja", "j", "true", "waar", "1", "x"})
FALSE = frozenset({"no", "n", "nee", "false", "onwaar", "0", "-"})
NAME_SEPARATORS = re.compile(r"[|;]")


class CellError(ValueError):
    """A cell that cannot be read (the message is marked with N_)."""


def parse_bool(cell: str) -> bool:
    value = cell.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise CellError(N_("Write yes or no."))


def parse_euros(cell: str) -> int:
    """ "12,50", "12.50", "€ 1.234,50", "1,234.50" -> cents (the last separator followed by one
    or two digits is the decimal one; the others group thousands)."""
    value = cell.replace("€", "").replace("EUR", "").replace(" ", "").replace("\u00a0", "")
    match = re.search(r"[.,](\d{1,2})$", value)
    if match:
        whole, fraction = value[: match.start()], match.group(1)
    else:
        whole, fraction = value, "0"
    whole = whole.replace(".", "").replace(",", "")
    if not re.fullmatch(r"-?\d+", whole or "x"):
        raise CellError(N_("Enter an amount in euros, such as 12,50."))
    try:
        euros = Decimal(f"{whole}.{fraction}")
    except InvalidOperation as exc:  # pragma: no cover - the pattern above rules it out
        raise CellError(N_("Enter an amount in euros, such as 12,50.")) from exc
    return int(euros * 100)


def split_names(cell: str) -> list[str]:
    """Names separated by | or ; each once, in the order given (case kept)."""
    seen: dict[str, str] = {}
    for part in NAME_SEPARATORS.split(cell):
        name = " ".join(part.split())
        if name and name.lower() not in seen:
            seen[name.lower()] = name
    return list(seen.values())


def schema_problems(
    row: int, error: ValidationError, column_of: Mapping[str, str]
) -> list[Problem]:
    """One problem per column, in the words the console forms use for the same schema."""
    problems: dict[str, Problem] = {}
    for detail in error.errors():
        field = str(detail["loc"][0]) if detail["loc"] else ""
        column = column_of.get(field, field)
        if column in problems:
            continue
        kind = detail["type"]
        if kind == "value_error":
            # a rule the schema states itself: its own words (English), e.g. the URL's length
            message = str(detail.get("ctx", {}).get("error", detail["msg"]))
        else:
            message = SCHEMA_MESSAGES.get(kind, N_("This value is not valid."))
        problems[column] = Problem(row, column, message)
    return list(problems.values())
