"""Geometry of the reports' inline SVG charts: numbers only. The markup is in the chart macros of
templates/macros.html.j2, which escape every label."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

LINE_PALETTE = ("#3e63dd", "#e5484d", "#30a46c", "#f76b15", "#8e4ec6", "#0090ff")
BAR_LABEL_WIDTH = 260
BAR_LABEL_CHARS = 40
LINE_PAD_LEFT, LINE_PAD_BOTTOM, LINE_PAD_TOP = 48, 22, 8


def short_label(label: object) -> str:
    text = str(label)
    return text if len(text) <= BAR_LABEL_CHARS else text[:BAR_LABEL_CHARS - 1] + "…"


def bar_geometry(items: Sequence[tuple[object, float]], width: int, bar_h: int) -> dict:
    """Horizontal bars, one per (label, value): each bar's row offset and length, scaled to the largest."""
    top = max((float(v) for _, v in items), default=0.0) or 1.0
    bars = [{"label": label, "short": short_label(label), "value": value, "y": i * bar_h + 2,
             "length": max(1.0, (width - BAR_LABEL_WIDTH - 70) * float(value) / top)}
            for i, (label, value) in enumerate(items)]
    return {"height": bar_h * len(items) + 4, "label_x": BAR_LABEL_WIDTH, "bars": bars}


def line_geometry(series: Mapping[str, Sequence[tuple[date, float]]], width: int, height: int) -> dict:
    """Daily counts as polylines on a shared y axis: the first and last day, the top value, and per
    named series its colour and 'x,y x,y …' points."""
    points = [p for s in series.values() for p in s]
    days = sorted({d for d, _ in points})
    top = max((float(v) for _, v in points), default=0.0) or 1.0
    span = max(1, len(days) - 1)
    index = {d: i for i, d in enumerate(days)}

    def xy(d: date, v: float) -> tuple[float, float]:
        x = LINE_PAD_LEFT + (width - LINE_PAD_LEFT - 10) * index[d] / span
        y = LINE_PAD_TOP + (height - LINE_PAD_TOP - LINE_PAD_BOTTOM) * (1 - float(v) / top)
        return x, y

    lines = [{"name": name, "color": LINE_PALETTE[i % len(LINE_PALETTE)],
              "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(d, v) for d, v in sorted(pts)))}
             for i, (name, pts) in enumerate(series.items())]
    return {"first": days[0] if days else None, "last": days[-1] if days else None, "top": top,
            "axis_y": height - LINE_PAD_BOTTOM, "pad_left": LINE_PAD_LEFT, "pad_top": LINE_PAD_TOP, "lines": lines}
