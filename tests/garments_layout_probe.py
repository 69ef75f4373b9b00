"""Open a class-conditional model on one screen, switch to the style x garment grid, focus a cell, and print
the geometry of the garment controls and the grid (JSON). Run by tests/test_garments_layout.py in a child
process (the offscreen screen's size is fixed when the QApplication starts):
``QT_QPA_PLATFORM=offscreen:configfile=screen.json python tests/garments_layout_probe.py MODEL [OUT.png]``.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import QApplication

    from explorer.qt.app import build_window, fit_first_run, wait_for_grid
    from explorer.qt.qapp import ensure_app

    app = ensure_app()
    win, errors = build_window([sys.argv[1]], interactive=False)
    if errors or win.grid.model is None:
        print(json.dumps({"error": errors or "no model"}))
        return 2

    def settle(n: int = 30) -> None:
        for _ in range(n):
            app.processEvents()
            time.sleep(0.01)

    def box(w, parent) -> dict:
        top_left = w.mapTo(parent, QPoint(0, 0))
        return {"x": top_left.x(), "y": top_left.y(), "w": w.width(), "h": w.height(), "visible": w.isVisible()}

    def measure() -> dict:
        win.controls.set_garments(True)
        win.grid.set_focus(win.grid.cols + 2)
        win.latent_dock.raise_()
        wait_for_grid(win)
        settle()
        vp = win.scroll.viewport()
        last = win.canvas.cell_rect(win.grid.cols - 1)
        bottom = win.canvas.cell_rect(win.grid.count - 1)
        panel = win.garment_panel
        dock = win.latent_dock
        inside = dock.widget()
        controls = {name: box(getattr(panel, name), inside) for name in ("klass", "a", "b", "mix", "stops", "mix_label")}
        return {"screen": [win.screen().availableGeometry().width(), win.screen().availableGeometry().height()],
                "grid": {"rows": win.grid.rows, "cols": win.grid.cols, "viewport": box(vp, win),
                         "last_column_right": win.canvas.mapTo(vp, last.topRight()).x(),
                         "last_row_bottom": win.canvas.mapTo(vp, bottom.bottomRight()).y(),
                         "label_width": win.canvas.row_rect(0).width(),
                         "hscroll_max": win.scroll.horizontalScrollBar().maximum()},
                "toggle": box(win.controls.garments, win.controls), "controls_w": win.controls.width(),
                "panel": box(panel, inside), "dock_inside": box(inside, inside), "controls": controls,
                "sliders": box(win.latent_panel.scroll, inside), "preview": box(win.latent_panel.preview, inside)}

    fit_first_run(win)
    win.show()
    first = measure()
    win.showMaximized()
    settle()
    maximised = measure()
    if len(sys.argv) > 2:
        win.grab().save(sys.argv[2])
    print(json.dumps({"first": first, "maximised": maximised}))
    win.close()
    QApplication.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
