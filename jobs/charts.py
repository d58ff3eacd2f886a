"""Server-side SVG bar charts: geometry computed here, drawn by templates/jobs/_bar_chart.html."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .timeutil import from_ms


@dataclass(frozen=True)
class Bar:
    label: str
    x: float
    width: float
    segments: list[tuple[float, float, str, int]]  # (y, height, css class, value)
    show_label: bool = False  # every k-th bar carries its label on the axis


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    width: int
    height: int
    max_value: int
    series: list[tuple[str, str]]  # (name, css class)

    @property
    def full_height(self) -> int:
        return self.height + 16  # room for the axis labels


def bar_chart(rows: Sequence[tuple[str, Sequence[int]]], series: Sequence[tuple[str, str]],
              width: int = 720, height: int = 160) -> BarChart:
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
        bars.append(Bar(label, round(i * slot + 1, 1), round(max(slot - 2, 1), 1), segments,
                        show_label=i % label_every == 0))
    return BarChart(bars, width, height, max_value, list(series))


def throughput_chart(rows: Sequence[tuple[int, int, int]]) -> BarChart:
    """Processed and failed jobs per minute: rows are (epoch minute, processed, failed)."""
    labels = [from_ms(minute * 60_000).strftime("%H:%M") for minute, _, _ in rows]  # type: ignore[union-attr]
    return bar_chart([(label, (p, f)) for label, (_, p, f) in zip(labels, rows, strict=True)],
                     [("processed", "ok"), ("failed", "bad")])
