"""The bundled fashion-cgan in the style x garment grid, as a designer sees it: switched on with one click,
every painted row is read back from the screen and judged by the bundled Fashion-MNIST classifier, so
"this row is dresses" is a fact about the pixels, not about the class weights we asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest

from explorer.io.contract import FASHION_MNIST_CLASSES

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "models"
pytestmark = [pytest.mark.usefixtures("no_leaked_windows"),
              pytest.mark.skipif(not (ASSETS / "fashion-cgan").is_dir() or not (ASSETS / "fashion-classifier").is_dir(),
                                 reason="the bundled cgan and classifier are not in this checkout")]


def _painted_28(canvas, index: int) -> np.ndarray:
    """The 28x28 gray image the canvas paints in cell ``index`` (one pixel per enlarged block), in [0, 1]."""
    rect = canvas.cell_rect(index)
    img = canvas.grab(rect).toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    rgb = rows[:, :img.width() * 3].reshape(img.height(), img.width(), 3)
    s = canvas.scale
    centres = np.arange(28) * s + s // 2  # block centres: clear of the focus/hover frame at the edges
    return rgb[np.ix_(centres, centres)][..., 0].astype(np.float32) / 255.0


def test_each_painted_row_of_the_bundled_cgan_is_its_garment_under_the_classifier(qtbot, settings_file):
    from explorer.core.classifier import Classifier
    from explorer.qt.app import build_window, wait_for_grid
    from explorer.qt.qapp import ensure_app

    ensure_app()
    win, errors = build_window([str(ASSETS / "fashion-cgan")], interactive=False)
    try:
        assert errors == []
        win.resize(1440, 900)
        win.show()
        qtbot.waitExposed(win)
        assert wait_for_grid(win)
        QTest.mouseClick(win.controls.garments, Qt.MouseButton.LeftButton)  # one click: rows become garments
        assert win.grid.garment_mode and wait_for_grid(win)
        qtbot.wait(20)
        rows, cols = win.grid.rows, win.grid.cols
        assert rows == len(FASHION_MNIST_CLASSES)
        painted = np.stack([_painted_28(win.canvas, i) for i in range(rows * cols)])
        # the same style down each column: the painted rows differ, so the class input reached the pixels
        assert np.abs(painted[:cols] - painted[cols:2 * cols]).mean() > 0.05
        logits, _ = Classifier(ASSETS / "fashion-classifier").classify(painted[:, None])
        labels = logits.argmax(1).reshape(rows, cols)
        per_row = (labels == np.arange(rows)[:, None]).mean(1)
        # the grid as a whole is read as asked, and every row far above chance (1 in 10) as its own garment
        # (Pullover is the weak row: our classifier reads about half of its cells as Shirt)
        assert per_row.mean() >= 0.8, dict(zip(FASHION_MNIST_CLASSES, per_row.round(2)))
        assert per_row.min() >= 0.25, dict(zip(FASHION_MNIST_CLASSES, per_row.round(2)))
        # re-roll: new styles, the rows stay garments
        QTest.mouseClick(win.controls.reroll, Qt.MouseButton.LeftButton)
        assert wait_for_grid(win)
        qtbot.wait(20)
        again = np.stack([_painted_28(win.canvas, i) for i in range(rows * cols)])
        assert np.abs(again - painted).mean() > 0.02
        labels2 = Classifier(ASSETS / "fashion-classifier").classify(again[:, None])[0].argmax(1).reshape(rows, cols)
        assert (labels2 == np.arange(rows)[:, None]).mean() >= 0.8, labels2
    finally:
        win.close()
        win.deleteLater()
