"""Open the app as a first-run user would on one screen and print the geometry of what they see (JSON).

Run by tests/test_layout.py in a child process, because the offscreen screen's size is fixed when the
QApplication starts: ``QT_QPA_PLATFORM=offscreen:configfile=screen.json python tests/layout_probe.py``.
The window opens with the bundled models through ``fit_first_run`` (an empty settings file: first
run), is measured on the grid tab and the map tab, then maximised and measured again.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QApplication

    from explorer.qt.app import build_window, fit_first_run, wait_for_grid
    from explorer.qt.qapp import ensure_app

    app = ensure_app()
    win, errors = build_window([], interactive=False)
    if errors or win.grid.model is None:
        print(json.dumps({"error": errors or "no bundled model"}))
        return 2

    def settle(n: int = 30) -> None:
        for _ in range(n):
            app.processEvents()
            time.sleep(0.01)

    def box(w) -> dict:
        top_left = w.mapTo(win, QPoint(0, 0))
        return {"x": top_left.x(), "y": top_left.y(), "w": w.width(), "h": w.height()}

    def measure() -> dict:
        win.views.setCurrentIndex(0)
        wait_for_grid(win)
        settle()
        vp = win.scroll.viewport()
        last = win.canvas.cell_rect(win.grid.cols - 1)  # the last column of the first row
        right_edge = win.canvas.mapTo(vp, last.topRight()).x()
        out = {"window": box(win), "frame": [win.frameGeometry().x(), win.frameGeometry().y(),
                                             win.frameGeometry().width(), win.frameGeometry().height()],
               "screen": [win.screen().availableGeometry().x(), win.screen().availableGeometry().y(),
                          win.screen().availableGeometry().width(), win.screen().availableGeometry().height()],
               "grid": {"rows": win.grid.rows, "cols": win.grid.cols, "cell_px": win.canvas.cell_px,
                        "viewport": box(vp), "canvas": box(win.canvas), "last_column_right": right_edge,
                        "hscroll_max": win.scroll.horizontalScrollBar().maximum()},
               "docks": {k: box(p.dock) for k, p in win.docks.items()
                         if p.dock is not None and p.dock.isVisible() and not p.dock.visibleRegion().isEmpty()}}
        win.views.setCurrentWidget(win.map_view)
        settle(60)
        out["map"] = {"tab": box(win.map_view), "plot": box(win.map_view.plot), "panel": box(win.map_view.panel),
                      "docks": {k: box(p.dock) for k, p in win.docks.items()
                                if p.dock is not None and p.dock.isVisible() and not p.dock.visibleRegion().isEmpty()}}
        win.views.setCurrentIndex(0)
        return out

    fit_first_run(win)
    win.show()
    first = measure()
    win.showMaximized()
    settle()
    maximised = measure()
    if len(sys.argv) > 1:  # where to save what the user sees
        win.views.setCurrentWidget(win.map_view)
        settle(30)
        win.grab().save(sys.argv[1])
    print(json.dumps({"first": first, "maximised": maximised}))
    win.close()
    QApplication.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
