"""The latent map: 70k-point repaint, hover-to-thumbnail latency, PCA on 70k, UMAP on 10k and 70k.

    python benchmarks/map.py --json [--vae PATH] [--points 70000] [--frames 60] [--umap 10k,70k|10k|none]

* repaint: the real MapView at 1440x900 (offscreen Qt, raster painting like xvfb): each frame pans
  or zooms the view a little and repaints the plot viewport synchronously (what one frame of a
  drag costs). p50 <= 33 ms is 30 FPS.
* hover: from ``hover_at`` (the mouse-move handler after the scene lookup) to the thumbnail shown:
  nearest-point lookup among 70k, a decode request on the worker thread, the queued answer, the
  pixmap. The decoder is the VAE given (default: the bundled one).
* pca: PCAPlane.fit + forward of 70k latents.
* umap: explorer.core.umap_worker.compute_umap (child process, no cache): fit and the 24x24 inverse
  lattice, 10k and 70k points. The 70k run is skipped while trainings run (``pgrep -f training.cli``)
  unless --umap includes 70k explicitly.

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
    ok = float(m.lattice_ok.mean()) if m.lattice_ok is not None else 0.0
    return {"points": int(min(n, len(z))), "total_s": round(total, 1), "fit_s": round(m.fit_seconds, 1),
            "inverse_lattice_cells_in_hull": round(ok, 3), "cpu_note": "child process, 1 numba thread"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--vae", default=None, help="VAE bundle or decoder (default: bundled)")
    ap.add_argument("--points", type=int, default=70000)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--hovers", type=int, default=40)
    ap.add_argument("--umap", default="auto", help="10k, 70k, '10k,70k', none, or auto (70k only if no training runs)")
    args = ap.parse_args()

    from explorer.io.blas import limit_blas_threads
    from explorer.io.runtime import open_model

    limit_blas_threads(1)
    model = open_model(model_path(args.vae, "vae"))
    rng = np.random.default_rng(0)
    z, labels, what = latents_for(model, args.points, rng)
    busy = trainings_running()
    result = {"benchmark": "map", "machine": machine(), "trainings_running": busy, "model": str(model.path),
              "latents": what, "provider": model.provider}
    c0 = time.process_time()
    result["view"] = bench_view(model, z, labels, args.frames, args.hovers, rng)
    result["view"]["cpu_s"] = round(time.process_time() - c0, 2)
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
