"""A short first-run tour of the views: a card over the main window that points at one part at a time.

Shown once (``tour/seen`` in QSettings, set when it is finished or skipped), again from Help → Tour.
Never started by ``--screenshot`` runs or by building a window in tests: only ``run_app`` asks for it.
The card and the highlight are children of the main window, so they move with it and never leak.
While it runs, a see-through cover over the window takes the clicks (the tour talks about the window,
it does not let it change under it); the card sits beside the part it describes, never over it, and
a dock the tour opened to show it (the path dock) is closed again at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QRegion
from PySide6.QtWidgets import QDockWidget, QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget
from explorer.qt import theme

SEEN_KEY = "tour/seen"


@dataclass(frozen=True)
class TourStep:
    title: str
    text: str
    target: str  # a name in the window's ``landmarks()``: a part's key or a central part ("" = the whole window)


STEPS = (
    TourStep("The sample grid",
             "Every cell is one point of the model's latent space, decoded as you watch. "
             "Re-roll (R) draws new points; Walk (W) wanders smoothly through the space.", "grid"),
    TourStep("Grid controls",
             "Rows × columns, cell size, seed, temperature and truncation. "
             "Lower temperature or truncation gives more typical garments. For a model that knows "
             "garment types, Style × garment (G) shows one row per type.", "grid controls"),
    TourStep("Focused latent",
             "Click a cell to get one slider per latent dimension here; drag a slider and the "
             "garment changes while you drag. Right-click a cell to save it.", "latent"),
    TourStep("Interpolation paths",
             "Right-click two cells and choose 'Use as path endpoint' (or press + Random): the "
             "garments in between are decoded here, to play or export.", "path"),
    TourStep("The latent map",
             "Switch to the Latent map tab (Ctrl+M) to see where garments sit in the latent space, "
             "decode any point you click or drag over, select groups and sweep a mosaic.", "view tabs"),
    TourStep("Models",
             "The garments VAE and GAN come with the app. Open your own ONNX generator with "
             "File → Open, by dropping it on the window, or by double-clicking it in your file manager.",
             "model"),
)

CARD_QSS = f"""
QFrame#tourCard {{ background: {theme.PANEL}; border: 1px solid {theme.ACCENT}; border-radius: 8px; }}
QFrame#tourCard QLabel {{ background: transparent; }}
QLabel#tourTitle {{ font-size: 15px; font-weight: 600; }}
QLabel#tourStep {{ color: {theme.MUTED}; font-size: 12px; }}
QFrame#tourHighlight {{ border: 2px solid {theme.ACCENT}; border-radius: 6px; background: rgba(47, 111, 222, 28); }}
"""


CARD_WIDTHS = (380, 330, 290)  # the card narrows before it would cover what it describes
GAP = 12


class _Cover(QWidget):
    """Over the whole window while the tour runs: dims it, leaves the described part clear, eats clicks."""

    def __init__(self, window):
        super().__init__(window)
        self.setObjectName("tourCover")
        self.hole = QRect()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setClipRegion(QRegion(self.rect()).subtracted(QRegion(self.hole)))
        painter.fillRect(self.rect(), QColor(10, 12, 16, 110))

    def mousePressEvent(self, event) -> None:
        event.accept()  # the tour is on: nothing under it changes (Skip or Escape ends it)

    mouseReleaseEvent = mouseDoubleClickEvent = mouseMoveEvent = mousePressEvent

    def wheelEvent(self, event) -> None:
        event.accept()


class Tour(QObject):
    """The tour over ``window``; ``finished`` is emitted once, when it is done or skipped."""

    finished = Signal()

    def __init__(self, window, settings=None, steps=STEPS):
        super().__init__(window)
        self.window = window
        self.settings = settings
        self.landmarks = window.landmarks()  # name -> widget (MainWindow.landmarks)
        # Views that this window does not have (yet) are left out of the tour.
        self.steps = tuple(st for st in steps if not st.target or isinstance(self.landmarks.get(st.target), QWidget))
        self.index = 0
        self.opened: list[QDockWidget] = []  # docks shown only for the tour: hidden again at the end
        self.cover = _Cover(window)
        self.highlight = QFrame(window)
        self.highlight.setObjectName("tourHighlight")
        self.highlight.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.card = QFrame(window)
        self.card.setObjectName("tourCard")
        self.card.setStyleSheet(CARD_QSS)
        self.highlight.setStyleSheet(CARD_QSS)
        self.title = QLabel(objectName="tourTitle")
        self.text = QLabel(objectName="tourText")
        self.text.setWordWrap(True)
        self.counter = QLabel(objectName="tourStep")
        self.skip_button = QPushButton("Skip tour")
        self.back_button = QPushButton("Back")
        self.next_button = QPushButton("Next")
        self.next_button.setDefault(True)
        self.skip_button.clicked.connect(self.close)
        self.back_button.clicked.connect(lambda: self.show_step(self.index - 1))
        self.next_button.clicked.connect(self.next)
        buttons = QHBoxLayout()
        buttons.addWidget(self.counter)
        buttons.addStretch(1)
        for b in (self.skip_button, self.back_button, self.next_button):
            buttons.addWidget(b)
        col = QVBoxLayout(self.card)
        col.setContentsMargins(18, 14, 18, 12)
        col.setSpacing(8)
        col.addWidget(self.title)
        col.addWidget(self.text)
        col.addLayout(buttons)
        self.card.setFixedWidth(380)
        window.installEventFilter(self)  # follow resizes
        self._closed = False

    # ---- driving it --------------------------------------------------------------------------------

    def start(self) -> None:
        self.show_step(0)
        self.cover.show()
        self.card.show()
        self.highlight.show()
        self._stack()
        self.next_button.setFocus()

    def next(self) -> None:
        if self.index + 1 >= len(self.steps):
            self.close()
        else:
            self.show_step(self.index + 1)

    def show_step(self, index: int) -> None:
        self.index = max(0, min(index, len(self.steps) - 1))
        step = self.steps[self.index]
        target = self.landmarks.get(step.target)
        if isinstance(target, QDockWidget) and target.isHidden():
            target.show()  # a dock that starts hidden (the path dock) is shown while the tour explains it
            self.opened.append(target)
        self.title.setText(step.title)
        self.text.setText(step.text)
        self.counter.setText(f"{self.index + 1} of {len(self.steps)}")
        self.back_button.setEnabled(self.index > 0)
        self.next_button.setText("Done" if self.index == len(self.steps) - 1 else "Next")
        self._place()

    def close(self) -> None:
        """Finish or skip: hide, remember it was seen, and go away."""
        if self._closed:
            return
        self._closed = True
        self.window.removeEventFilter(self)
        if self.settings is not None:
            self.settings.setValue(SEEN_KEY, True)
            self.settings.sync()
        for dock in self.opened:
            dock.hide()  # as the user had it before the tour
        for part in (self.card, self.highlight, self.cover):
            part.hide()
            part.deleteLater()
        self.finished.emit()
        self.deleteLater()

    @property
    def visible(self) -> bool:
        return not self._closed and self.card.isVisible()

    # ---- layout ------------------------------------------------------------------------------------

    def target_rect(self) -> QRect:
        """The target's rectangle in window coordinates (the central area when it is hidden)."""
        widget = self.landmarks.get(self.steps[self.index].target)
        if not isinstance(widget, QWidget) or not widget.isVisible():
            widget = self.window.centralWidget()
        return QRect(widget.mapTo(self.window, QPoint(0, 0)), widget.size())

    def _place(self) -> None:
        win = self.window.rect()
        target = self.target_rect().intersected(win)
        self.cover.setGeometry(win)
        self.cover.hole = target
        self.cover.update()
        self.highlight.setGeometry(target.adjusted(2, 2, -2, -2))
        self.card.setGeometry(self._card_rect(win, target))
        self._stack()

    def _card_rect(self, win: QRect, target: QRect) -> QRect:
        """Beside the target (below, above, right, left), inside the window; the first that covers
        none of it, narrowing the card if need be; else the one that covers the least."""
        best, best_overlap = None, None
        for width in CARD_WIDTHS:
            self.card.setFixedWidth(width)
            h = self.card.sizeHint().height()
            cx, cy = target.center().x() - width // 2, target.center().y() - h // 2
            for x, y in ((cx, target.bottom() + GAP), (cx, target.top() - h - GAP),
                         (target.right() + GAP, cy), (target.left() - width - GAP, cy)):
                x = max(GAP, min(x, win.width() - width - GAP))
                y = max(GAP, min(y, win.height() - h - GAP))
                rect = QRect(x, y, width, h)
                common = rect.intersected(target)
                overlap = 0 if common.isEmpty() else common.width() * common.height()
                if overlap == 0:
                    return rect
                if best_overlap is None or overlap < best_overlap:
                    best, best_overlap = rect, overlap
        self.card.setFixedWidth(best.width())
        return best

    def _stack(self) -> None:
        self.cover.raise_()
        self.highlight.raise_()
        self.card.raise_()

    def eventFilter(self, obj, event) -> bool:
        if obj is self.window and event.type() in (QEvent.Type.Resize, QEvent.Type.LayoutRequest):
            self._place()
        elif obj is self.window and event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Escape:
            self.close()
            return True
        return False


def tour_seen(settings) -> bool:
    if settings is None:
        return True
    value = settings.value(SEEN_KEY, False)
    return value in (True, "true", "1", 1)


def start_tour(window, settings=None) -> Tour:
    """Start the tour over ``window`` now (Help → Tour, or tests)."""
    existing = getattr(window, "_tour", None)
    if existing is not None and existing.visible:
        existing.show_step(0)
        return existing
    tour = Tour(window, settings if settings is not None else getattr(window, "settings", None))
    window._tour = tour
    tour.finished.connect(lambda: setattr(window, "_tour", None))
    tour.start()
    return tour


def maybe_start_tour(window) -> Tour | None:
    """Start the tour on the first run only (nothing when it was seen, or without settings)."""
    settings = getattr(window, "settings", None)
    if tour_seen(settings):
        return None
    return start_tour(window, settings)
