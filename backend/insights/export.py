"""A ``Series`` as a CSV file: a header row of column keys, then the rows as stored.

Values are written as a spreadsheet reads them: dates ISO, shares as fractions (0.42), euro
amounts in cents (as their column key says), a cell below the privacy floor empty. The file
starts with a UTF-8 byte-order mark so Excel opens accents and € signs correctly.
"""

import csv
import io
from datetime import date

from backend.insights.series import Cell, Series

BOM = "\ufeff"


def csv_value(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


def csv_text(series: Series) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.key for column in series.columns])
    for row in series.rows:
        writer.writerow([csv_value(value) for value in row])
    return BOM + buffer.getvalue()


def csv_filename(key: str, label: str, start: date, end: date) -> str:
    """``weekly_active-klantenservice-2026-03-02-2026-05-24.csv`` (ASCII, no spaces)."""
    slug = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in label.lower())
    slug = "-".join(part for part in slug.split("-") if part)[:40] or "group"
    return f"{key}-{slug}-{start.isoformat()}-{end.isoformat()}.csv"
