"""Self-contained HTML reports (plots as base64 PNG inside) of a monitored run or a comparison.

Headless: numpy + Pillow only, so ``latent-explorer monitor RUN_DIR --report out.html`` works on a
remote GPU machine without a display.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from explorer.core import diversity as D
from explorer.core.charts import PALETTE, Line, bar_chart, line_chart
from explorer.io.exports import write_bytes_atomic
from explorer.core.comparison import Comparison
from explorer.core.diversity_metrics import METRICS, alarm_title, alarmed_metrics, diversity_plots
from explorer.core.evaluation import ModelEvaluation
from explorer.core.monitor import CURVE_PLOTS, RunMonitor

CSS = """
body { font-family: -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif; margin: 24px auto; max-width: 1000px;
       color: #23272e; background: #f6f7f9; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.meta { color: #667; font-size: 13px; }
.banner { border-radius: 6px; padding: 12px 16px; margin: 16px 0; font-size: 14px; }
.banner.ok { background: #e3f4e8; border: 1px solid #7cc493; }
.banner.alarm { background: #fde7e4; border: 1px solid #e0796b; }
.banner.unmeasured { background: #fff4dc; border: 1px solid #e0b45a; }
.banner b { display: block; margin-bottom: 4px; }
.banner ul { margin: 4px 0 0 18px; padding: 0; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
.plots img { background: white; border: 1px solid #dde; border-radius: 4px; }
table { border-collapse: collapse; font-size: 13px; background: white; }
td, th { border: 1px solid #dde; padding: 4px 8px; text-align: right; }
th { background: #eef0f4; } td:first-child, th:first-child { text-align: left; }
.bad { color: #b3261e; font-weight: 600; }
.strip { display: flex; flex-wrap: wrap; gap: 8px; }
.strip figure { margin: 0; text-align: center; font-size: 12px; color: #556; }
.strip img, .grid img { image-rendering: pixelated; border: 1px solid #ccd; background: #222; }
.note { color: #8a5a00; font-size: 13px; }
.side { display: flex; gap: 24px; flex-wrap: wrap; }
"""


def _img(png: bytes, width: int | None = None, alt: str = "") -> str:
    w = f' width="{width}"' if width else ""
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}"{w} alt="{html.escape(alt)}">'


def image_png(u8: np.ndarray, scale: int = 1) -> bytes:
    """PNG bytes of a uint8 [H, W, 1|3] image, enlarged by an integer factor (nearest neighbour)."""
    arr = u8[..., 0] if u8.ndim == 3 and u8.shape[2] == 1 else u8
    img = Image.fromarray(np.ascontiguousarray(arr))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _chart(png: bytes, alt: str) -> str:
    from explorer.core.charts import SCALE

    w = Image.open(io.BytesIO(png)).width // SCALE
    return _img(png, w, alt)


def _alarm_items(alarms) -> str:
    return "".join(f"<li><b style='display:inline'>{html.escape(alarm_title(a.name))}</b>"
                   f"{'' if a.hard else ' (inconclusive)'}: {html.escape(a.detail)}</li>" for a in alarms)


def _banner(mon: RunMonitor) -> str:
    """Green: the latest snapshot measured, no alarm. Red: alarms. Amber: nothing measured, and why;
    or inconclusive: the evidence is too thin for a verdict (N, data or training too small), and why."""
    alarms, latest = mon.hard_alarms(), mon.latest()
    reason = "" if latest is not None else (mon.not_measured() or "no snapshot evaluated yet")
    doubts = mon.inconclusive()
    if not alarms and doubts:
        items = "".join(f"<li>{html.escape(d)}</li>" for d in doubts)
        items += _alarm_items(a for a in mon.alarms() if not a.hard)
        return (f'<div class="banner unmeasured"><b>Inconclusive at epoch {latest.epoch}: the evidence is too thin '
                f'for a verdict</b><ul>{items}</ul></div>')
    if not alarms and latest is not None:
        return (f'<div class="banner ok"><b>No alarm at epoch {latest.epoch}</b>no sign of mode collapse; '
                'distances to the real floors measure sample quality</div>')
    if not alarms:
        curves = "; training curves: no alarm" if mon.rows else ""
        return (f'<div class="banner unmeasured"><b>Not measured: no verdict on mode collapse</b>'
                f'{html.escape(reason)}{curves}</div>')
    where = f"at epoch {latest.epoch}" if latest is not None else "(training curves only)"
    items = _alarm_items(alarms)
    if reason:
        items += f"<li><b style='display:inline'>Diversity not measured</b>: {html.escape(reason)}</li>"
    return f'<div class="banner alarm"><b>{len(alarms)} alarm(s) {html.escape(where)}</b><ul>{items}</ul></div>'


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def metrics_table(ev: ModelEvaluation) -> str:
    """Metric | value | real floor ± spread rows of one evaluation (without a report: why not, one line)."""
    if ev.report is None:
        return f"<p class='note'>Diversity not measured: {html.escape(ev.note or 'no classifier')}</p>"
    rep = ev.report
    red = alarmed_metrics(a.name for a in rep.alarms if a.hard)
    spaces = rep.spaces()
    rows = []
    for spec in METRICS:
        k = spec.key
        if k not in rep.metrics and spec.classes:  # a metric of predicted classes, in a space without classes
            continue
        rows.append(f"<tr><td>{html.escape(spec.label)}</td><td class='{'bad' if k in red else ''}'>"
                    f"{_fmt(rep.metrics.get(k))}</td><td>{_fmt(rep.floors.get(k))} ± {_fmt(rep.floor_spread.get(k))}</td>"
                    f"<td>{html.escape(spaces.get(k, '–'))}</td></tr>")
    if math.isfinite(ev.pixel_near_dup):
        rows.append(f"<tr><td>near-duplicate rate</td><td>{_fmt(ev.pixel_near_dup)}</td>"
                    f"<td>{_fmt(ev.pixel_near_dup_floor)}</td><td>pixels</td></tr>")
    rows.append(f"<tr><td>sharpness vs real images</td><td>{_fmt(ev.sharpness_ratio)}</td><td>1</td>"
                f"<td>pixels (Laplacian variance)</td></tr>")
    judged = f"<p class='meta'>Judged by {html.escape(ev.judged_by)}</p>" if ev.judged_by else ""
    return (judged + "<table><tr><th>metric</th><th>value</th><th>real-vs-real floor (same N)</th><th>computed in</th></tr>"
            + "".join(rows) + "</table>")


def run_plots(mon: RunMonitor) -> list[tuple[str, bytes]]:
    """(title, PNG) of every plot the monitor shows: diversity with floors, curves, KL per dimension."""
    out = []
    for plot, keys in diversity_plots():
        lines = []
        for i, k in enumerate(keys):
            e, v, f, sd = mon.series(k)
            col = PALETTE[i % len(PALETTE)]
            lines.append(Line(METRICS[k].label, e, v, col))
            single = len(keys) == 1  # one metric: label its floor and shade the floor's 3-sigma noise band
            lines.append(Line("real floor" if single else "", e, f, col, dashed=True,
                              band=(f - 3 * sd, f + 3 * sd) if single else None))
        if len(keys) > 1:
            lines.append(Line("real floors", [], [], (120, 120, 120), dashed=True))
        out.append((plot.title, line_chart(plot.title, lines, ylim=plot.ylim)))
    e, r = mon.sharpness_series()
    out.append(("Sharpness relative to real images",
                line_chart("Sharpness relative to real images (1 = as sharp)",
                           [Line("samples", e, r), Line("real", e, np.ones_like(e), PALETTE[2], dashed=True)],
                           ylim=(0.0, None))))
    for title, keys in CURVE_PLOTS.get(mon.family, ()):
        lines = []
        for i, (k, label) in enumerate(keys):
            ex, vx = mon.curve(k)
            if len(ex):
                lines.append(Line(label, ex, vx, PALETTE[i % len(PALETTE)], markers=len(ex) <= 40))
        if lines:
            ylim = (0.0, 1.0) if title.startswith("Discriminator") else \
                (0.0, None) if title.startswith("Active") else (None, None)
            out.append((title, line_chart(title, lines, ylim=ylim)))
    if mon.family == "vae":
        epoch, kl = mon.kl_per_dim()
        if kl.size:
            out.append(("KL per latent dimension", bar_chart(
                f"KL per latent dimension, epoch {epoch} (nats)", [str(i) for i in range(len(kl))], kl,
                threshold=D.KL_DIM_ACTIVE, threshold_label=f"in use ≥ {D.KL_DIM_ACTIVE}")))
    return out


def run_report_html(mon: RunMonitor, *, classifier: str | None = None, n: int | None = None,
                    seed: int | None = None, note: str = "") -> str:
    """The whole report of one run as an HTML string."""
    s = mon.summary()
    latest = mon.latest()
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Latent Explorer monitor: "
             f"{html.escape(mon.run_dir.name)}</title><style>{CSS}</style></head><body>",
             f"<h1>Mode-collapse monitor: {html.escape(mon.run_dir.name)}</h1>",
             f"<div class='meta'>{html.escape(str(mon.run_dir))} · {html.escape(mon.family.upper())} · "
             f"{s['epochs_logged']} epoch(s) logged" + (f" of {s['total_epochs']}" if s["total_epochs"] else "")
             + (" · finished" if s["finished"] else " · in progress")
             + f" · {len(s['snapshots'])} snapshot(s), {len(s['evaluated'])} evaluated"
             + (f" · judged by {html.escape(str(classifier))}" if classifier else "")
             + (f" · N = {n}, latent-bank seed {seed}" if n else "")
             + f" · written {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}</div>",
             _banner(mon)]
    if note and note != s["note"]:  # the banner says it already
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    if s["skipped"]:
        items = "".join(f"<li>epoch {e}: {html.escape(str(msg))}</li>" for e, msg in sorted(s["skipped"].items()))
        parts.append(f"<p class='note'>Snapshots skipped (could not be read):</p><ul class='note'>{items}</ul>")
    plots = run_plots(mon)
    n_div = len(diversity_plots()) + 1
    parts.append("<h2>Diversity over epochs (dashed: the same measure on held-out real images at the same N)</h2>")
    parts.append("<div class='plots'>" + "".join(_chart(p, t) for t, p in plots[:n_div]) + "</div>")
    if len(plots) > n_div:
        parts.append("<h2>Training curves</h2><div class='plots'>"
                     + "".join(_chart(p, t) for t, p in plots[n_div:]) + "</div>")
    if latest is not None and latest.evaluation is not None:
        parts.append(f"<h2>Latest evaluated snapshot: epoch {latest.epoch}</h2>")
        ev = latest.evaluation
        hist = ev.report.class_histogram if ev.report else []
        chart = bar_chart("Predicted classes of the samples", list(ev.class_names), hist, rotate_labels=True,
                          threshold=0.01, threshold_label="1 % (mode counted)", height=290) if hist else b""
        parts.append("<div class='side'>" + metrics_table(ev) + (_chart(chart, "class histogram") if chart else "")
                     + "</div>")
    strips = [r for r in (mon.results[e] for e in sorted(mon.results)) if r.strip is not None]
    if strips:
        parts.append("<h2>Fixed-latent samples per epoch</h2><div class='strip'>")
        for r in strips:
            flag = ""
            if r.evaluation is not None and r.evaluation.alarms:
                flag = " <span class='bad'>⚠</span>"
            parts.append(f"<figure>{_img(image_png(r.strip, 2), alt=f'epoch {r.epoch}')}"
                         f"<figcaption>epoch {r.epoch}{flag}</figcaption></figure>")
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def comparison_html(cmp: Comparison) -> str:
    """Two models side by side: grids, sharpness, diversity metrics, Fréchet distance, findings."""
    a, b = cmp.a, cmp.b
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Compare {html.escape(a.name)} and "
             f"{html.escape(b.name)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(a.name)} vs {html.escape(b.name)}</h1>",
             f"<div class='meta'>Same latent-bank seed {a.seed}, N = {a.n} samples each</div><ul>"
             + "".join(f"<li>{html.escape(t)}</li>" for t in cmp.findings()) + "</ul><div class='side'>"]
    for ev in (a, b):
        parts.append(f"<div><h2>{html.escape(ev.name)} ({html.escape(ev.family)})</h2>"
                     f"<div class='grid'>{_img(image_png(ev.grid, 3), alt=ev.name)}</div>{metrics_table(ev)}</div>")
    parts.append("</div></body></html>")
    return "\n".join(parts)


def write_html(text: str, path: str | os.PathLike) -> Path:
    """Write atomically (temp file + rename)."""
    return write_bytes_atomic(path, text.encode("utf-8"))
