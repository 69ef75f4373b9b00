"""The latent map: 70k-point repaint, a million points against a plain ScatterPlotItem, hover latency, PCA, UMAP.

    python benchmarks/map.py --json [--vae PATH] [--points 70000] [--frames 60] [--umap 10k,70k|10k|none]
                             [--million 1000000] [--plain-frames 8]

* repaint: the real MapView at 1440x900 (offscreen Qt, raster painting like xvfb): each frame pans
  or zooms the view a little and repaints the plot viewport synchronously (what one frame of a
  drag costs). p50 <= 33 ms is 30 FPS.
* hover: from ``hover_at`` (the mouse-move handler after the scene lookup) to the thumbnail shown:
  nearest-point lookup among 70k, a decode request on the worker thread, the queued answer, the
  pixmap. The decoder is the VAE given (default: the bundled one).
* pca: PCAPlane.fit + forward of 70k latents.
* umap: explorer.core.umap_worker.compute_umap (child process, no cache): the fit (positions decode
  by blending the latents of the nearest map points; no inverse lattice), 10k and 70k points. The 70k run is skipped while trainings run (``pgrep -f training.cli``)
  unless --umap includes 70k explicitly.

* million: the real MapView at 1440x900 with 1,000,000 points (a 10-class Gaussian mixture of the
  VAE's latent size, PCA): each frame is the range change (the map's own work on it: the density
  image binned again when needed, the points near the view) plus the synchronous repaint, timed
  whole (``frame``) and the repaint alone (``repaint``). The same pans and zooms are then timed on a
  plain pyqtgraph ScatterPlotItem of the same positions and class brushes (pixel mode, cached, one
  item) in a PlotWidget of the same size, in the same run: ``speedup`` is its p50 frame over ours.
  ``zoom_in_to_points``: zooming from the whole map into a cluster until real points are drawn.
  ``empty_plot``: the same frames on that PlotWidget with nothing in it (axes and view box only),
  the floor any pyqtgraph plot pays; ``over_empty_plot`` is our p50 frame over it.
  --million 0 skips it.

Latents: the VAE's encoding of Fashion-MNIST when it is cached (the map's "all 70k" source),
otherwise a 10-class Gaussian mixture of the same size and dimension (said in the output).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LATENT_EXPLORER_PROVIDER", "cpu")

import numpy as np  # noqa: E402

from _explorer_bench import emit, machine, model_path, stats_ms  # noqa: E402


def trainings_running() -> bool:
    try:
        return subprocess.run(["pgrep", "-f", "training.cli"], capture_output=True).returncode == 0
    except OSError:
        return False


def latents_for(model, n: int, rng) -> tuple[np.ndarray, np.ndarray, str]:
    from explorer.core import atlas_data as A
    from explorer.io.contract import FASHION_MNIST_CLASSES

    try:
        enc = A.encoder_for(model)
        images = A.fashion_set("all")
        from explorer.core.projection import data_key

        key = data_key(images.images, images.labels, encoder=enc.fingerprint, v=A.CACHE_VERSION)
        path = A.cache_dir() / f"encoded-{key}.npz"
        if path.is_file():
            mu = A.load_npz(path)["mu"]
            return mu[:n], images.labels[:n], f"VAE encoding of Fashion-MNIST ({min(n, len(mu))} points, cached)"
    except Exception:
        pass
    d = model.latent_dim
    centres = rng.standard_normal((len(FASHION_MNIST_CLASSES), d)) * 2.0
    labels = rng.integers(0, len(centres), n)
    z = (centres[labels] + rng.standard_normal((n, d))).astype(np.float32)
    return z, labels.astype(np.int64), f"synthetic 10-class Gaussian mixture ({n} x {d})"


def bench_view(model, z, labels, frames: int, hovers: int, rng) -> dict:

    from explorer.core import atlas_data as A
    from explorer.io.contract import FASHION_MNIST_CLASSES
    from explorer.qt.qapp import ensure_app
    from explorer.qt.map_view import MapView

    app = ensure_app()
    view = MapView(model, interactive=False)
    view.resize(1440, 900)
    view.show()
    pts = A.MapPoints(z, labels, FASHION_MNIST_CLASSES, source="benchmark", kind="atlas")
    t0 = time.perf_counter()
    view.map_model.set_points(pts)
    set_s = time.perf_counter() - t0
    while view.is_busy() or not view.canvas.layers or view.canvas.density_busy():  # placed on a job
        app.processEvents()
        time.sleep(0.001)
    for _ in range(20):
        app.processEvents()
    viewport = view.plot.viewport()
    (x0, x1), (y0, y1) = view.vb.viewRange()
    w = x1 - x0
    pan, zoom, pan_cpu, zoom_cpu = [], [], [], []
    for i in range(frames + 5):
        view.vb.translateBy(x=w * 0.01 * (1 if (i // 10) % 2 == 0 else -1))
        t, c = time.perf_counter(), time.thread_time()
        viewport.repaint()  # the first paint after the change: what a drag frame costs
        if i >= 5:
            pan.append(time.perf_counter() - t)
            pan_cpu.append(time.thread_time() - c)
        app.processEvents()
    for i in range(frames + 5):
        s = 0.98 if (i // 10) % 2 == 0 else 1 / 0.98
        view.vb.scaleBy((s, s))
        t, c = time.perf_counter(), time.thread_time()
        viewport.repaint()
        if i >= 5:
            zoom.append(time.perf_counter() - t)
            zoom_cpu.append(time.thread_time() - c)
        app.processEvents()
    # hover: warm the decoder first
    layer = view.layers[0]
    lat, lat_cpu = [], []
    idx = rng.choice(len(layer.xy), hovers + 3, replace=False)
    for k, i in enumerate(idx):
        view.hover_at(1e9, 1e9)
        app.processEvents()
        x, y = map(float, layer.xy[i])
        n_before = len(view.canvas.hover_latency)
        t, c = time.perf_counter(), time.process_time()
        hit = view.hover_at(x, y)
        while hit is not None and len(view.canvas.hover_latency) == n_before and time.perf_counter() - t < 2:
            app.processEvents()
        if k >= 3 and hit is not None and len(view.canvas.hover_latency) > n_before:
            lat.append(time.perf_counter() - t)
            lat_cpu.append(time.process_time() - c)
    # the manifold sweep: one 10 x 10 mosaic
    view.sweep_n.setValue(10)
    sweep = []
    for _ in range(3):
        t = time.perf_counter()
        decodes = view.map_model.decodes
        decodes.sweep_box = None  # set again when a mosaic arrives
        if view.sweep_button.isChecked():
            view.canvas.request_sweep()
        else:
            view.set_sweep(True)
        while decodes.sweep_box is None or view.canvas.sweep_item.image is None:
            app.processEvents()
            if time.perf_counter() - t > 30:
                break
        sweep.append(time.perf_counter() - t)
    view.close_view()
    view.close()
    view.deleteLater()
    app.processEvents()
    p50 = stats_ms(pan)["p50_ms"]
    return {"points": int(len(z)), "set_points_ms": round(set_s * 1000, 1),
            "repaint_pan": stats_ms(pan), "repaint_pan_cpu": stats_ms(pan_cpu),
            "repaint_zoom": stats_ms(zoom), "repaint_zoom_cpu": stats_ms(zoom_cpu),
            "fps_pan_p50": round(1000.0 / p50, 1) if p50 else None,
            "fps_zoom_p50": round(1000.0 / stats_ms(zoom)["p50_ms"], 1),
            "hover_to_thumbnail": stats_ms(lat) if lat else None,
            "hover_to_thumbnail_cpu": stats_ms(lat_cpu) if lat_cpu else None,
            "sweep_10x10_decode_and_show": stats_ms(sweep)}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def _frames(app, viewport, vb, frames: int, kind: str, skip: int = 3) -> tuple[list, list]:
    """Pan (1 % of the width a frame) or zoom (2 % a frame), turning back every 10 frames: the
    frame (the range change with all the work the view does on it, then the synchronous repaint)
    and the repaint alone, in seconds. Queued events are handled after each frame, untimed: they
    hold a second paint of the same range, which Qt merges into the first during a real drag, and
    the answers of the density worker (which are painted, and timed, in the next frame)."""
    whole, paint = [], []
    (x0, x1), _ = vb.viewRange()
    w = x1 - x0
    for i in range(frames + skip):
        forward = (i // 10) % 2 == 0
        t = time.perf_counter()
        if kind == "pan":
            vb.translateBy(x=w * 0.01 * (1 if forward else -1))
        else:
            s = 0.98 if forward else 1 / 0.98
            vb.scaleBy((s, s))
        t_paint = time.perf_counter()
        viewport.repaint()
        t_end = time.perf_counter()
        app.processEvents()
        if i >= skip:
            whole.append(t_end - t)
            paint.append(t_end - t_paint)
    return whole, paint


def _fps(seconds) -> float:
    return round(1000.0 / stats_ms(seconds)["p50_ms"], 1)


def bench_million(model, n: int, frames: int, plain_frames: int, rng) -> dict:
    """1e6 points: the map against a plain ScatterPlotItem, same positions, same size, same run."""
    import pyqtgraph as pg

    from explorer.core import atlas_data as A
    from explorer.io.contract import FASHION_MNIST_CLASSES
    from explorer.qt.map_canvas import BG, MapCanvas, class_color
    from explorer.qt.map_view import MapView
    from explorer.qt.qapp import ensure_app

    app = ensure_app()
    d = model.latent_dim
    centres = rng.standard_normal((len(FASHION_MNIST_CLASSES), d)) * 2.0
    labels = rng.integers(0, len(centres), n)
    z = (centres[labels] + rng.standard_normal((n, d))).astype(np.float32)
    view = MapView(model, interactive=False)
    view.resize(1440, 900)
    view.show()
    canvas: MapCanvas = view.canvas
    # Placing runs on the map's job and the first density image on the density worker: the GUI
    # thread is held only by set_points itself and by single events (drawing the placed layers).
    # The longest of those is the worst stall a user can feel while a million points arrive.
    t0 = time.perf_counter()
    view.map_model.set_points(A.MapPoints(z, labels, FASHION_MNIST_CLASSES, source="benchmark", kind="atlas"))
    set_s = time.perf_counter() - t0
    longest_event = 0.0
    while view.is_busy() or not canvas.layers or canvas.density_busy():
        t = time.perf_counter()
        app.processEvents()
        longest_event = max(longest_event, time.perf_counter() - t)
        time.sleep(0.001)
    first_image_s = time.perf_counter() - t0
    for _ in range(20):
        app.processEvents()
    layer = view.layers[-1]
    home = view.vb.viewRange()
    out = {"points": n, "latents": f"synthetic 10-class Gaussian mixture ({n:,} x {d}), PCA",
           "set_points_s": round(set_s, 3), "to_first_image_s": round(first_image_s, 2),
           "gui_block_while_placing_max_ms": round(max(set_s, longest_event) * 1000, 1), "plot_px": [int(view.vb.width()), int(view.vb.height())]}
    for kind in ("pan", "zoom"):
        view.vb.setRange(xRange=home[0], yRange=home[1], padding=0)
        app.processEvents()
        rebins = layer.rebins
        whole, paint = _frames(app, view.plot.viewport(), view.vb, frames, kind)
        out[kind] = {"frame": stats_ms(whole), "repaint": stats_ms(paint), "fps_p50": _fps(whole),
                     "density_images_made": layer.rebins - rebins, "drawn": canvas.drawn_line}
    # zoom from the whole map into the densest cluster until the real points are drawn
    view.vb.setRange(xRange=home[0], yRange=home[1], padding=0)
    app.processEvents()
    cx, cy = (float(v) for v in np.median(layer.xy[labels == 0], axis=0))
    (x0, x1), (y0, y1) = home
    whole, switched_at = [], None
    for i in range(80):
        f = 0.95 ** (i + 1)
        t = time.perf_counter()
        view.vb.setRange(xRange=(cx - f * (x1 - x0) / 2, cx + f * (x1 - x0) / 2),
                         yRange=(cy - f * (y1 - y0) / 2, cy + f * (y1 - y0) / 2), padding=0)
        view.plot.viewport().repaint()
        whole.append(time.perf_counter() - t)
        app.processEvents()
        if layer.mode == "points":
            switched_at = i
            break
    out["zoom_in_to_points"] = {"frame": stats_ms(whole), "max_ms": round(max(whole) * 1000, 1),
                                "frames_until_points": switched_at, "drawn": canvas.drawn_line}
    xy = np.array(layer.xy)
    lab = np.array(layer.layer.labels)
    view.close_view()
    view.close()
    view.deleteLater()
    app.processEvents()

    # the plain ScatterPlotItem: same points, one brush per class, in a plot of the same size
    plot = pg.PlotWidget(background=BG)
    plot.resize(int(out["plot_px"][0]) + 60, int(out["plot_px"][1]) + 40)
    plot.show()
    plot.getViewBox().setAspectLocked(True)
    brushes = {k: pg.mkBrush(class_color(int(k))) for k in np.unique(lab)}
    t0 = time.perf_counter()
    item = pg.ScatterPlotItem(pos=xy, size=3, pen=None, brush=[brushes[int(k)] for k in lab], pxMode=True,
                              useCache=True, antialias=False, hoverable=False)
    plot.addItem(item)
    plot.getViewBox().setRange(xRange=home[0], yRange=home[1], padding=0)
    for _ in range(5):
        app.processEvents()
    plain = {"build_s": round(time.perf_counter() - t0, 2)}
    for kind in ("pan", "zoom"):
        plot.getViewBox().setRange(xRange=home[0], yRange=home[1], padding=0)
        app.processEvents()
        whole, paint = _frames(app, plot.viewport(), plot.getViewBox(), plain_frames, kind, skip=1)
        plain[kind] = {"frame": stats_ms(whole), "repaint": stats_ms(paint), "fps_p50": _fps(whole)}
    plot.removeItem(item)
    del item
    app.processEvents()
    # the floor: the same plot with nothing in it (axes, ticks and the view box are all it paints)
    floor = {}
    for kind in ("pan", "zoom"):
        plot.getViewBox().setRange(xRange=home[0], yRange=home[1], padding=0)
        app.processEvents()
        whole, paint = _frames(app, plot.viewport(), plot.getViewBox(), frames, kind)
        floor[kind] = {"frame": stats_ms(whole), "fps_p50": _fps(whole)}
    plot.close()
    plot.deleteLater()
    app.processEvents()
    out["plain_scatter"] = plain
    out["empty_plot"] = floor
    out["over_empty_plot"] = {k: round(out[k]["frame"]["p50_ms"] / floor[k]["frame"]["p50_ms"], 2)
                              for k in ("pan", "zoom")}
    out["speedup"] = {k: round(plain[k]["frame"]["p50_ms"] / out[k]["frame"]["p50_ms"], 1) for k in ("pan", "zoom")}
    out["targets"] = {"fps>=30": all(out[k]["fps_p50"] >= 30 for k in ("pan", "zoom")),
                      "repaint_p50<=33ms": all(out[k]["frame"]["p50_ms"] <= 33 for k in ("pan", "zoom")),
                      "speedup>=10": all(v >= 10 for v in out["speedup"].values())}
    return out


def bench_pca(z, repeats=5) -> dict:
    from explorer.core.projection import PCAPlane

    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        p = PCAPlane.fit(z)
        p.forward(z)
        times.append(time.perf_counter() - t)
    return {"points": int(len(z)), **stats_ms(times)}


def bench_umap(z, n) -> dict:
    from explorer.core.umap_worker import compute_umap, umap_available

    if not umap_available():
        return {"skipped": "umap-learn not installed"}
    t = time.perf_counter()
    m = compute_umap(z[:n], use_cache=False)
    total = time.perf_counter() - t
    return {"points": int(min(n, len(z))), "total_s": round(total, 1), "fit_s": round(m.fit_seconds, 1),
            "cpu_note": "child process, no cache; benchmarks/umap.py times it against a bare umap.UMAP().fit"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--vae", default=None, help="VAE bundle or decoder (default: bundled)")
    ap.add_argument("--points", type=int, default=70000)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--hovers", type=int, default=40)
    ap.add_argument("--million", type=int, default=1_000_000, help="points of the big-map run (0: skip it)")
    ap.add_argument("--plain-frames", type=int, default=8, help="frames timed on the plain ScatterPlotItem")
    ap.add_argument("--umap", default="auto", help="10k, 70k, '10k,70k', none, or auto (70k only if no training runs)")
    args = ap.parse_args()

    from explorer.io.blas import limit_blas_threads
    from explorer.io.runtime import open_model

    limit_blas_threads(1)
    model = open_model(model_path(args.vae, "vae"))
    rng = np.random.default_rng(0)
    z, labels, what = latents_for(model, args.points, rng)
    busy = trainings_running()
    result = {"benchmark": "map", "machine": {**machine(), "cpu": cpu_name()}, "trainings_running": busy, "model": str(model.path),
              "latents": what, "provider": model.provider}
    c0 = time.process_time()
    result["view"] = bench_view(model, z, labels, args.frames, args.hovers, rng)
    result["view"]["cpu_s"] = round(time.process_time() - c0, 2)
    result["view"]["fps_zoom_target_30"] = result["view"]["fps_zoom_p50"] >= 30
    if args.million:
        result["million"] = bench_million(model, args.million, args.frames, args.plain_frames, rng)
    result["pca_70k"] = bench_pca(z)
    wanted = {"auto": ["10k"] + ([] if busy else ["70k"]), "none": []}.get(args.umap, args.umap.split(","))
    result["umap"] = {}
    for key in ("10k", "70k"):
        if key in wanted:
            result["umap"][key] = bench_umap(z, int(key[:-1]) * 1000)
        else:
            result["umap"][key] = {"skipped": "trainings running (pgrep -f training.cli); rerun with --umap 70k"
                                   if busy and key == "70k" else "not requested"}
    emit(result, args.json)


if __name__ == "__main__":
    main()
