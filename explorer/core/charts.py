"""Small line and bar charts drawn with Pillow, as PNG bytes (for the HTML report; no Qt, no matplotlib).

Enough for monitor plots: lines over epochs with markers, dashed real-data floors with a shaded
noise band, a legend, "nice" ticks. Drawn at 2x and shown at 1x in HTML, so they stay crisp.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SCALE = 2  # supersampling: the PNG is SCALE x the CSS size
BG = (255, 255, 255)
AXIS = (90, 96, 105)
GRID = (232, 235, 239)
TEXT = (40, 44, 52)
MUTED = (110, 118, 130)
PALETTE = ((47, 111, 222), (220, 90, 50), (40, 160, 90), (150, 80, 200), (200, 150, 30), (20, 150, 170))


@dataclass
class Line:
    """One series: y over x; ``dashed`` for floors; ``band`` (lo, hi) arrays shade a range around it."""
    label: str
    x: Sequence[float]
    y: Sequence[float]
    color: tuple[int, int, int] = PALETTE[0]
    dashed: bool = False
    band: tuple[Sequence[float], Sequence[float]] | None = None
    markers: bool = True


def _font(size: int, bold: bool = False):
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf", size * SCALE)
    except OSError:
        try:
            return ImageFont.load_default(size=size * SCALE)
        except TypeError:  # Pillow < 10.1
            return ImageFont.load_default()


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 if lo == 0 else lo * 0.9, hi + 0.5 if hi == 0 else hi * 1.1
        lo, hi = min(lo, hi), max(lo, hi)
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v <= hi + step * 0.5 and len(ticks) < 20:
        ticks.append(round(v, 12))
        v += step
    return ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000 or a < 0.01:
        return f"{v:.2g}"
    if a >= 10:
        return f"{v:.0f}" if v == round(v) else f"{v:.1f}"
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _finite_values(lines: Sequence[Line]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for ln in lines:
        x, y = np.asarray(ln.x, np.float64), np.asarray(ln.y, np.float64)
        xs.append(x[np.isfinite(x)])
        ys.append(y[np.isfinite(y)])
        if ln.band is not None:
            for b in ln.band:
                b = np.asarray(b, np.float64)
                ys.append(b[np.isfinite(b)])
    return (np.concatenate(xs) if xs else np.zeros(0)), (np.concatenate(ys) if ys else np.zeros(0))


def line_chart(title: str, lines: Sequence[Line], *, xlabel: str = "epoch", ylabel: str = "",
               width: int = 460, height: int = 250, ylim: tuple[float | None, float | None] = (None, None),
               integer_x: bool = True, note: str = "") -> bytes:
    """PNG bytes of a line chart (CSS size width x height; pixels SCALE x that)."""
    s = SCALE
    img = Image.new("RGB", (width * s, height * s), BG)
    d = ImageDraw.Draw(img)
    f_title, f_small = _font(13, bold=True), _font(11)
    d.text((10 * s, 7 * s), title, fill=TEXT, font=f_title)
    left, right, top, bottom = 56 * s, (width - 12) * s, 44 * s, (height - 34) * s
    xs, ys = _finite_values(lines)
    if xs.size == 0 or ys.size == 0:
        d.text((left, (top + bottom) // 2), note or "no data yet", fill=MUTED, font=f_small)
        return _png(img)
    x0, x1 = float(xs.min()), float(xs.max())
    if x1 - x0 < 1e-9:
        x0, x1 = x0 - 1, x1 + 1
    y0 = float(ys.min()) if ylim[0] is None else ylim[0]
    y1 = float(ys.max()) if ylim[1] is None else ylim[1]
    if y1 - y0 < 1e-12:  # a flat series: give it a visible range above (or around) its value
        y1 = y0 + (abs(y0) * 0.2 if y0 else 1.0)
    yt = nice_ticks(y0, y1)
    y0, y1 = min(yt[0], y0), max(yt[-1], y1)

    def px(x):
        return left + (x - x0) / (x1 - x0) * (right - left)

    def py(y):
        return bottom - (y - y0) / (y1 - y0) * (bottom - top)

    for t in yt:
        y = py(t)
        d.line([(left, y), (right, y)], fill=GRID, width=s)
        label = _fmt(t)
        tw = d.textlength(label, font=f_small)
        d.text((left - 6 * s - tw, y - 7 * s), label, fill=MUTED, font=f_small)
    xt = nice_ticks(x0, x1, 6)
    if integer_x:
        xt = sorted({int(round(t)) for t in xt if x0 - 1e-9 <= round(t) <= x1 + 1e-9}) or [int(x0)]
    for t in xt:
        if not x0 - 1e-9 <= t <= x1 + 1e-9:
            continue
        x = px(t)
        d.line([(x, bottom), (x, bottom + 4 * s)], fill=AXIS, width=s)
        label = _fmt(float(t))
        tw = d.textlength(label, font=f_small)
        d.text((x - tw / 2, bottom + 6 * s), label, fill=MUTED, font=f_small)
    d.line([(left, top), (left, bottom), (right, bottom)], fill=AXIS, width=s)
    if xlabel:
        tw = d.textlength(xlabel, font=f_small)
        d.text(((left + right) / 2 - tw / 2, bottom + 19 * s), xlabel, fill=MUTED, font=f_small)
    if ylabel:
        d.text((10 * s, 25 * s), ylabel, fill=MUTED, font=f_small)

    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    od = ImageDraw.Draw(overlay)
    for ln in lines:
        if ln.band is None:
            continue
        x = np.asarray(ln.x, np.float64)
        lo, hi = (np.asarray(b, np.float64) for b in ln.band)
        ok = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
        if ok.sum() == 1:
            i = int(np.flatnonzero(ok)[0])
            poly = [(px(x[i]) - 6 * s, py(hi[i])), (px(x[i]) + 6 * s, py(hi[i])),
                    (px(x[i]) + 6 * s, py(lo[i])), (px(x[i]) - 6 * s, py(lo[i]))]
        elif ok.sum() > 1:
            poly = [(px(a), py(b)) for a, b in zip(x[ok], hi[ok])] + [(px(a), py(b)) for a, b in zip(x[ok][::-1], lo[ok][::-1])]
        else:
            continue
        od.polygon(poly, fill=ln.color + (40,))
    img.paste(overlay, (0, 0), overlay)
    d = ImageDraw.Draw(img)
    for ln in lines:
        x, y = np.asarray(ln.x, np.float64), np.asarray(ln.y, np.float64)
        ok = np.isfinite(x) & np.isfinite(y)
        pts = [(px(a), py(b)) for a, b in zip(x[ok], y[ok])]
        if ln.dashed:
            _dashed(d, pts, ln.color, 2 * s, 7 * s)
            if len(pts) == 1:
                _dashed(d, [(pts[0][0] - 12 * s, pts[0][1]), (pts[0][0] + 12 * s, pts[0][1])], ln.color, 2 * s, 5 * s)
        else:
            if len(pts) > 1:
                d.line(pts, fill=ln.color, width=2 * s, joint="curve")
            if ln.markers:
                r = 3 * s
                for a, b in pts:
                    d.ellipse([a - r, b - r, a + r, b + r], fill=ln.color)
    # legend, top right, one row
    lx = right
    for ln in reversed(lines):
        if not ln.label:
            continue
        tw = d.textlength(ln.label, font=f_small)
        lx -= tw + 30 * s
        ly = 28 * s
        if ln.dashed:
            _dashed(d, [(lx, ly + 7 * s), (lx + 20 * s, ly + 7 * s)], ln.color, 2 * s, 5 * s)
        else:
            d.line([(lx, ly + 7 * s), (lx + 20 * s, ly + 7 * s)], fill=ln.color, width=2 * s)
        d.text((lx + 24 * s, ly), ln.label, fill=TEXT, font=f_small)
    if note:
        tw = d.textlength(note, font=f_small)
        d.text((right - tw, 8 * s), note, fill=MUTED, font=f_small)
    return _png(img)


def _dashed(d: ImageDraw.ImageDraw, pts, color, width: int, dash: int) -> None:
    for (xa, ya), (xb, yb) in zip(pts[:-1], pts[1:]):
        length = math.hypot(xb - xa, yb - ya)
        if length == 0:
            continue
        steps = int(length // dash)
        for i in range(0, steps + 1, 2):
            t0, t1 = i * dash / length, min((i + 1) * dash / length, 1.0)
            d.line([(xa + (xb - xa) * t0, ya + (yb - ya) * t0), (xa + (xb - xa) * t1, ya + (yb - ya) * t1)],
                   fill=color, width=width)


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], *, width: int = 460, height: int = 250,
              color=PALETTE[0], threshold: float | None = None, threshold_label: str = "",
              reference: Sequence[float] | None = None, reference_label: str = "", rotate_labels: bool = False) -> bytes:
    """PNG bytes of a bar chart; ``threshold`` draws a dashed horizontal line, ``reference`` thin marks per bar."""
    s = SCALE
    img = Image.new("RGB", (width * s, height * s), BG)
    d = ImageDraw.Draw(img)
    f_title, f_small = _font(13, bold=True), _font(10)
    d.text((10 * s, 7 * s), title, fill=TEXT, font=f_title)
    left, right, top = 50 * s, (width - 12) * s, 44 * s
    bottom = (height - (74 if rotate_labels else 30)) * s
    vals = np.asarray(values, np.float64)
    if vals.size == 0:
        d.text((left, (top + bottom) // 2), "no data yet", fill=MUTED, font=f_small)
        return _png(img)
    hi = float(np.nanmax(np.concatenate([vals, [threshold or 0.0], np.asarray(reference or [0.0], np.float64)])))
    yt = nice_ticks(0.0, hi if hi > 0 else 1.0)
    y1 = yt[-1]

    def py(y):
        return bottom - y / y1 * (bottom - top)

    for t in yt:
        d.line([(left, py(t)), (right, py(t))], fill=GRID, width=s)
        lab = _fmt(t)
        d.text((left - 6 * s - d.textlength(lab, font=f_small), py(t) - 6 * s), lab, fill=MUTED, font=f_small)
    n = len(vals)
    slot = (right - left) / n
    bw = max(s, slot * 0.7)
    for i, v in enumerate(vals):
        x = left + slot * (i + 0.5)
        if np.isfinite(v):
            d.rectangle([x - bw / 2, py(max(v, 0)), x + bw / 2, bottom], fill=color)
        if reference is not None and i < len(reference):
            d.line([(x - bw / 2 - s, py(reference[i])), (x + bw / 2 + s, py(reference[i]))], fill=TEXT, width=2 * s)
        if labels and i < len(labels) and (n <= 12 or i % max(1, n // 16) == 0):
            lab = str(labels[i])
            if rotate_labels:
                tw = int(d.textlength(lab, font=f_small)) + 2 * s
                tmp = Image.new("RGBA", (tw, 14 * s), (0, 0, 0, 0))
                ImageDraw.Draw(tmp).text((0, 0), lab, fill=MUTED, font=f_small)
                rot = tmp.rotate(35, expand=True)
                img.paste(rot, (int(x - rot.width + 4 * s), int(bottom + 4 * s)), rot)
            else:
                d.text((x - d.textlength(lab, font=f_small) / 2, bottom + 4 * s), lab, fill=MUTED, font=f_small)
    d.line([(left, top), (left, bottom), (right, bottom)], fill=AXIS, width=s)
    legend = []
    if threshold is not None:
        _dashed(d, [(left, py(threshold)), (right, py(threshold))], (200, 60, 60), 2 * s, 6 * s)
        legend.append(((200, 60, 60), threshold_label or f"threshold {threshold:g}", True))
    if reference is not None:
        legend.append((TEXT, reference_label or "reference", False))
    lx = right
    for col, lab, dashed in reversed(legend):
        lx -= d.textlength(lab, font=f_small) + 30 * s
        if dashed:
            _dashed(d, [(lx, 35 * s), (lx + 20 * s, 35 * s)], col, 2 * s, 5 * s)
        else:
            d.line([(lx, 35 * s), (lx + 20 * s, 35 * s)], fill=col, width=2 * s)
        d.text((lx + 24 * s, 28 * s), lab, fill=TEXT, font=f_small)
    return _png(img)
