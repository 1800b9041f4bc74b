"""Server-rendered SVG charts (no JavaScript, nothing inline for the CSP to refuse): a metric over
time with its threshold line, and cost per period against the budget. Every label is escaped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

W, H = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 36
OK, BAD, LINE, GRID, MUTED, BUDGET = "#1a7f37", "#cf222e", "#0969da", "#d0d7de", "#57606a", "#9a6700"


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _axis(lo: float, hi: float, scale_y: Callable[[float], float]) -> list[str]:
    parts = []
    for i in range(5):
        value = lo + (hi - lo) * i / 4
        y = scale_y(value)
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="{MUTED}">{escape(_fmt(value))}</text>')
    return parts


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float
    label: str = ""


def metric_chart(points: list[Point], *, title: str, threshold: float | None, higher_is_better: bool = True) -> SafeString:
    """A line of results over time, each point red when it misses the threshold (dashed line)."""
    if not points:
        return mark_safe(f'<p class="muted">No {escape(title)} results yet.</p>')  # noqa: S308 - escaped
    values = [p.value for p in points] + ([threshold] if threshold is not None else [])
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    t0, t1 = points[0].at, points[-1].at
    if t1 <= t0:
        t0, t1 = t0 - timedelta(days=1), t1 + timedelta(days=1)
    span = (t1 - t0).total_seconds()

    def x(at: datetime) -> float:
        return LEFT + (W - LEFT - RIGHT) * (at - t0).total_seconds() / span

    def y(value: float) -> float:
        return TOP + (H - TOP - BOTTOM) * (1 - (value - lo) / (hi - lo))

    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)} over time" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)} over time</title>']
    parts += _axis(lo, hi, y)
    path = " ".join(f"{x(p.at):.1f},{y(p.value):.1f}" for p in points)
    parts.append(f'<polyline points="{path}" fill="none" stroke="{LINE}" stroke-width="2"/>')
    if threshold is not None:
        ty = y(threshold)
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="{BAD}" '
                     f'stroke-width="1.5" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{W - RIGHT}" y="{ty - 5:.1f}" text-anchor="end" font-size="11" fill="{BAD}">'
                     f'threshold {escape(_fmt(threshold))}</text>')
    for p in points:
        meets = threshold is None or (p.value >= threshold if higher_is_better else p.value <= threshold)
        parts.append(
            f'<circle cx="{x(p.at):.1f}" cy="{y(p.value):.1f}" r="3.5" fill="{OK if meets else BAD}">'
            f'<title>{escape(_fmt(p.value))} on {p.at:%Y-%m-%d %H:%M}{escape(" · " + p.label) if p.label else ""}</title></circle>'
        )
    parts.append(f'<text x="{LEFT}" y="{H - 10}" font-size="11" fill="{MUTED}">{t0:%Y-%m-%d}</text>')
    parts.append(f'<text x="{W - RIGHT}" y="{H - 10}" text-anchor="end" font-size="11" fill="{MUTED}">{t1:%Y-%m-%d}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - built from numbers and escaped labels


@dataclass(frozen=True)
class Period:
    label: str
    cost: Decimal
    currency: str


def cost_chart(periods: list[Period], *, budget: Decimal | None) -> SafeString:
    """Bars of cost per period; a bar over the budget (dashed line) is red."""
    if not periods:
        return mark_safe('<p class="muted">No cost records yet.</p>')
    top = max([float(p.cost) for p in periods] + ([float(budget)] if budget is not None else [])) * 1.1 or 1.0

    def y(value: float) -> float:
        return TOP + (H - TOP - BOTTOM) * (1 - value / top)

    slot = (W - LEFT - RIGHT) / len(periods)
    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="Cost per month against the budget" '
             f'xmlns="http://www.w3.org/2000/svg"><title>Cost per month against the budget</title>']
    parts += _axis(0, top, y)
    for i, p in enumerate(periods):
        over = budget is not None and p.cost > budget
        bx, by = LEFT + i * slot + slot * 0.15, y(float(p.cost))
        parts.append(
            f'<rect x="{bx:.1f}" y="{by:.1f}" width="{slot * 0.7:.1f}" height="{max(H - BOTTOM - by, 0):.1f}" '
            f'fill="{BAD if over else LINE}"><title>{escape(p.label)}: {escape(_fmt(float(p.cost)))} {escape(p.currency)}'
            f'{" (over budget)" if over else ""}</title></rect>'
        )
        parts.append(f'<text x="{bx + slot * 0.35:.1f}" y="{H - 14}" text-anchor="middle" font-size="11" '
                     f'fill="{MUTED}">{escape(p.label)}</text>')
    if budget is not None:
        by = y(float(budget))
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{by:.1f}" y2="{by:.1f}" stroke="{BUDGET}" '
                     f'stroke-width="1.5" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{W - RIGHT}" y="{by - 5:.1f}" text-anchor="end" font-size="11" fill="{BUDGET}">'
                     f'budget {escape(_fmt(float(budget)))}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - built from numbers and escaped labels


# The portfolio dashboard's charts: drawn on a narrower canvas with larger type than the system
# page's, so that scaled down to a phone's width (about 340 px of drawing) a label still reads at
# about 12 px. Categories (months) run along the x axis; a missing value leaves a gap, never a 0.
TW, TH, TLEFT, TRIGHT, TTOP, TBOTTOM, TFONT = 480, 260, 64, 12, 20, 46, 17


def _tick(value: float, step: float) -> str:
    """A tick label with as many decimals as the step between ticks needs (at most two)."""
    decimals = 0 if step >= 1 else 1 if step >= 0.1 else 2
    return f"{value:,.{decimals}f}"


def trend_chart(points: list[tuple[str, float | None]], *, title: str, target: float | None = None,
                higher_is_better: bool = True, unit: str = "", floor: float | None = 0.0,
                ceiling: float | None = None, min_span: float = 1.0) -> SafeString:
    """A value per period (a line through the periods that have one) with the target as a dashed
    line; a point that misses the target is a red square, one that meets it a green circle, so the
    two differ in shape as well as colour. Ticks are bare numbers (the caption names the unit, so a
    long unit never pushes them off the canvas); ``min_span`` keeps a flat series from magnifying
    rounding noise into a slope."""
    known = [v for _, v in points if v is not None]
    if not known:
        return mark_safe(f'<p class="muted">No {escape(title.lower())} to draw yet.</p>')  # noqa: S308 - escaped
    values = known + ([target] if target is not None else [])
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.15, (min_span - (hi - lo)) / 2, 0.0)
    lo, hi = lo - pad, hi + pad
    if floor is not None and lo < floor:
        lo, hi = floor, max(hi, floor + min_span)
    if ceiling is not None and hi > ceiling:
        lo, hi = min(lo, ceiling - min_span), ceiling
    slot = (TW - TLEFT - TRIGHT) / max(len(points), 1)

    def x(i: int) -> float:
        return TLEFT + slot * (i + 0.5)

    def y(value: float) -> float:
        return TTOP + (TH - TTOP - TBOTTOM) * (1 - (value - lo) / (hi - lo))

    parts = [f'<svg class="chart" viewBox="0 0 {TW} {TH}" role="img" aria-label="{escape(title)} per month" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)} per month</title>']
    step = (hi - lo) / 3
    for i in range(4):
        tick = lo + step * i
        gy = y(tick)
        parts.append(f'<line x1="{TLEFT}" x2="{TW - TRIGHT}" y1="{gy:.1f}" y2="{gy:.1f}" stroke="{GRID}" stroke-width="1"/>')
        parts.append(f'<text x="{TLEFT - 6}" y="{gy + 5:.1f}" text-anchor="end" font-size="{TFONT}" fill="{MUTED}">'
                     f'{escape(_tick(tick, step))}</text>')
    segment: list[str] = []
    for i, (_, value) in enumerate(points + [("", None)]):
        if value is None:
            if len(segment) > 1:
                parts.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{LINE}" stroke-width="2.5"/>')
            segment = []
        else:
            segment.append(f"{x(i):.1f},{y(value):.1f}")
    if target is not None:
        ty = y(target)
        parts.append(f'<line x1="{TLEFT}" x2="{TW - TRIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="{BAD}" '
                     f'stroke-width="1.5" stroke-dasharray="6 4"/>')
        # At the left: the newest months, where the points usually are, are on the right.
        parts.append(f'<text x="{TLEFT + 4}" y="{ty - 6:.1f}" text-anchor="start" font-size="{TFONT}" fill="{BAD}">'
                     f'target {escape(_fmt(target) + unit)}</text>')
    # Label every month when there are few, else every third counting back from the newest, so the
    # labels never overlap.
    every = 1 if len(points) <= 4 else 2 if len(points) <= 6 else 3
    for i, (label, value) in enumerate(points):
        if value is not None:
            meets = target is None or (value >= target if higher_is_better else value <= target)
            tip = f"<title>{escape(label)}: {escape(_fmt(value) + unit)}</title>"
            if meets:
                parts.append(f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="5" fill="{OK if target is not None else LINE}">{tip}</circle>')
            else:
                parts.append(f'<rect x="{x(i) - 5:.1f}" y="{y(value) - 5:.1f}" width="10" height="10" fill="{BAD}">{tip}</rect>')
        if (len(points) - 1 - i) % every == 0:
            # The newest month's label ends at its slot's right edge so the canvas never cuts it.
            last = i == len(points) - 1 and len(points) > 4
            parts.append(f'<text x="{x(i) + (slot / 2 if last else 0):.1f}" y="{TH - 14}" '
                         f'text-anchor="{"end" if last else "middle"}" font-size="{TFONT}" fill="{MUTED}">{escape(label)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - built from numbers and escaped labels


def bars_chart(rows: list[tuple[str, float]], *, title: str, unit: str = "") -> SafeString:
    """Horizontal bars, one per labelled row, longest first as given; the value is written at the end
    of each bar so nothing depends on reading the length."""
    if not rows:
        return mark_safe(f'<p class="muted">No {escape(title.lower())} to draw.</p>')  # noqa: S308 - escaped
    bar, gap, label_h = 22, 10, 20
    height = len(rows) * (bar + gap + label_h) + 8
    top = max(v for _, v in rows) or 1.0
    parts = [f'<svg class="chart" viewBox="0 0 {TW} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    yy = 4.0
    for label, value in rows:
        parts.append(f'<text x="0" y="{yy + 15:.1f}" font-size="{TFONT}" fill="#1d2430">{escape(label)}</text>')
        yy += label_h
        width = max((TW - 70) * value / top, 2)
        parts.append(f'<rect x="0" y="{yy:.1f}" width="{width:.1f}" height="{bar}" fill="{BAD}"/>')
        parts.append(f'<text x="{width + 6:.1f}" y="{yy + 17:.1f}" font-size="{TFONT}" fill="#1d2430">'
                     f'{escape(_fmt(value) + unit)}</text>')
        yy += bar + gap
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - built from numbers and escaped labels
