"""Reading a CSV file as people export it: from Excel (nl or en), an LMS or a script.

UTF-8 with or without a byte-order mark (a file that is not UTF-8 is read as Windows-1252,
what Excel's plain "CSV" writes); comma, semicolon (Dutch Excel) or tab separated, told
from the header line; quoted fields may hold separators, quotes and line breaks; Windows
or Unix line endings; blank lines (also rows of only separators) are skipped.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first record row 2
(a record with a line break inside a quoted field is still one row).
"""

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field

from pwa.i18n import N_

MAX_ROWS = 50_000
DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class Problem:
    """What is wrong, where: ``row`` 1 is the header, 0 the file as a whole."""

    row: int
    column: str
    message: str  # English; marked with N_ (or a schema's own words), translated when shown
    values: dict[str, str | int] = field(default_factory=dict)  # for the message's %(...)s


@dataclass
class CsvTable:
    columns: list[str]  # normalised header names, in file order
    rows: list[tuple[int, dict[str, str]]]  # (row number, column -> stripped cell)
    delimiter: str
    encoding: str
    problems: list[Problem] = field(default_factory=list)


class CsvError(Exception):
    """The file cannot be read as a table at all (the message is marked with N_)."""

    def __init__(self, message: str, **values: str | int) -> None:
        super().__init__(message % values if values else message)
        self.message = message
        self.values = values


def normalise_header(name: str) -> str:
    """ "Duration minutes", "duration-minutes", " DURATION_MINUTES " -> duration_minutes."""
    cleaned = name.strip().strip('"').strip().lower()
    for char in (" ", "-", "."):
        cleaned = cleaned.replace(char, "_")
    return cleaned


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was read with."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CsvError(N_("The file is UTF-16; save it as CSV UTF-8 and upload it again."))
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252"), "windows-1252"
        except UnicodeDecodeError as exc:
            raise CsvError(
                N_("The file is not a text file in UTF-8; save it as CSV UTF-8.")
            ) from exc


def sniff_delimiter(text: str) -> str:
    """The separator the header line uses most (outside quotes); a comma when in doubt."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in ("\n", "\r"):
            break
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def read_csv(
    data: bytes,
    *,
    known: tuple[str, ...],
    required: tuple[str, ...],
    aliases: Mapping[str, str] | None = None,
) -> CsvTable:
    """Parse ``data`` into rows of the ``known`` columns; header problems raise ``CsvError``.

    Row problems (too many or too few cells) are collected in ``problems``; the rows with
    them are left out of ``rows``.
    """
    text, encoding = decode(data)
    if "\x00" in text:
        raise CsvError(N_("The file contains NUL characters; is it really a CSV file?"))
    if not text.strip():
        raise CsvError(N_("The file is empty."))
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        header = next(reader)
        while not any(cell.strip() for cell in header):  # blank lines before the header
            header = next(reader)
    except StopIteration as exc:  # pragma: no cover - text.strip() was not empty
        raise CsvError(N_("The file is empty.")) from exc
    except csv.Error as exc:
        raise CsvError(N_("The header line cannot be read: %(error)s"), error=str(exc)) from exc
    columns = [normalise_header(name) for name in header]
    columns = [(aliases or {}).get(name, name) for name in columns]
    while columns and not columns[-1]:  # a trailing separator on the header line
        columns.pop()
    _check_header(columns, known, required)
    table = CsvTable(columns=columns, rows=[], delimiter=delimiter, encoding=encoding)
    width = len(columns)
    number = 1
    try:
        for cells in reader:
            number += 1
            if not any(cell.strip() for cell in cells):
                continue  # a blank line, or a row of only separators
            if number - 1 > MAX_ROWS:
                raise CsvError(
                    N_("The file has more than %(max)d rows; split it into smaller files."),
                    max=MAX_ROWS,
                )
            extra = cells[width:]
            if any(cell.strip() for cell in extra):
                table.problems.append(
                    Problem(
                        number,
                        "",
                        N_(
                            "This row has %(cells)d values but the header has %(columns)d "
                            "columns; is a separator inside a value without quotes?"
                        ),
                        {"cells": len(cells), "columns": width},
                    )
                )
                continue
            if len(cells) < width:
                table.problems.append(
                    Problem(
                        number,
                        columns[len(cells)],
                        N_("This row has %(cells)d values but the header has %(columns)d columns."),
                        {"cells": len(cells), "columns": width},
                    )
                )
                continue
            table.rows.append((number, {name: cells[i].strip() for i, name in enumerate(columns)}))
    except csv.Error as exc:
        raise CsvError(
            N_("Row %(row)d cannot be read: %(error)s"), row=number, error=str(exc)
        ) from exc
    return table


def _check_header(columns: list[str], known: tuple[str, ...], required: tuple[str, ...]) -> None:
    expected = ", ".join(known)
    unnamed = [i + 1 for i, name in enumerate(columns) if not name]
    if unnamed:
        raise CsvError(
            N_(
                "Column %(position)d has no name in the header line. The columns are: %(expected)s."
            ),
            position=unnamed[0],
            expected=expected,
        )
    unknown = [name for name in columns if name not in known]
    if unknown:
        raise CsvError(
            N_("Unknown column “%(column)s” in the header line. The columns are: %(expected)s."),
            column=unknown[0],
            expected=expected,
        )
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise CsvError(N_("The column “%(column)s” appears twice."), column=name)
        seen.add(name)
    missing = [name for name in required if name not in seen]
    if missing:
        raise CsvError(
            N_("The column “%(column)s” is missing from the header line (it is required)."),
            column=missing[0],
        )
