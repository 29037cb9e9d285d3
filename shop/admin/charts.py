"""Server-side SVG charts that read without JavaScript, and without sight.

Each builder returns a ``<figure>``: a caption, an ``<svg role="img">`` named by its
``<title>`` and ``<desc>``, a legend, and a visually hidden table of every number, so a
screen reader gets the figures rather than a picture of them. Colours are presentation
attributes, not inline styles, which the Content-Security-Policy refuses; each series
also differs by more than colour (marker shape, dash, position).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from shop import palette

MARKERS = ("circle", "square", "diamond")
DASHES = ("", "7 4", "2 3")

# The drawing's own units; the page scales it to the column's width.
WIDTH = 480
HEIGHT = 280
FONT = 13
# Narrow screens shrink the drawing, so the stylesheet enlarges its text up to this
# size there: every margin is measured for the larger text.
LARGEST_FONT = 16
CHAR = 0.6 * LARGEST_FONT  # a generous average glyph width
TITLE_ROOM = 26  # left of the value ticks: the rotated axis title
GAP = 6  # between a tick and its label
TOP = 14
RIGHT = 28  # half a centred label past the last point
BOTTOM = 52  # tick labels, then the axis title
TICKS = 4
MAX_TICKS = 6  # labels a narrow screen's category axis holds

Format = Callable[[int], str]


def count(number: int) -> str:
    """A whole number as people read it: 12,345."""
    return f"{number:,}"


@dataclass(frozen=True)
class Series:
    """One named line or set of bars."""

    name: str
    values: Sequence[int]


@dataclass(frozen=True)
class Chart:
    """What every chart needs: names, axes, the points' labels, and the series."""

    key: str  # unique in the page: the ids of the title and description derive from it
    title: str
    summary: str
    category_label: str  # the axis the points are spread along: x, or y for rankings
    value_label: str  # the axis the values are measured on
    labels: Sequence[str]  # each point's full label, for the table
    ticks: Sequence[str]  # each point's label on the axis; "" leaves it unlabelled
    series: Sequence[Series]
    value_format: Format = count
    tick_format: Format | None = None
    unit: int = 1  # grid lines fall on multiples of this: 100 puts money on whole units


@dataclass(frozen=True)
class _Plot:
    """The plotting area inside the margins, in drawing units."""

    left: float
    right: float
    top: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


def _f(number: float) -> str:
    """A coordinate, short: 12.5 rather than 12.500000001."""
    return f"{number:.1f}".removesuffix(".0")


def _join(parts: Sequence[str]) -> Markup:
    return Markup("").join(parts)


def nice_ceiling(value: int, unit: int = 1) -> int:
    """The axis top: TICKS steps of 1, 2 or 5 times a power of ten (in ``unit``), >= value."""
    whole = math.ceil(value / unit)
    if whole <= TICKS:
        return TICKS * unit
    raw = whole / TICKS
    power = 10 ** math.floor(math.log10(raw))
    step = next(s for s in (1, 2, 5, 10) if s * power >= raw)
    return int(step * power) * TICKS * unit


def _grid_values(chart: Chart, top: int) -> list[tuple[int, str]]:
    fmt = chart.tick_format or chart.value_format
    return [(top * i // TICKS, fmt(top * i // TICKS)) for i in range(TICKS + 1)]


def _open_svg(chart: Chart, height: int = HEIGHT) -> list[str]:
    return [
        Markup(
            '<svg class="chart-svg" role="img" aria-labelledby="{k}-title {k}-desc" '
            'viewBox="0 0 {w} {h}" font-size="{fs}" fill="{ink}">'
        ).format(k=chart.key, w=WIDTH, h=height, fs=FONT, ink=palette.INK),
        Markup('<title id="{}-title">{}</title>').format(chart.key, chart.title),
        Markup('<desc id="{}-desc">{}</desc>').format(chart.key, chart.summary),
    ]


def _value_axis(chart: Chart, top: int) -> tuple[_Plot, list[str]]:
    """The plot area, sized to the value labels, with its grid lines and axis title."""
    grid = _grid_values(chart, top)
    left = TITLE_ROOM + GAP + max(len(label) for _, label in grid) * CHAR
    plot = _Plot(left=left, right=WIDTH - RIGHT, top=TOP, bottom=HEIGHT - BOTTOM)
    parts: list[str] = []
    for i, (_, label) in enumerate(grid):
        y = _f(plot.bottom - plot.height * i / TICKS)
        parts.append(
            Markup(
                '<line x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="{c}" stroke-width="1"/>'
                '<text x="{tx}" y="{y}" text-anchor="end" dominant-baseline="middle" '
                'fill="{m}">{t}</text>'
            ).format(
                x1=_f(plot.left),
                x2=_f(plot.right),
                y=y,
                c=palette.AXIS if i == 0 else palette.RULE,
                tx=_f(plot.left - GAP),
                m=palette.MUTED,
                t=label,
            )
        )
    middle = _f(plot.top + plot.height / 2)
    parts.append(
        Markup(
            '<text x="0" y="0" text-anchor="middle" dominant-baseline="hanging" '
            'transform="translate(2 {y}) rotate(-90)" font-weight="600">{t}</text>'
        ).format(y=middle, t=chart.value_label)
    )
    return plot, parts


def _category_axis(chart: Chart, plot: _Plot, xs: Sequence[float]) -> list[str]:
    """The points' labels under the plot, and the axis title under them."""
    labelled = [(x, tick) for x, tick in zip(xs, chart.ticks, strict=True) if tick]
    crowded = len(labelled) > MAX_TICKS
    parts: list[str] = []
    for back, (x, tick) in enumerate(reversed(labelled)):
        # Too many labels for a narrow screen: every other one, counting back from the
        # newest, may be hidden there by the stylesheet.
        minor = Markup(' class="chart-tick-minor"') if crowded and back % 2 else Markup("")
        parts.append(
            Markup('<text x="{x}" y="{y}" text-anchor="middle" fill="{c}"{m}>{t}</text>').format(
                x=_f(x), y=_f(plot.bottom + LARGEST_FONT + 4), c=palette.MUTED, m=minor, t=tick
            )
        )
    parts.append(
        Markup('<text x="{x}" y="{y}" text-anchor="middle" font-weight="600">{t}</text>').format(
            x=_f(plot.left + plot.width / 2), y=HEIGHT - 6, t=chart.category_label
        )
    )
    return parts


def _marker(kind: str, x: float, y: float, colour: str) -> Markup:
    if kind == "square":
        return Markup('<rect x="{}" y="{}" width="8" height="8" fill="{}"/>').format(
            _f(x - 4), _f(y - 4), colour
        )
    if kind == "diamond":
        points = f"{_f(x)},{_f(y - 5)} {_f(x + 5)},{_f(y)} {_f(x)},{_f(y + 5)} {_f(x - 5)},{_f(y)}"
        return Markup('<polygon points="{}" fill="{}"/>').format(points, colour)
    return Markup('<circle cx="{}" cy="{}" r="4" fill="{}"/>').format(_f(x), _f(y), colour)


def _legend(chart: Chart, kind: str) -> Markup:
    """The series' names with their swatches, as HTML so that it wraps on small screens."""
    items = []
    for i, series in enumerate(chart.series):
        colour = palette.SERIES[i % len(palette.SERIES)]
        if kind == "line":
            swatch = Markup(
                '<line x1="1" x2="23" y1="7" y2="7" stroke="{c}" stroke-width="3" '
                'stroke-dasharray="{d}"/>{m}'
            ).format(
                c=colour,
                d=DASHES[i % len(DASHES)],
                m=_marker(MARKERS[i % len(MARKERS)], 12, 7, colour),
            )
        else:
            swatch = Markup('<rect x="5" y="1" width="14" height="12" fill="{}"/>').format(colour)
        items.append(
            Markup(
                '<li><svg class="chart-swatch" width="24" height="14" viewBox="0 0 24 14" '
                'aria-hidden="true" focusable="false">{}</svg> {}</li>'
            ).format(swatch, series.name)
        )
    return Markup('<ul class="chart-legend">{}</ul>').format(_join(items))


def _table(chart: Chart, total: bool = False) -> Markup:
    """Every number of the chart, for screen readers (and anyone reading the source)."""
    head = [Markup('<th scope="col">{}</th>').format(chart.category_label)]
    head += [Markup('<th scope="col">{}</th>').format(s.name) for s in chart.series]
    if total:
        head.append(Markup('<th scope="col">Total</th>'))
    rows = []
    for i, label in enumerate(chart.labels):
        cells = [Markup('<th scope="row">{}</th>').format(label)]
        cells += [
            Markup("<td>{}</td>").format(chart.value_format(s.values[i])) for s in chart.series
        ]
        if total:
            whole = sum(s.values[i] for s in chart.series)
            cells.append(Markup("<td>{}</td>").format(chart.value_format(whole)))
        rows.append(Markup("<tr>{}</tr>").format(_join(cells)))
    # The wrapper, not the table, is hidden: a table will not shrink to one pixel, and
    # its width would otherwise widen the page on small screens.
    return Markup(
        '<div class="visually-hidden"><table><caption>{c}: the figures</caption>'
        "<thead><tr>{h}</tr></thead><tbody>{b}</tbody></table></div>"
    ).format(c=chart.title, h=_join(head), b=_join(rows))


def _figure(chart: Chart, svg: list[str], legend: Markup, table: Markup) -> Markup:
    return Markup(
        '<figure class="chart" id="{k}"><figcaption class="chart-title">{t}</figcaption>'
        "{s}</svg>{l}{tb}</figure>"
    ).format(k=chart.key, t=chart.title, s=_join(svg), l=legend, tb=table)


def line_chart(chart: Chart) -> Markup:
    """Lines with a marker at each point; each series has its own dash and marker shape."""
    highest = max((max(s.values, default=0) for s in chart.series), default=0)
    top = nice_ceiling(highest, chart.unit)
    plot, axis = _value_axis(chart, top)
    step = plot.width / max(len(chart.labels) - 1, 1)
    xs = [plot.left + step * i for i in range(len(chart.labels))]
    svg = _open_svg(chart) + axis + _category_axis(chart, plot, xs)
    for i, series in enumerate(chart.series):
        colour = palette.SERIES[i % len(palette.SERIES)]
        ys = [plot.bottom - plot.height * v / top for v in series.values]
        points = " ".join(f"{_f(x)},{_f(y)}" for x, y in zip(xs, ys, strict=True))
        svg.append(
            Markup(
                '<polyline points="{p}" fill="none" stroke="{c}" stroke-width="2.5" '
                'stroke-dasharray="{d}" stroke-linejoin="round"/>'
            ).format(p=points, c=colour, d=DASHES[i % len(DASHES)])
        )
        svg.extend(
            _marker(MARKERS[i % len(MARKERS)], x, y, colour) for x, y in zip(xs, ys, strict=True)
        )
    return _figure(chart, svg, _legend(chart, "line"), _table(chart))


def stacked_bars(chart: Chart) -> Markup:
    """One bar per point, its series stacked bottom to top in legend order."""
    totals = [sum(s.values[i] for s in chart.series) for i in range(len(chart.labels))]
    top = nice_ceiling(max(totals, default=0), chart.unit)
    plot, axis = _value_axis(chart, top)
    slot = plot.width / max(len(chart.labels), 1)
    bar = max(slot * 0.7, 1)
    xs = [plot.left + slot * (i + 0.5) for i in range(len(chart.labels))]
    svg = _open_svg(chart) + axis + _category_axis(chart, plot, xs)
    for i, x in enumerate(xs):
        base = plot.bottom
        for j, series in enumerate(chart.series):
            value = series.values[i]
            if value <= 0:
                continue
            height = plot.height * value / top
            base -= height
            # A white edge keeps neighbouring segments apart whatever their colours.
            svg.append(
                Markup(
                    '<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{c}" '
                    'stroke="{e}" stroke-width="1"/>'
                ).format(
                    x=_f(x - bar / 2),
                    y=_f(base),
                    w=_f(bar),
                    h=_f(height),
                    c=palette.SERIES[j % len(palette.SERIES)],
                    e=palette.WHITE,
                )
            )
    several = len(chart.series) > 1
    legend = _legend(chart, "bar") if several else Markup("")
    return _figure(chart, svg, legend, _table(chart, total=several))


def bar_chart(chart: Chart) -> Markup:
    """Vertical bars, one series: a stack of one."""
    return stacked_bars(chart)


def ranking_chart(chart: Chart, label_chars: int = 20) -> Markup:
    """Horizontal bars, biggest first, each named on its left and valued on its right."""
    series = chart.series[0]
    row = LARGEST_FONT + 12
    names = [t if len(t) <= label_chars else t[: label_chars - 1] + "\u2026" for t in chart.ticks]
    values = [chart.value_format(v) for v in series.values]
    left = GAP + max((len(n) for n in names), default=0) * CHAR + GAP
    right = WIDTH - GAP - max((len(v) for v in values), default=0) * CHAR - GAP
    first = TOP + LARGEST_FONT + 4  # the names' heading sits above the first row
    base = first + row * max(len(names), 1)
    height = int(base + LARGEST_FONT + 20)
    most = max(series.values, default=0) or 1
    svg = _open_svg(chart, height)
    svg.append(
        Markup('<text x="{x}" y="{y}" text-anchor="end" font-weight="600">{t}</text>').format(
            x=_f(left - GAP), y=_f(first - 6), t=chart.category_label
        )
    )
    for i, (name, value, shown) in enumerate(zip(names, series.values, values, strict=True)):
        middle = _f(first + row * i + row / 2)
        length = max((right - left) * value / most, 1)
        svg.append(
            Markup(
                '<text x="{x}" y="{y}" text-anchor="end" dominant-baseline="middle">{t}</text>'
                '<rect x="{bx}" y="{by}" width="{w}" height="{h}" fill="{c}"/>'
                '<text x="{vx}" y="{y}" dominant-baseline="middle" fill="{m}">{v}</text>'
            ).format(
                x=_f(left - GAP),
                y=middle,
                t=name,
                bx=_f(left),
                by=_f(first + row * i + 5),
                w=_f(length),
                h=row - 10,
                c=palette.SERIES[0],
                vx=_f(left + length + GAP),
                m=palette.MUTED,
                v=shown,
            )
        )
    svg.append(
        Markup(
            '<line x1="{x}" x2="{x}" y1="{a}" y2="{b}" stroke="{c}"/>'
            '<text x="{cx}" y="{ty}" text-anchor="middle" font-weight="600">{t}</text>'
        ).format(
            x=_f(left),
            a=_f(first),
            b=_f(base),
            c=palette.AXIS,
            cx=_f((left + right) / 2),
            ty=_f(base + LARGEST_FONT + 8),
            t=chart.value_label,
        )
    )
    return _figure(chart, svg, Markup(""), _table(chart))
