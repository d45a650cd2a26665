"""What an insight is, independent of how it is shown: a titled table of rows.

The queries (``backend.insights.queries``) return a ``Series``; the pages draw it as a chart
with the same rows as an accessible table beside it, and the CSV download writes the rows.
Titles and column labels are message ids (``N_``), translated when shown.
"""

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Unit = Literal["week", "month", "day", "text", "count", "minutes", "percent", "euros"]
"""How a column's values are written: a week is the Monday (a ``date``), a percent a 0..1
float, euros an amount in cents; ``None`` in a cell means no figure (kept below the floor)."""

ChartKind = Literal["line", "bars", "stacked_bars", "histogram", "table"]

Cell = int | float | str | date | None


@dataclass(frozen=True)
class Column:
    key: str  # the CSV header
    label: str  # a message id, translated when shown
    unit: Unit


@dataclass(frozen=True)
class Series:
    key: str  # stable name: URL of its CSV, id of its chart
    title: str  # a message id
    columns: tuple[Column, ...]  # the first column is the category (x axis)
    rows: list[tuple[Cell, ...]]
    chart: ChartKind = "bars"
    # breakdown rows left out because fewer learners than the floor were in them
    suppressed_rows: int = 0
    note: str = ""  # a message id explaining how to read it (optional)
    extra: dict[str, Cell] = field(default_factory=dict)  # headline figures, e.g. a total


@dataclass(frozen=True)
class Period:
    """Inclusive local days; weekly series cover the ISO weeks (Mondays) touching it."""

    start: date
    end: date
