"""Reading CSV files as real exports write them (no database)."""

import pytest

from backend.imports.reader import CsvError, read_csv, sniff_delimiter

KNOWN = ("external_id", "title", "description", "duration_minutes")
REQUIRED = ("external_id", "title")


def read(data: bytes | str) -> list[tuple[int, dict[str, str]]]:
    raw = data.encode() if isinstance(data, str) else data
    return read_csv(raw, known=KNOWN, required=REQUIRED).rows


def test_utf8_with_a_byte_order_mark_reads_the_first_column_by_its_name() -> None:
    table = read_csv("\ufeffexternal_id,title\nC-1,Café\n".encode(), known=KNOWN, required=REQUIRED)
    assert table.columns == ["external_id", "title"]
    assert table.rows == [(2, {"external_id": "C-1", "title": "Café"})]
    assert table.encoding == "utf-8-sig"


def test_dutch_excel_semicolons_with_commas_inside_values() -> None:
    rows = read("external_id;title;description\r\nC-1;Excel, deel 1;Kort; maar krachtig\r\n")
    # the header decides the separator: three columns, so "Kort; maar krachtig" is too many
    assert rows == []
    rows = read('external_id;title;description\r\nC-1;Excel, deel 1;"Kort; maar krachtig"\r\n')
    assert rows == [
        (2, {"external_id": "C-1", "title": "Excel, deel 1", "description": "Kort; maar krachtig"})
    ]


def test_quoted_fields_keep_line_breaks_and_rows_are_numbered_as_a_spreadsheet_shows() -> None:
    text = (
        "external_id,title,description\r\n"
        'C-1,Een,"regel 1\r\nregel 2\r\nregel ""3"""\r\n'
        "C-2,Twee,\r\n"
    )
    rows = read(text)
    assert rows[0] == (
        2,
        {"external_id": "C-1", "title": "Een", "description": 'regel 1\r\nregel 2\r\nregel "3"'},
    )
    assert rows[1][0] == 3  # the second record is row 3, though it starts on line 5


def test_blank_lines_and_rows_of_only_separators_are_skipped() -> None:
    rows = read("external_id;title\n\nC-1;Een\n;\n\n;;\n")
    assert rows == [(3, {"external_id": "C-1", "title": "Een"})]


def test_windows_1252_files_from_plain_excel_csv_are_read() -> None:
    table = read_csv(
        "external_id;title\nC-1;Caf\u00e9 \u20ac\n".encode("cp1252"), known=KNOWN, required=REQUIRED
    )
    assert table.rows[0][1]["title"] == "Café €"
    assert table.encoding == "windows-1252"


def test_headers_are_matched_loosely() -> None:
    table = read_csv(
        b" External ID ;Title;Duration-Minutes\nC-1;Een;5\n", known=KNOWN, required=REQUIRED
    )
    assert table.columns == ["external_id", "title", "duration_minutes"]


def test_an_unknown_column_names_itself_and_the_expected_ones() -> None:
    with pytest.raises(CsvError) as caught:
        read("external_id,titel\nC-1,Een\n")
    assert "“titel”" in str(caught.value)
    assert "external_id, title, description, duration_minutes" in str(caught.value)


def test_a_missing_required_column_is_named() -> None:
    with pytest.raises(CsvError, match="“title” is missing"):
        read("external_id,description\nC-1,x\n")


def test_a_row_with_too_many_or_too_few_values_is_a_problem_of_that_row() -> None:
    table = read_csv(
        b"external_id,title\nC-1,Een,extra\nC-2\nC-3,Drie,\n", known=KNOWN, required=REQUIRED
    )
    assert [(p.row, p.column) for p in table.problems] == [(2, ""), (3, "title")]
    assert table.problems[0].values == {"cells": 3, "columns": 2}
    assert [r for r, _ in table.rows] == [4]  # a trailing empty value is not an extra column


def test_empty_and_binary_files_are_refused_clearly() -> None:
    with pytest.raises(CsvError, match="empty"):
        read("\r\n\r\n")
    with pytest.raises(CsvError, match="UTF-16"):
        read("external_id,title\n".encode("utf-16"))


def test_the_separator_is_read_from_the_header_outside_quotes() -> None:
    assert sniff_delimiter('"a;b",c,d\n1;2;3;4;5\n') == ","
    assert sniff_delimiter("a;b;c\n") == ";"
    assert sniff_delimiter("a\tb\n") == "\t"
    assert sniff_delimiter("title\n") == ","
