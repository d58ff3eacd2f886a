"""Server-side SVG charts: geometry computed here, drawn by templates/jobs/_bar_chart.html,
_line_chart.html and _sparkline.html. Every chart has axes with units, and time axes name
their time zone."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext

from .timeutil import from_ms

AXIS_LEFT = 56  # room for the y labels
AXIS_BOTTOM = 30  # room for the x labels and the time zone
AXIS_TOP = 18  # room for the unit above the plot


@dataclass(frozen=True)
class Bar:
    label: str
    x: float
    width: float
    segments: list[tuple[float, float, str, int]]  # (y, height, css class, value)
    show_label: bool = False  # every k-th bar carries its label on the axis


class _Axes:
    """The plot area of a chart and the margins its axes take (SVG coordinates)."""

    width: int
    height: int

    @property
    def full_height(self) -> int:
        return self.height + AXIS_TOP + AXIS_BOTTOM

    @property
    def top(self) -> int:
        return AXIS_TOP

    @property
    def full_width(self) -> int:
        return self.width + AXIS_LEFT

    @property
    def left(self) -> int:
        return AXIS_LEFT


@dataclass(frozen=True)
class BarChart(_Axes):
    bars: list[Bar]
    width: int
    height: int
    max_value: int
    series: list[tuple[str, str]]  # (name, css class)
    unit: str = ""
    x_title: str = ""
    y_ticks: list[tuple[float, str]] = field(default_factory=list)  # (y, label)


def bar_chart(
    rows: Sequence[tuple[str, Sequence[int]]],
    series: Sequence[tuple[str, str]],
    width: int = 720,
    height: int = 160,
    unit: str = "",
    x_title: str = "",
) -> BarChart:
    """Stacked bars, one per row: rows are (label, one value per series)."""
    max_value = max((sum(values) for _, values in rows), default=0) or 1
    slot = width / max(len(rows), 1)
    label_every = max(-(-len(rows) // 12), 1)
    bars = []
    for i, (label, values) in enumerate(rows):
        top = float(height)
        segments = []
        for (_, css), value in zip(series, values, strict=False):
            h = height * value / max_value
            top -= h
            segments.append((round(top, 1), round(h, 1), css, value))
        bars.append(
            Bar(label, round(i * slot + 1, 1), round(max(slot - 2, 1), 1), segments, show_label=i % label_every == 0)
        )
    ticks = [(round(height - height * v / max_value, 1), _number(v)) for v in _nice_ticks(max_value)]
    return BarChart(bars, width, height, max_value, list(series), unit, x_title, ticks)


def throughput_chart(rows: Sequence[tuple[int, int, int]]) -> BarChart:
    """Processed and failed jobs per minute: rows are (epoch minute, processed, failed)."""
    labels = [from_ms(minute * 60_000).strftime("%H:%M") for minute, _, _ in rows]  # type: ignore[union-attr]
    return bar_chart(
        [(label, (p, f)) for label, (_, p, f) in zip(labels, rows, strict=True)],
        [(gettext("processed"), "ok"), (gettext("failed"), "bad")],
        unit=gettext("jobs / minute"),
        x_title=time_axis_title(),
    )


def time_axis_title() -> str:
    """The x axis' title: the time zone its times are in."""
    return gettext("time (%(zone)s)") % {"zone": timezone.get_current_timezone_name()}


def _nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round tick values from 0 up to `top` (1, 2 or 5 times a power of ten apart)."""
    if top <= 0:
        return [0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(top / step) + 1)]


def _number(value: float) -> str:
    if value >= 1000 and value % 1000 == 0:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def duration_label(ms: float | None) -> str:
    """A readable duration: 850 ms, 2.5 s, 3.2 min."""
    if ms is None:
        return "–"
    if ms < 1:
        return "<1 ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return gettext("%(n)s s") % {"n": f"{ms / 1000:.1f}"}
    return gettext("%(n)s min") % {"n": f"{ms / 60_000:.1f}"}


@dataclass(frozen=True)
class Line:
    name: str
    css: str
    segments: list[str]  # SVG polyline points, one string per unbroken run of values
    dots: list[tuple[float, float, str]] = field(default_factory=list)  # (x, y, value label): every point


@dataclass(frozen=True)
class Marker:
    x: float
    label: str
    when: str
    anchor: str = "start"  # of its label: "end" near the right edge, so it stays inside the chart


@dataclass(frozen=True)
class LineChart(_Axes):
    lines: list[Line]
    width: int
    height: int
    unit: str
    x_title: str
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    markers: list[Marker]


def line_chart(
    times_ms: Sequence[int],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    *,
    unit: str,
    markers: Sequence[tuple[int, str]] = (),
    step_ms: int = 60_000,
    label_format: str = "%H:%M",
    width: int = 720,
    height: int = 200,
) -> LineChart:
    """Lines over time: series are (name, css class, one value or None per time). `markers`
    (time, label) inside the span are drawn as vertical lines (deploys)."""
    values = [v for _, _, vs in series for v in vs if v is not None]
    peak = max(values, default=0) or 1
    top = _nice_ticks(peak)
    step = top[1] if len(top) > 1 else peak
    y_max = math.ceil(peak / step) * step
    top = [i * step for i in range(round(y_max / step) + 1)]
    n = max(len(times_ms), 1)
    slot = width / n

    def x_of(i: float) -> float:
        return round(i * slot + slot / 2, 1)

    def y_of(v: float) -> float:
        return round(height - height * v / y_max, 1)

    lines = []
    for name, css, vs in series:
        segments: list[str] = []
        current: list[str] = []
        dots: list[tuple[float, float, str]] = []
        for i, v in enumerate(vs):
            if v is None:
                if current:
                    segments.append(" ".join(current))
                current = []
            else:
                current.append(f"{x_of(i)},{y_of(v)}")
                dots.append((x_of(i), y_of(v), f"{_number(round(v, 1))} {unit.rsplit(', ', 1)[-1]}"))
        if current:
            segments.append(" ".join(current))
        lines.append(Line(name, css, segments, dots))
    every = max(-(-n // 8), 1)
    x_ticks = [
        (x_of(i), moment.strftime(label_format))
        for i, t in enumerate(times_ms)
        if i % every == 0 and (moment := from_ms(t)) is not None
    ]
    drawn = []
    if times_ms:
        start, end = times_ms[0], times_ms[-1] + step_ms
        for at, label in markers:
            if start <= at < end:
                x = round((at - start) / step_ms * slot, 1)
                drawn.append(
                    Marker(
                        x,
                        label,
                        from_ms(at).strftime("%Y-%m-%d %H:%M:%S"),  # type: ignore[union-attr]
                        "end" if x > width * 0.75 else "start",
                    )
                )
    y_ticks = [(y_of(v), _number(v)) for v in top if v <= y_max]
    return LineChart(lines, width, height, unit, time_axis_title(), y_ticks, x_ticks, drawn)


@dataclass(frozen=True)
class Sparkline:
    points: str
    width: int
    height: int
    peak: int


def sparkline(values: Sequence[int], width: int = 120, height: int = 24) -> Sparkline:
    """A tiny line of counts (no axes: it sits in a table row whose header says what it is)."""
    peak = max(values, default=0)
    n = max(len(values) - 1, 1)
    points = " ".join(
        f"{round(i * width / n, 1)},{round(height - 1 - (height - 2) * v / (peak or 1), 1)}"
        for i, v in enumerate(values)
    )
    return Sparkline(points, width, height, peak)
