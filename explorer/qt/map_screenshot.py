"""The latent map drawn headless for ``--screenshot --view map``: explored like a person would."""

from __future__ import annotations

import os
import time

import numpy as np
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from explorer.io.runtime import LoadedModel
from explorer.qt.map_view import MapView


def wait_until_ready(view: MapView, timeout: float = 600.0, *, ignore: tuple[str, ...] = ()) -> bool:
    """Process events until no background job (other than ``ignore``) runs, the density images are
    binned and decodes answered (or timeout)."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        QApplication.processEvents()
        if not set(view.map_model.jobs.running) - set(ignore) and not view.canvas.density_busy():
            for _ in range(20):
                QApplication.processEvents()
                time.sleep(0.01)
            return True
        time.sleep(0.02)
    return False


def render_map_screenshot(models, path: str, *, size=(1440, 900), classifier=None, timeout: float = 600.0) -> int:
    """Render the map of the first VAE among ``models`` (else the first model) to ``path``; 0 on success.

    ``models``: LoadedModel objects or paths. Shows a probe decode, a rectangle selection and the
    marker of a test image, like a person exploring it would. Returns 2 (one line on stderr) on failure.
    """
    import sys

    from explorer.io.runtime import ModelError, open_model
    from explorer.qt.qapp import ensure_app, grab_and_close

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = ensure_app()
    loaded = []
    for m in models:
        try:
            loaded.append(m if isinstance(m, LoadedModel) else open_model(m))
        except ModelError as exc:
            print(f"latent-explorer: error: {exc}", file=sys.stderr)
    if not loaded:
        print("latent-explorer: error: no model to draw a map of", file=sys.stderr)
        return 2
    vae = [m for m in loaded if m.card is not None and m.card.family == "vae"]
    model = (vae or loaded)[0]
    view = MapView(model, classifier=classifier, interactive=False)
    view.resize(*size)
    view.show()
    wait_until_ready(view, timeout)
    if view.layers and not view.is_gan:
        (x0, x1), (y0, y1) = view.vb.viewRange()
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        w, h = (x1 - x0), (y1 - y0)
        view.select_rect(cx + 0.05 * w, cy + 0.05 * h, cx + 0.22 * w, cy + 0.25 * h)
        view.probe_at(cx - 0.15 * w, cy + 0.1 * h)
        if view.map_model.encoder is not None:
            view.probe_test_image(0)
        wait_until_ready(view, 30, ignore=("anomaly",))
        wait_until_ready(view, 90)  # the percentiles need the test split scored once (cached afterwards)
        layer = view.canvas.primary()
        view.hover_at(*layer.xy[int(np.argmin(np.hypot(*(layer.xy - [cx - 0.2 * w, cy - 0.15 * h]).T)))],
                      widget_pos=view.plot.mapFromScene(view.vb.mapViewToScene(
                          QPointF(cx - 0.2 * w, cy - 0.15 * h))))
    elif view.layers:
        layer = view.canvas.primary()
        view.probe_at(*layer.xy[0])
        (x0, x1), (y0, y1) = view.vb.viewRange()
        view.select_rect(x0 + 0.55 * (x1 - x0), y0 + 0.5 * (y1 - y0), x0 + 0.7 * (x1 - x0), y0 + 0.65 * (y1 - y0))
        hx, hy = (float(v) for v in layer.xy[len(layer.xy) // 2])
        view.hover_at(hx, hy, widget_pos=view.plot.mapFromScene(view.vb.mapViewToScene(QPointF(hx, hy))))
    end = time.perf_counter() + 5
    while time.perf_counter() < end:
        app.processEvents()
        if view.canvas.hover_card.isVisible() or view.is_gan:
            break
        time.sleep(0.01)
    for _ in range(10):
        app.processEvents()
        time.sleep(0.01)
    message, layers = view.last_message, bool(view.layers)
    if not grab_and_close(view, path):
        print(f"latent-explorer: error: cannot write screenshot {path}", file=sys.stderr)
        return 2
    if not layers and message:
        print(f"latent-explorer: error: {message}", file=sys.stderr)
        return 2
    return 0
