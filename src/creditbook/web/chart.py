"""The usage chart: a stacked bar per period of the series, one colour per operation, drawn as
plain SVG by the template from the geometry computed here (no script, no third-party code)."""

from __future__ import annotations

from dataclasses import dataclass, field

from creditbook.domain.usage import Bucket

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 12, 40
# Okabe-Ito's colour-blind-safe colours first (without black), then further distinct ones.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#6A3D9A",
    "#8C510A",
    "#999999",
    "#01665E",
    "#B2182B",
)


@dataclass(frozen=True, slots=True)
class Segment:
    operation: str
    micros: int
    y: float
    height: float
    colour: str


@dataclass(slots=True)
class Bar:
    label: str
    start: str
    total_micros: int
    x: float
    width: float
    segments: list[Segment] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    legend: list[tuple[str, str]]  # operation, colour
    max_micros: int
    plot_top: int
    plot_bottom: int
    plot_left: int
    label_every: int


def colours(operations: list[str]) -> dict[str, str]:
    return {op: PALETTE[i % len(PALETTE)] for i, op in enumerate(sorted(operations))}


def _label(bucket: Bucket, granularity: str) -> str:
    if granularity == "month":
        return bucket.start.strftime("%Y-%m")
    return bucket.start.strftime("%m-%d")


def _bar(bucket: Bucket, x: float, width: float, scale: float, palette: dict[str, str]) -> Bar:
    bar = Bar("", bucket.start.isoformat(), bucket.total.spend_micros, x, width)
    y: float = HEIGHT - BOTTOM  # SVG pixels (never money: segments keep their micros)
    for op in sorted(bucket.breakdown):
        micros = bucket.breakdown[op].spend_micros
        if micros <= 0:
            continue
        height = micros * scale
        y -= height
        bar.segments.append(Segment(op, micros, round(y, 2), round(height, 2), palette[op]))
    return bar


def build(series: list[Bucket], granularity: str) -> Chart:
    operations = sorted({op for b in series for op in b.breakdown})
    palette = colours(operations)
    top = max((b.total.spend_micros for b in series), default=0)
    plot_height = HEIGHT - TOP - BOTTOM
    scale = plot_height / top if top > 0 else 0.0
    slot = (WIDTH - LEFT - RIGHT) / max(len(series), 1)
    bars = []
    for index, bucket in enumerate(series):
        bar = _bar(bucket, LEFT + index * slot + slot * 0.1, slot * 0.8, scale, palette)
        bar.label = _label(bucket, granularity)
        bars.append(bar)
    legend = [(op, palette[op]) for op in operations]
    every = max(1, len(series) // 10)
    return Chart(WIDTH, HEIGHT, bars, legend, top, TOP, HEIGHT - BOTTOM, LEFT, every)
