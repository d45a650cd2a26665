"""Drawing a ``Series``: server-rendered SVG charts and the same rows as a readable table.

The pages put each chart beside a table of its rows and a CSV link (``export``). Charts are
plain SVG markup styled by classes (pwa/static/css/console-insights.css): no scripts, no
``style`` attributes, so they pass the strict CSP and print as they are. Each chart is drawn
twice, for a laptop column and for a phone, and the stylesheet shows the one that fits; both
keep their text at the size it is written here.

A cell without a figure (``None``: fewer learners than the privacy floor) is a gap: a hatched
band where the mark would be, explained by a legend "fewer than N people".
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from xml.sax.saxutils import escape

from babel.dates import format_date
from babel.numbers import format_compact_decimal, format_currency, format_decimal, format_percent
from markupsafe import Markup

from backend.insights.series import Cell, ChartKind, Column, Series
from pwa.i18n import N_, gettext, ngettext

PALETTE_SIZE = 5  # series colours s1..s5 in the stylesheet
GAP_LEGEND = N_("fewer than %(num)d people")


@dataclass(frozen=True)
class Frame:
    """One drawing size: the SVG's own units, which the stylesheet scales to the column."""

    name: str
    width: int
    height: int
    max_labels: int  # category labels along a time axis
    label_chars: int  # characters of a bar's label before it is shortened


WIDE = Frame("wide", 460, 230, 6, 24)  # half of a laptop's page
BROAD = Frame("wide", 940, 260, 12, 30)  # a chart across the page
COMPACT = Frame("compact", 340, 230, 4, 14)  # a phone


@dataclass(frozen=True)
class Chart:
    """What a page shows for one series (texts translated, numbers in the page's language)."""

    key: str
    title: str
    note: str
    kind: str
    wide: Markup
    compact: Markup
    legend: list[tuple[str, str]]  # (colour class, label); empty for a single series
    has_gaps: bool
    gap_label: str
    header: list[str]
    numeric: list[bool]
    rows: list[list[str]]
    suppressed_note: str
    empty: bool
    empty_text: str
    headline: list[tuple[str, str]] = field(default_factory=list)


# --- numbers and dates --------------------------------------------------------------------


def format_cell(value: Cell, column: Column, locale: str) -> str:
    """A cell as the table shows it; ``None`` (below the floor) as a dash."""
    if value is None:
        return "–"
    unit = column.unit
    if isinstance(value, date):
        if unit == "month":
            return format_date(value, "LLLL yyyy", locale=locale)
        return format_date(value, "d MMM yyyy", locale=locale)
    if isinstance(value, str):
        return value
    if unit == "percent":
        return format_percent(value, "#,##0%", locale=locale)
    if unit == "euros":
        return _euros(value / 100, locale)
    if unit == "minutes" or unit == "count":
        return format_decimal(round(value), locale=locale)
    return format_decimal(value, locale=locale)


def _euros(amount: float, locale: str) -> str:
    return format_currency(amount, "EUR", format="¤ #,##0", currency_digits=False, locale=locale)


def tick_label(value: float, column: Column, locale: str) -> str:
    """A short number for an axis: 40%, 1,2K, € 300."""
    if column.unit == "percent":
        return format_percent(value, "#,##0%", locale=locale)
    if column.unit == "euros":
        amount = value / 100
        if abs(amount) >= 10_000:
            return "€ " + format_compact_decimal(amount, fraction_digits=1, locale=locale)
        return _euros(amount, locale)
    if abs(value) >= 10_000:
        return format_compact_decimal(value, fraction_digits=1, locale=locale)
    return format_decimal(value, locale=locale)


def category_label(value: Cell, column: Column, locale: str, *, short: bool) -> str:
    """A category (x axis or bar label): "3 mrt" for a week, "mrt" for a month."""
    if isinstance(value, date):
        if column.unit == "month":
            return format_date(value, "LLL" if short else "LLLL yyyy", locale=locale)
        return format_date(value, "d MMM" if short else "d MMM yyyy", locale=locale)
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return format_cell(value, column, locale)


def nice_scale(
    top: float, *, ticks: int = 4, whole: bool = True, percent: bool = False
) -> list[float]:
    """Round axis ticks from 0 that cover ``top`` (steps of 1, 2, 2.5 or 5 times a power of 10)."""
    if top <= 0:
        return [0.0, 0.25, 0.5, 0.75, 1.0] if percent else [0.0, 1.0]
    raw = top / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = magnitude * 10
    for factor in (1, 2, 2.5, 5, 10):
        if factor * magnitude >= raw:
            step = factor * magnitude
            break
    if whole and step < 1:
        step = 1.0
    if whole and step != int(step):
        step = math.ceil(step)
    count = math.ceil(top / step - 1e-9)
    values = [round(i * step, 10) for i in range(count + 1)]
    if percent and values[-1] > 1 and top <= 1:
        values = [v for v in values if v <= 1]
        if values[-1] < 1:
            values.append(1.0)
    return values


# --- the table ----------------------------------------------------------------------------


def table_of(series: Series, locale: str) -> tuple[list[str], list[bool], list[list[str]]]:
    header = [gettext(c.label) for c in series.columns]
    numeric = [c.unit not in ("week", "month", "day", "text") for c in series.columns]
    rows = [
        [
            format_cell(value, column, locale)
            for value, column in zip(row, series.columns, strict=False)
        ]
        for row in series.rows
    ]
    return header, numeric, rows


def is_empty(series: Series) -> bool:
    """No rows, or nothing but zeros: "no learning in this period yet"."""
    if not series.rows:
        return True
    return all(value == 0 for row in series.rows for value in row[1:])


# --- SVG building blocks ------------------------------------------------------------------


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, content: str, cls: str, anchor: str = "start") -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" class="{cls}" text-anchor="{anchor}">'
        f"{escape(content)}</text>"
    )


def _rect(x: float, y: float, w: float, h: float, cls: str, tip: str = "", fill: str = "") -> str:
    paint = f' fill="{fill}"' if fill else ""
    body = f"<title>{escape(tip)}</title>" if tip else ""
    return (
        f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(max(w, 0))}" '
        f'height="{_num(max(h, 0))}" class="{cls}"{paint}>{body}</rect>'
    )


def _shorten(label: str, chars: int) -> str:
    return label if len(label) <= chars else label[: chars - 1].rstrip() + "…"


@dataclass
class _Canvas:
    frame: Frame
    ident: str  # unique in the page: ids of the title and the hatch pattern
    title: str
    height: int
    gap_tip: str
    parts: list[str] = field(default_factory=list)

    @property
    def hatch(self) -> str:
        return f"url(#{self.ident}-gap)"

    def markup(self, description: str) -> Markup:
        width, height = self.frame.width, self.height
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{self.frame.name}" '
            f'viewBox="0 0 {width} {height}" role="img" focusable="false" '
            f'aria-labelledby="{self.ident}-title {self.ident}-desc">'
            f'<title id="{self.ident}-title">{escape(self.title)}</title>'
            f'<desc id="{self.ident}-desc">{escape(description)}</desc>'
            f'<defs><pattern id="{self.ident}-gap" patternUnits="userSpaceOnUse" width="6" '
            f'height="6" patternTransform="rotate(45)"><rect width="6" height="6" '
            f'class="chart-gap-ground"/><line x1="0" y1="0" x2="0" y2="6" '
            f'class="chart-gap-line"/></pattern></defs>'
        )
        return Markup(head + "".join(self.parts) + "</svg>")


def _value_columns(series: Series) -> list[int]:
    return list(range(1, len(series.columns)))


NUMERIC_UNITS = ("count", "minutes", "percent", "euros")


def drawn(series: Series, draw: Sequence[str] | None = None) -> Series:
    """The series a chart draws: one category (leading text columns joined, "Reminder · B")
    and the figures of one unit, so one scale fits (``draw`` names them; default: every
    column in the unit of the first figure). The table keeps every column."""
    columns = series.columns
    numeric = [i for i, c in enumerate(columns) if c.unit in NUMERIC_UNITS]
    if not numeric:
        return replace(series, columns=columns[:1], rows=[row[:1] for row in series.rows])
    if draw:
        picked = [i for i, c in enumerate(columns) if c.key in draw]
    else:
        unit = columns[numeric[0]].unit
        picked = [i for i in numeric if columns[i].unit == unit]
    leading = [0]
    while len(leading) < numeric[0] and columns[len(leading)].unit == "text":
        leading.append(len(leading))
    category = columns[0]
    if len(leading) > 1:
        category = Column(columns[0].key, columns[0].label, "text")
    rows: list[tuple[Cell, ...]] = []
    for row in series.rows:
        if len(leading) > 1:
            head: Cell = " · ".join(str(row[i]) for i in leading if row[i] not in (None, ""))
        else:
            head = row[0]
        rows.append((head, *(row[i] for i in picked)))
    return replace(series, columns=(category, *(columns[i] for i in picked)), rows=rows)


def _number(value: Cell) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _row_has_gap(row: Sequence[Cell], columns: Sequence[int]) -> bool:
    return any(row[i] is None for i in columns if i < len(row))


def _tip(series: Series, row: Sequence[Cell], index: int, locale: str) -> str:
    category = category_label(row[0], series.columns[0], locale, short=False)
    label = gettext(series.columns[index].label)
    return f"{category} · {label}: {format_cell(row[index], series.columns[index], locale)}"


def _y_axis(
    canvas: _Canvas, ticks: list[float], column: Column, locale: str,
    left: float, right: float, top: float, bottom: float,
) -> None:  # fmt: skip
    span = ticks[-1] or 1.0
    for tick in ticks:
        y = bottom - (tick / span) * (bottom - top)
        cls = "chart-baseline" if tick == 0 else "chart-grid"
        canvas.parts.append(
            f'<line x1="{_num(left)}" y1="{_num(y)}" x2="{_num(right)}" y2="{_num(y)}" class="{cls}"/>'
        )
        canvas.parts.append(
            _text(left - 6, y + 4, tick_label(tick, column, locale), "chart-tick", "end")
        )


def _x_labels(canvas: _Canvas, series: Series, centres: list[float], y: float, locale: str) -> None:
    count = len(centres)
    chars = 10 if canvas.frame is COMPACT else 14
    labels = [
        _shorten(category_label(row[0], series.columns[0], locale, short=True), chars)
        for row in series.rows
    ]
    slot = (centres[1] - centres[0]) if count > 1 else canvas.frame.width
    needed = max(len(label) for label in labels) * 6.6 + 8
    stride = max(1, math.ceil(needed / slot), math.ceil(count / canvas.frame.max_labels))
    if series.chart == "histogram":
        stride = max(1, math.ceil(needed / slot))  # every bucket has a label when they fit
    for index, x in enumerate(centres):
        if (count - 1 - index) % stride:
            continue  # the latest category always has its label
        anchor = "middle"
        if count > 1 and index == count - 1 and x > canvas.frame.width - 30:
            anchor = "end"
        canvas.parts.append(_text(x, y, labels[index], "chart-tick", anchor))


def _left_margin(ticks: list[float], column: Column, locale: str) -> float:
    widest = max(len(tick_label(t, column, locale)) for t in ticks)
    return 14 + widest * 7.0


def _scale_top(series: Series, columns: list[int], *, stacked: bool) -> float:
    top = 0.0
    for row in series.rows:
        values = [_number(row[i]) for i in columns if i < len(row)]
        present = [v for v in values if v is not None]
        if not present:
            continue
        top = max(top, sum(v for v in present if v > 0) if stacked else max(present))
    return top


def _ticks_for(series: Series, columns: list[int], *, stacked: bool) -> list[float]:
    column = series.columns[columns[0]]
    return nice_scale(
        _scale_top(series, columns, stacked=stacked),
        whole=column.unit in ("count", "minutes", "euros"),
        percent=column.unit == "percent",
    )


# --- chart kinds --------------------------------------------------------------------------


def _draw_columns(canvas: _Canvas, series: Series, locale: str, *, kind: str) -> bool:
    """Vertical bars over categories: bars (grouped), stacked bars or a histogram."""
    columns = _value_columns(series)
    stacked = kind == "stacked_bars"
    ticks = _ticks_for(series, columns, stacked=stacked)
    left = _left_margin(ticks, series.columns[columns[0]], locale)
    right, top, bottom = canvas.frame.width - 8.0, 12.0, canvas.height - 26.0
    _y_axis(canvas, ticks, series.columns[columns[0]], locale, left, right, top, bottom)
    count = len(series.rows)
    slot = (right - left) / count
    share = 0.92 if kind == "histogram" else 0.66
    span = ticks[-1] or 1.0
    height_of = (bottom - top) / span
    centres: list[float] = []
    gaps = False
    show_values = count <= (6 if canvas.frame is COMPACT else 8) and (stacked or len(columns) == 1)
    for index, row in enumerate(series.rows):
        x0 = left + index * slot
        centre = x0 + slot / 2
        centres.append(centre)
        width = slot * share
        if _row_has_gap(row, columns):
            gaps = True
            canvas.parts.append(
                _rect(
                    x0 + (slot - width) / 2,
                    top,
                    width,
                    bottom - top,
                    "chart-gap",
                    canvas.gap_tip,
                    canvas.hatch,
                )
            )
            continue
        if stacked:
            base = bottom
            total = 0.0
            for position, col in enumerate(columns):
                value = _number(row[col]) or 0.0
                total += value
                h = value * height_of
                cls = f"chart-bar s{position % PALETTE_SIZE + 1}"
                canvas.parts.append(
                    _rect(
                        x0 + (slot - width) / 2,
                        base - h,
                        width,
                        h,
                        cls,
                        _tip(series, row, col, locale),
                    )
                )
                base -= h
            if show_values:
                label = tick_label(total, series.columns[columns[0]], locale)
                canvas.parts.append(_text(centre, base - 4, label, "chart-value", "middle"))
            continue
        inner = width / len(columns)
        for position, col in enumerate(columns):
            value = _number(row[col]) or 0.0
            h = value * height_of
            x = x0 + (slot - width) / 2 + position * inner
            cls = f"chart-bar s{position % PALETTE_SIZE + 1}"
            canvas.parts.append(_rect(x, bottom - h, inner, h, cls, _tip(series, row, col, locale)))
            if show_values:
                label = format_cell(row[col], series.columns[col], locale)
                canvas.parts.append(
                    _text(x + inner / 2, bottom - h - 4, label, "chart-value", "middle")
                )
    _x_labels(canvas, series, centres, canvas.height - 8, locale)
    return gaps


def _draw_lines(canvas: _Canvas, series: Series, locale: str) -> bool:
    columns = _value_columns(series)
    ticks = _ticks_for(series, columns, stacked=False)
    left = _left_margin(ticks, series.columns[columns[0]], locale)
    right, top, bottom = canvas.frame.width - 14.0, 12.0, canvas.height - 26.0
    _y_axis(canvas, ticks, series.columns[columns[0]], locale, left, right, top, bottom)
    count = len(series.rows)
    step = (right - left) / (count - 1) if count > 1 else 0.0
    centres = [left + i * step for i in range(count)] if count > 1 else [(left + right) / 2]
    span = ticks[-1] or 1.0
    gaps = False
    half = step / 2 if count > 1 else (right - left) / 4
    for index, row in enumerate(series.rows):
        if _row_has_gap(row, columns):
            gaps = True
            x = max(left, centres[index] - half)
            w = min(right, centres[index] + half) - x
            canvas.parts.append(
                _rect(x, top, w, bottom - top, "chart-gap", canvas.gap_tip, canvas.hatch)
            )
    for position, col in enumerate(columns):
        colour = f"s{position % PALETTE_SIZE + 1}"
        runs: list[list[tuple[float, float, int]]] = [[]]
        for index, row in enumerate(series.rows):
            value = _number(row[col]) if col < len(row) else None
            if value is None:
                if runs[-1]:
                    runs.append([])
                continue
            y = bottom - (value / span) * (bottom - top)
            runs[-1].append((centres[index], y, index))
        for run in runs:
            if not run:
                continue
            points = " ".join(f"{_num(x)},{_num(y)}" for x, y, _ in run)
            if position == 0 and len(run) > 1:
                area = (
                    f"{_num(run[0][0])},{_num(bottom)} {points} {_num(run[-1][0])},{_num(bottom)}"
                )
                canvas.parts.append(f'<polygon points="{area}" class="chart-area {colour}"/>')
            if len(run) > 1:
                canvas.parts.append(f'<polyline points="{points}" class="chart-line {colour}"/>')
            for x, y, index in run:
                # every point when there are few, else the ends of each run
                if count <= 16 or index in (run[0][2], run[-1][2]) or len(run) == 1:
                    tip = _tip(series, series.rows[index], col, locale)
                    canvas.parts.append(
                        f'<circle cx="{_num(x)}" cy="{_num(y)}" r="3.5" class="chart-dot {colour}">'
                        f"<title>{escape(tip)}</title></circle>"
                    )
    _x_labels(canvas, series, centres, canvas.height - 8, locale)
    return gaps


ROW_HEIGHT = 30


def _row_layout(frame: Frame) -> tuple[float, float, float]:
    """(row height, bar top within the row, bar thickness) of horizontal bars: on a phone
    the name goes above its bar (the full width is the bar's), else left of it."""
    if frame is COMPACT:
        return 44.0, 19.0, 18.0
    return ROW_HEIGHT, ROW_HEIGHT * 0.19, ROW_HEIGHT * 0.62


def _draw_bars(canvas: _Canvas, series: Series, locale: str) -> bool:
    """Horizontal bars, one row per category (competencies, nudge kinds): labels stay readable."""
    columns = _value_columns(series)
    stacked = series.chart == "stacked_bars"
    ticks = _ticks_for(series, columns, stacked=stacked)
    frame = canvas.frame
    above = frame is COMPACT
    row_height, bar_top, band = _row_layout(frame)
    labels = [category_label(row[0], series.columns[0], locale, short=False) for row in series.rows]
    if above:
        left, chars = 10.0, 44
    else:
        chars = frame.label_chars
        left = 12 + max((len(_shorten(label, chars)) for label in labels), default=4) * 6.6
    right, top = frame.width - 44.0, 8.0
    bottom = top + row_height * len(series.rows)
    span = ticks[-1] or 1.0
    width_of = (right - left) / span
    gaps = False
    for tick in ticks:
        x = left + tick * width_of
        cls = "chart-baseline" if tick == 0 else "chart-grid"
        canvas.parts.append(
            f'<line x1="{_num(x)}" y1="{_num(top)}" x2="{_num(x)}" y2="{_num(bottom)}" class="{cls}"/>'
        )
    # ticks along the bottom: at most 4 on a phone
    shown = ticks if not above or len(ticks) <= 4 else ticks[:: math.ceil(len(ticks) / 3)]
    for tick in shown:
        x = left + tick * width_of
        label = tick_label(tick, series.columns[columns[0]], locale)
        anchor = "start" if above and tick == 0 else "middle"
        canvas.parts.append(_text(x, bottom + 16, label, "chart-tick", anchor))
    for index, row in enumerate(series.rows):
        y0 = top + index * row_height
        label = _shorten(labels[index], chars)
        if above:
            x, y, anchor = left, y0 + 13, "start"
        else:
            x, y, anchor = left - 8, y0 + row_height / 2 + 4, "end"
        canvas.parts.append(
            f'<text x="{_num(x)}" y="{_num(y)}" class="chart-label" text-anchor="{anchor}">'
            f"{escape(label)}<title>{escape(labels[index])}</title></text>"
        )
        if _row_has_gap(row, columns):
            gaps = True
            canvas.parts.append(
                _rect(left, y0 + bar_top, right - left, band, "chart-gap", canvas.gap_tip,
                      canvas.hatch)
            )  # fmt: skip
            continue
        if stacked:
            x, total, y = left, 0.0, y0 + bar_top
            for position, col in enumerate(columns):
                value = _number(row[col]) or 0.0
                total += value
                cls = f"chart-bar s{position % PALETTE_SIZE + 1}"
                tip = _tip(series, row, col, locale)
                canvas.parts.append(_rect(x, y, value * width_of, band, cls, tip))
                x += value * width_of
            text = tick_label(total, series.columns[columns[0]], locale)
            canvas.parts.append(_text(x + 5, y + band / 2 + 4, text, "chart-value"))
            continue
        inner = band / len(columns)
        for position, col in enumerate(columns):
            value = _number(row[col]) or 0.0
            y = y0 + bar_top + position * inner
            w = value * width_of
            cls = f"chart-bar s{position % PALETTE_SIZE + 1}"
            height = inner - (1 if len(columns) > 1 else 0)
            canvas.parts.append(_rect(left, y, w, height, cls, _tip(series, row, col, locale)))
            if len(columns) <= 2:  # a figure beside its bar while it fits
                text = format_cell(row[col], series.columns[col], locale)
                cls = "chart-value" if len(columns) == 1 else "chart-value chart-value-small"
                canvas.parts.append(_text(left + w + 5, y + inner / 2 + 3.5, text, cls))
    return gaps


def _bars_height(series: Series, frame: Frame) -> int:
    return int(8 + _row_layout(frame)[0] * len(series.rows) + 26)


def horizontal(series: Series) -> bool:
    """Bars over named categories lie down (long names stay readable); bars over time stand."""
    return series.chart in ("bars", "stacked_bars") and series.columns[0].unit in ("text", "count")


def _svg(series: Series, frame: Frame, ident: str, locale: str, floor: int) -> tuple[Markup, bool]:
    title = gettext(series.title)
    gap_tip = gettext(GAP_LEGEND) % {"num": floor}
    if horizontal(series):
        canvas = _Canvas(frame, ident, title, _bars_height(series, frame), gap_tip)
        gaps = _draw_bars(canvas, series, locale)
    else:
        canvas = _Canvas(frame, ident, title, frame.height, gap_tip)
        if series.chart == "line":
            gaps = _draw_lines(canvas, series, locale)
        else:
            gaps = _draw_columns(canvas, series, locale, kind=series.chart)
    description = gettext(N_("The same figures are in the table below the chart."))
    return canvas.markup(description), gaps


def chart_of(
    series: Series,
    *,
    floor: int,
    locale: str,
    ident: str | None = None,
    key: str | None = None,
    broad: bool = False,
    draw: Sequence[str] | None = None,
    kind: ChartKind | None = None,
    empty_text: str = "",
) -> Chart:
    """Everything a page needs to show ``series``: both SVG sizes, the legend and the table.

    ``key`` names the chart in the page (default: the series' key); ``broad`` draws the
    laptop's chart across the page instead of in half of it; ``draw`` names the columns the chart draws and ``kind`` overrides the series' chart kind
    (the table always has every column). Texts are translated in the current language
    (``pwa.i18n.set_locale``); numbers and dates are written for ``locale``.
    """
    key = key or series.key
    ident = ident or f"chart-{key}"
    header, numeric, rows = table_of(series, locale)
    empty = is_empty(series)
    picture = drawn(replace(series, chart=kind) if kind else series, draw)
    wide = compact = Markup("")
    gaps = False
    if not empty and picture.chart != "table" and len(picture.columns) > 1:
        wide, gaps = _svg(picture, BROAD if broad else WIDE, f"{ident}-w", locale, floor)
        compact, _ = _svg(picture, COMPACT, f"{ident}-c", locale, floor)
    values = _value_columns(picture)
    legend = (
        [
            (f"s{i % PALETTE_SIZE + 1}", gettext(picture.columns[c].label))
            for i, c in enumerate(values)
        ]
        if len(values) > 1
        else []
    )
    suppressed = ""
    if series.suppressed_rows:
        suppressed = ngettext(
            "%(num)d row had fewer than %(floor)d people: its figures are not shown.",
            "%(num)d rows had fewer than %(floor)d people: their figures are not shown.",
            series.suppressed_rows,
        ) % {"num": series.suppressed_rows, "floor": floor}
    return Chart(
        key=key,
        title=gettext(series.title),
        note=gettext(series.note) if series.note else "",
        kind=picture.chart,
        wide=wide,
        compact=compact,
        legend=legend,
        has_gaps=gaps,
        gap_label=gettext(GAP_LEGEND) % {"num": floor},
        header=header,
        numeric=numeric,
        rows=rows,
        suppressed_note=suppressed,
        empty=empty,
        empty_text=empty_text or gettext(N_("No learning in this period yet.")),
    )


def sparkline(values: Sequence[float | None], *, label: str, ident: str) -> Markup:
    """A small trend line (the leadership summary): no axes, the last point marked."""
    width, height, pad = 120, 32, 4
    present = [v for v in values if v is not None]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sparkline" viewBox="0 0 {width} {height}" '
        f'role="img" focusable="false" aria-labelledby="{ident}-title">'
        f'<title id="{ident}-title">{escape(label)}</title>'
    ]
    if len(values) > 1 and present:
        low, high = min(present), max(present)
        spread = (high - low) or 1.0
        step = (width - 2 * pad) / (len(values) - 1)
        runs: list[list[tuple[float, float]]] = [[]]
        for index, value in enumerate(values):
            if value is None:
                runs.append([])
                continue
            y = height - pad - (value - low) / spread * (height - 2 * pad)
            runs[-1].append((pad + index * step, y))
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{_num(x)},{_num(y)}" for x, y in run)
                parts.append(f'<polyline points="{points}" class="sparkline-line"/>')
        last = runs[-1][-1] if runs[-1] else None
        if last is not None:
            parts.append(
                f'<circle cx="{_num(last[0])}" cy="{_num(last[1])}" r="3" class="sparkline-dot"/>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
