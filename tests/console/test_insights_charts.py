"""Charts drawn from hand-made series: well-formed SVG, gaps for figures below the floor,
texts and numbers in the reader's language, the CSV and the period filter."""

import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from backend.insights.charts import chart_of, drawn, nice_scale
from backend.insights.export import csv_filename, csv_text
from backend.insights.periods import PeriodError, parse_month, parse_period
from backend.insights.series import Column, Series
from pwa.i18n import set_locale

SVG = "{http://www.w3.org/2000/svg}"
MONDAYS = [date(2026, 3, 2) + timedelta(weeks=n) for n in range(6)]
# message ids with a Dutch translation (console_insights.po)
MONTH, COURSES = "Month", "Courses completed"


def weekly(chart: str = "line") -> Series:
    return Series(
        key="weekly",
        title="Leadership summary",
        columns=(
            Column("month", MONTH, "week"),
            Column("courses", COURSES, "count"),
            Column("moments", "Learning budget spent or committed", "count"),
            Column("share", "Whole organisation", "percent"),
        ),
        rows=[
            (MONDAYS[0], 1200, 30, 0.5),
            (MONDAYS[1], 1500, 42, 0.6),
            (MONDAYS[2], None, None, None),  # fewer than the floor learned this week
            (MONDAYS[3], 1700, 51, 0.7),
            (MONDAYS[4], 1650, 12, 0.65),
            (MONDAYS[5], 1900, 60, 0.8),
        ],
        chart=chart,  # type: ignore[arg-type]
    )


def by_name() -> Series:
    return Series(
        key="competencies",
        title="Leadership summary",
        columns=(
            Column("competency", MONTH, "text"),
            Column("variant", MONTH, "text"),
            Column("learners", COURSES, "count"),
            Column("share", COURSES, "percent"),
        ),
        rows=[("Klantgesprekken & de-escaleren", "A", 24, 0.3), ("Excel", "B", None, None)],
        chart="bars",
        suppressed_rows=2,
    )


def parsed(markup: str) -> ET.Element:
    root = ET.fromstring(str(markup))
    assert root.tag == f"{SVG}svg"
    return root


@pytest.mark.parametrize("kind", ["line", "bars", "stacked_bars", "histogram"])
def test_every_kind_of_chart_is_well_formed_svg_without_styles_or_scripts(kind: str) -> None:
    set_locale("en")
    chart = chart_of(weekly(kind), floor=5, locale="en")
    for markup in (chart.wide, chart.compact):
        root = parsed(markup)
        assert root.get("role") == "img"
        title = root.find(f"{SVG}title")
        assert title is not None and title.text == "Leadership summary"
        labelled = (root.get("aria-labelledby") or "").split()
        assert title.get("id") in labelled
        for element in root.iter():
            assert "style" not in element.attrib
            assert element.tag != f"{SVG}script"
            assert not any(name.startswith("on") for name in element.attrib)
    wide, compact = parsed(chart.wide), parsed(chart.compact)
    assert wide.get("viewBox") == "0 0 460 230" and compact.get("viewBox") == "0 0 340 230"
    assert "chart-wide" in (wide.get("class") or "") and "chart-compact" in (
        compact.get("class") or ""
    )


def test_a_figure_below_the_floor_is_a_hatched_gap_explained_by_the_legend() -> None:
    set_locale("en")
    line = chart_of(weekly("line"), floor=5, locale="en")
    root = parsed(line.wide)
    gaps = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "chart-gap"]
    assert len(gaps) == 1 and gaps[0].get("fill", "").startswith("url(#")
    assert gaps[0].findtext(f"{SVG}title") == "fewer than 5 people"
    # the line breaks at the gap: two pieces per drawn series (two count columns)
    assert len(root.findall(f"{SVG}polyline")) == 4
    assert line.has_gaps and line.gap_label == "fewer than 5 people"
    # the share (another unit) is in the table, not on the chart's scale
    assert [label for _, label in line.legend] == [
        "Courses completed",
        "Learning budget spent or committed",
    ]
    assert line.rows[2] == ["16 Mar 2026", "–", "–", "–"]

    bars = chart_of(weekly("stacked_bars"), floor=5, locale="en")
    assert (
        len([r for r in parsed(bars.wide).iter(f"{SVG}rect") if r.get("class") == "chart-gap"]) == 1
    )

    named = chart_of(by_name(), floor=7, locale="en")
    root = parsed(named.wide)
    assert [r for r in root.iter(f"{SVG}rect") if r.get("class") == "chart-gap"]
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "chart-label"]
    # the leading text columns make one label; long names are shortened, in full in the title
    assert labels[1] == "Excel · B"
    assert labels[0] is not None and labels[0].endswith("…")
    assert named.suppressed_note == "2 rows had fewer than 7 people: their figures are not shown."


def test_texts_numbers_and_dates_are_in_the_readers_language() -> None:
    set_locale("nl")
    chart = chart_of(weekly("stacked_bars"), floor=5, locale="nl")
    root = parsed(chart.wide)
    assert root.findtext(f"{SVG}title") == "Samenvatting voor het management"
    assert root.findtext(f"{SVG}desc") == "Dezelfde cijfers staan in de tabel onder de grafiek."
    assert chart.header == ["Maand", "Afgeronde cursussen", "Leerbudget besteed of toegezegd",
                            "Hele organisatie"]  # fmt: skip
    assert chart.gap_label == "minder dan 5 mensen"
    assert chart.rows[0] == ["2 mrt 2026", "1.200", "30", "50%"]
    ticks = {t.text for t in root.iter(f"{SVG}text") if t.get("class") == "chart-tick"}
    assert "2.000" in ticks and "2 mrt" in ticks
    set_locale("en")
    english = chart_of(weekly("stacked_bars"), floor=5, locale="en")
    assert english.rows[0] == ["2 Mar 2026", "1,200", "30", "50%"]


def test_an_empty_series_is_an_empty_state_not_a_chart() -> None:
    set_locale("nl")
    nothing = Series(
        "x", "Leadership summary", (Column("w", MONTH, "week"), Column("n", COURSES, "count")), []
    )
    zeros = Series("x", "Leadership summary", nothing.columns, [(MONDAYS[0], 0), (MONDAYS[1], 0)])
    for series in (nothing, zeros):
        chart = chart_of(series, floor=5, locale="nl")
        assert chart.empty and not chart.wide
        assert chart.empty_text == "Nog niets geleerd in deze periode."


def test_the_chart_draws_the_named_columns_in_one_unit() -> None:
    picture = drawn(by_name(), draw=["learners"])
    assert [c.key for c in picture.columns] == ["competency", "learners"]
    assert picture.rows[0] == ("Klantgesprekken & de-escaleren · A", 24)
    assert nice_scale(1900) == [0, 500, 1000, 1500, 2000]
    assert nice_scale(3) == [0, 1, 2, 3]
    assert nice_scale(0.8, whole=False, percent=True) == [0, 0.2, 0.4, 0.6, 0.8]
    assert nice_scale(0.9, whole=False, percent=True) == [0, 0.25, 0.5, 0.75, 1.0]


def test_the_csv_has_a_bom_a_header_of_keys_and_empty_cells_below_the_floor() -> None:
    text = csv_text(weekly())
    assert text.startswith("\ufeff")
    lines = text.removeprefix("\ufeff").split("\r\n")
    assert lines[0] == "month,courses,moments,share"
    assert lines[1] == "2026-03-02,1200,30,0.5"
    assert lines[3] == "2026-03-16,,,"
    assert csv_filename("weekly", "Klantenservice Zuid!", MONDAYS[0], MONDAYS[1]) == (
        "weekly-klantenservice-zuid-2026-03-02-2026-03-09.csv"
    )


def test_periods_are_read_from_the_url() -> None:
    today = date(2026, 12, 9)  # a Wednesday
    four = parse_period(today, "4w")
    assert (four.period.start, four.period.end, four.preset) == (date(2026, 11, 16), today, "4w")
    assert parse_period(today).preset == "12w"
    custom = parse_period(today, None, "2026-10-01", "2027-01-01")  # the end is kept to today
    assert (custom.period.start, custom.period.end) == (date(2026, 10, 1), today)
    assert custom.query() == {"from": "2026-10-01", "to": "2026-12-09"}
    assert parse_period(today, "26w", "2026-10-01", "2026-10-02").preset == "26w"
    for args in (("1y",), ("custom",), (None, "2026-02-30"), (None, "2026-12-01", "2026-11-01")):
        with pytest.raises(PeriodError):
            parse_period(today, *args)
    assert parse_month(today, None) == date(2026, 11, 1)
    assert parse_month(today, "2026-12") == date(2026, 12, 1)
    for wrong in ("2026-13", "2027-01", "12-2026", "1999-01"):
        with pytest.raises(PeriodError):
            parse_month(today, wrong)
