"""One grid frame: latent change -> decoded -> painted, for 8x8 and 16x16, vs matplotlib imshow.

    python benchmarks/grid.py --json [--gan PATH] [--vae PATH] [--repeats 40]

Frames are measured in the real main window (offscreen Qt): new latents are written into the
SampleGrid, decoded by onnxruntime, tiled into the canvas buffer and painted with repaint().
"full" changes every latent (re-roll, walk); "drag" changes one cell (slider drag); "drag_async"
goes through the real async path (signal -> worker thread -> queued answer -> paint).
The matplotlib path decodes the same latents with the same session and draws an 8x8 grid of
imshow subplots with the Agg backend (what a notebook user would do), in the same process.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LATENT_EXPLORER_SETTINGS", os.path.join(__import__("tempfile").gettempdir(), "latent-explorer-bench.ini"))

import numpy as np  # noqa: E402

from _explorer_bench import emit, machine, model_path, stats_ms  # noqa: E402


def bench_window(win, rows, cols, repeats, rng):
    from explorer.qt.app import wait_for_grid
    from PySide6.QtWidgets import QApplication

    grid, ctrl, canvas = win.grid, win.controller, win.canvas
    grid.set_size(rows, cols)
    native = max(grid.model.image_shape[1:])
    canvas.set_cell_px(native * (3 if rows <= 8 else 2))
    wait_for_grid(win)
    d = grid.model.latent_dim
    full, drag, drag_async, decode_only, full_cpu = [], [], [], [], []
    for i in range(repeats + 3):
        z = rng.standard_normal((grid.count, d)).astype(np.float32)
        c0 = time.process_time()
        t0 = time.perf_counter()
        grid.latents[:] = z
        grid.dirty[:] = True
        ctrl.decode_now()
        canvas.repaint()
        t1 = time.perf_counter()
        if i >= 3:
            full.append(t1 - t0)
            full_cpu.append(time.process_time() - c0)
            decode_only.append(ctrl.last_decode_s)
    for i in range(repeats + 3):
        t0 = time.perf_counter()
        grid.latents[5, i % d] = float(rng.standard_normal())
        grid.dirty[5] = True
        ctrl.decode_now()
        canvas.repaint()
        t1 = time.perf_counter()
        if i >= 3:
            drag.append(t1 - t0)
    for i in range(repeats + 3):
        t0 = time.perf_counter()
        grid.set_dimension(5, i % d, float(rng.standard_normal()))
        while grid.dirty.any():
            QApplication.processEvents()
            time.sleep(0.0002)
        canvas.repaint()
        t1 = time.perf_counter()
        if i >= 3:
            drag_async.append(t1 - t0)
    return {"full": stats_ms(full), "full_cpu_time": stats_ms(full_cpu), "decode_only": stats_ms(decode_only), "drag": stats_ms(drag),
            "drag_async": stats_ms(drag_async)}


def bench_matplotlib(model, rows, cols, repeats, rng):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = model.latent_dim
    fresh, reuse = [], []
    for i in range(repeats + 1):  # notebook style: decode, new figure, imshow per cell, draw
        z = rng.standard_normal((rows * cols, d)).astype(np.float32)
        t0 = time.perf_counter()
        imgs = model.to_hwc(model.decode_raw(z))
        lo, hi = model.signature.value_range
        fig, axes = plt.subplots(rows, cols, figsize=(cols, rows), dpi=80)
        for ax, im in zip(axes.flat, imgs):
            ax.imshow(im[..., 0] if im.shape[-1] == 1 else (im - lo) / (hi - lo), cmap="gray", vmin=lo, vmax=hi,
                      interpolation="nearest")
            ax.axis("off")
        fig.canvas.draw()
        t1 = time.perf_counter()
        plt.close(fig)
        if i >= 1:
            fresh.append(t1 - t0)
    fig, axes = plt.subplots(rows, cols, figsize=(cols, rows), dpi=80)
    lo, hi = model.signature.value_range
    first = model.to_hwc(model.decode_raw(rng.standard_normal((rows * cols, d)).astype(np.float32)))
    handles = [ax.imshow(im[..., 0], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
               for ax, im in zip(axes.flat, first)]
    for ax in axes.flat:
        ax.axis("off")
    fig.canvas.draw()
    for i in range(repeats + 1):  # the best a notebook user can do: reuse the figure, set_data
        z = rng.standard_normal((rows * cols, d)).astype(np.float32)
        t0 = time.perf_counter()
        imgs = model.to_hwc(model.decode_raw(z))
        for h, im in zip(handles, imgs):
            h.set_data(im[..., 0])
        fig.canvas.draw()
        t1 = time.perf_counter()
        if i >= 1:
            reuse.append(t1 - t0)
    plt.close(fig)
    return {"new_figure": stats_ms(fresh), "reuse_set_data": stats_ms(reuse)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--gan")
    ap.add_argument("--vae")
    ap.add_argument("--repeats", type=int, default=40)
    args = ap.parse_args()
    from explorer.qt.app import build_window
    from explorer.qt.qapp import ensure_app

    ensure_app()
    rng = np.random.default_rng(0)
    result = {"benchmark": "grid_frame", "machine": machine(), "models": {}}
    for family, arg in (("gan", args.gan), ("vae", args.vae)):
        path = model_path(arg, family)
        win, errors = build_window([str(path)], interactive=False)
        if errors:
            raise SystemExit(f"benchmark: {errors[0]}")
        win.resize(1600, 1000)
        win.show()
        model = win.grid.model
        from explorer.io.providers import cpu_thread_counts

        entry = {"path": str(path), "provider": model.provider, "latent_dim": model.latent_dim,
                 "onnxruntime_threads(small,grid)": list(cpu_thread_counts())}
        entry["8x8"] = bench_window(win, 8, 8, args.repeats, rng)
        entry["16x16"] = bench_window(win, 16, 16, max(10, args.repeats // 3), rng)
        entry["matplotlib_8x8"] = bench_matplotlib(model, 8, 8, max(8, args.repeats // 5), rng)
        ours = entry["8x8"]["full"]["p50_ms"]
        entry["speedup_vs_matplotlib_8x8"] = {
            "vs_new_figure": round(entry["matplotlib_8x8"]["new_figure"]["p50_ms"] / ours, 1),
            "vs_reuse_set_data": round(entry["matplotlib_8x8"]["reuse_set_data"]["p50_ms"] / ours, 1)}
        entry["targets"] = {"8x8_full_p50_le_8ms": ours <= 8.0,
                            "8x8_drag_p50_le_8ms": entry["8x8"]["drag"]["p50_ms"] <= 8.0,
                            "ge_10x_matplotlib": entry["speedup_vs_matplotlib_8x8"]["vs_new_figure"] >= 10}
        result["models"][family] = entry
        win.close()
        win.deleteLater()
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
