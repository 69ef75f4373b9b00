"""A short first-run tour of the views: a card over the main window that points at one part at a time.

Shown once (``tour/seen`` in QSettings, set when it is finished or skipped), again from Help → Tour.
Never started by ``--screenshot`` runs or by building a window in tests: only ``run_app`` asks for it.
The card and the highlight are children of the main window, so they move with it and never leak.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, Qt, Signal
from PySide6.QtWidgets import QDockWidget, QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

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
             "Lower temperature or truncation gives more typical garments.", "grid controls"),
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

CARD_QSS = """
QFrame#tourCard { background: #24272d; border: 1px solid #2f6fde; border-radius: 8px; }
QFrame#tourCard QLabel { background: transparent; }
QLabel#tourTitle { font-size: 15px; font-weight: 600; }
QLabel#tourStep { color: #9aa4b2; font-size: 12px; }
QFrame#tourHighlight { border: 2px solid #2f6fde; border-radius: 6px; background: rgba(47, 111, 222, 28); }
"""


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
        self.card.show()
        self.highlight.show()
        self.card.raise_()
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
        self.card.hide()
        self.highlight.hide()
        self.card.deleteLater()
        self.highlight.deleteLater()
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
        self.highlight.setGeometry(target.adjusted(2, 2, -2, -2))
        self.card.adjustSize()
        w, h = self.card.width(), self.card.sizeHint().height()
        # Inside the target near its bottom when it is wide enough, else beside it, clamped to the window.
        if target.width() >= w + 40:
            x = target.center().x() - w // 2
            y = target.bottom() - h - 40
        else:
            x = target.right() + 16 if target.right() + 16 + w <= win.right() else target.left() - w - 16
            y = target.top() + 60
        x = max(12, min(x, win.width() - w - 12))
        y = max(12, min(y, win.height() - h - 12))
        self.card.setGeometry(x, y, w, h)
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
