"""Open models (switch between them) and the active model's card: metadata, signature, guesses, provider."""

from __future__ import annotations

import html
import re

from PySide6.QtCore import QEvent, QSignalBlocker
from PySide6.QtWidgets import (QAbstractItemView, QLabel, QListWidget, QListWidgetItem, QTextBrowser, QToolTip,
                               QVBoxLayout, QWidget)

from explorer.io.runtime import LoadedModel, describe
from explorer.core.state import AppState
from explorer.qt import theme


# Readable names for the training figures a model card carries (training/families.py writes them);
# the raw key stays in the card as a tooltip, for researchers who grep metrics.jsonl.
METRIC_LABELS = {
    "test_neg_elbo": "Test −ELBO (nats, lower is better)",
    "test_reconstruction": "Test reconstruction (nats)",
    "test_kl": "Test KL divergence (nats)",
    "active_units": "Active latent dimensions",
    "d_loss": "Discriminator loss",
    "g_loss": "Generator loss",
    "d_x": "D(x): real images judged real",
    "d_g_z": "D(G(z)): generated judged real",
    "loss": "Training loss",
    "test_loss": "Test loss",
    "accuracy": "Training accuracy",
    "test_accuracy": "Test accuracy",
}
METRIC_LINK = "metric:"  # the card's metric names are anchors so their raw key can show as a tooltip


def metric_label(key: str) -> str:
    """What a designer reads for a metrics key: a known label, else the key in words ("test_foo" -> "Test foo")."""
    if key in METRIC_LABELS:
        return METRIC_LABELS[key]
    words = re.sub(r"[_\s]+", " ", key).strip()
    return words[:1].upper() + words[1:] if words else key


def model_html(model: LoadedModel, *, missing: bool = False) -> str:
    """The model card as HTML (used by the panel and by tests)."""
    info = describe(model)
    e = html.escape
    rows = []

    def row(k, v):
        rows.append(f"<tr><td class='k'>{e(k)}</td><td>{e(str(v))}</td></tr>")

    # Training figures get their own table: a readable name may be long and wraps (class m), the
    # figure does not; the raw key is the name's tooltip (ModelCardBrowser).
    figures = [f"<tr><td class='m'><a class='k' href='{e(METRIC_LINK + k)}'>{e(metric_label(k))}</a></td>"
               f"<td class='v'>{v:.4g}</td></tr>"
               for k, v in sorted(model.card.metrics.items())] if model.card is not None else []

    src = "Latent Explorer contract" if model.card is not None else "no metadata: signature inferred"
    parts = [f"<h3>{e(model.name)}</h3>", f"<p class='src'>{e(src)}</p>"]
    if missing:
        parts.append("<p class='warn'>⚠ The file was deleted from disk; the open copy keeps working "
                     "until you close it.</p>")
    c, h, w = model.image_shape
    others = [p.replace("ExecutionProvider", "") for p in model.providers[1:]]
    row("Provider", model.provider + (f"  (fallback: {', '.join(others)})" if others else ""))
    row("Latent", f"{model.latent_dim} dims, prior N(0, I)")
    row("Image", f"{w}×{h} {'gray' if c == 1 else 'RGB'}")
    row("Value range", f"[{info['value_range'][0]:g}, {info['value_range'][1]:g}] ({info['value_range_source']})")
    if model.card is not None:
        card = model.card
        row("Family / role", f"{card.family} / {card.role}")
        if card.dataset:
            row("Dataset", card.dataset)
        if card.epoch is not None:
            row("Epoch", card.epoch)
        if card.class_names:
            row("Classes", ", ".join(card.class_names))
        if card.siblings:
            row("Siblings", ", ".join(f"{r}: {f}" for r, f in card.siblings.items()))
    elif model.class_names:
        row("Classes", f"{len(model.class_names)}")
    if model.conditional:  # what the garment controls can do with it (explorer/qt/garment_panel.py)
        row("Garment control", "pick and blend classes (class weights)" if model.can_blend
            else "pick one class per image; no blends")
    if model.atlas_path is not None:
        row("Atlas", model.atlas_path.name)
    row("File", f"{model.path.parent.name}/{model.path.name}")
    parts.append("<table>" + "".join(rows) + "</table>")
    if model.blend_note:
        parts.append(f"<p class='warn'>No blends between classes: {e(model.blend_note)}.</p>")
    if figures:
        parts.append("<h4>Training figures</h4><table width='100%'>" + "".join(figures) + "</table>")
    parts.append("<h4>Signature</h4><table>" + "".join(
        f"<tr><td class='k'>{e(k)}</td><td><code>{e(v)}</code></td></tr>" for k, v in info["signature"].items())
        + "</table>")
    if model.notes:
        parts.append("<h4>Inferred and notes</h4><ul>" + "".join(f"<li>{e(n)}</li>" for n in model.notes) + "</ul>")
    return "".join(parts)


STYLE = f"""
h3 {{ margin: 0 0 2px 0; font-size: 15px; }}
h4 {{ margin: 12px 0 4px 0; color: {theme.MUTED}; font-weight: 600; }}
p.src {{ color: {theme.MUTED}; margin: 0 0 8px 0; }}
p.warn {{ color: {theme.WARN}; }}
a.k {{ color: {theme.MUTED}; text-decoration: none; }}
td.m {{ color: {theme.MUTED}; padding-right: 10px; }}
td.v {{ white-space: nowrap; }}
td.k {{ color: {theme.MUTED}; padding-right: 10px; white-space: nowrap; }}
td {{ padding: 1px 0; vertical-align: top; }}
code {{ color: {theme.CODE}; }}
li {{ margin-bottom: 3px; }}
"""


class ModelCardBrowser(QTextBrowser):
    """The card's text; hovering a metric's readable name shows its raw key (``d_g_z``)."""

    def viewportEvent(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            anchor = self.anchorAt(event.pos())
            if anchor.startswith(METRIC_LINK):
                QToolTip.showText(event.globalPos(), anchor[len(METRIC_LINK):], self.viewport())
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)


LIST_ROWS = (2, 8)  # the Open models list shows every model up to 8 rows, then scrolls


class ModelPanel(QWidget):
    """Binds to AppState: the list mirrors ``models``; selecting an entry sets ``active``."""

    def __init__(self, state: AppState, parent=None):
        super().__init__(parent)
        self.state = state
        self.missing: set[str] = set()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        title = QLabel("Open models")
        title.setObjectName("panelTitle")
        self.list = QListWidget()
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.details = ModelCardBrowser()
        self.details.setOpenLinks(False)
        self.details.setOpenExternalLinks(False)
        self.details.document().setDefaultStyleSheet(STYLE)
        lay.addWidget(title)
        lay.addWidget(self.list)
        lay.addWidget(self.details, 1)
        self.list.currentRowChanged.connect(self._on_row)
        state.models_changed.connect(self.refresh)
        state.active_changed.connect(lambda _m: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        models = list(self.state.models)
        with QSignalBlocker(self.list):  # unblocked even if something below raises: clicks keep switching
            self.list.clear()
            for m in models:
                gone = str(m.path) in self.missing
                item = QListWidgetItem(f"{m.name}   ·   {m.latent_dim}-d · {m.provider}"
                                       + ("   (deleted)" if gone else ""))
                item.setToolTip(str(m.path))
                self.list.addItem(item)
            active = self.state.active
            self.list.setCurrentRow(next((i for i, m in enumerate(models) if m is active), -1))
        self._fit_rows()
        m = self.state.active
        if m is None:
            self.details.setHtml(f"<p style='color:{theme.MUTED}'>No model open.<br>Use File → Open, or drop an "
                                 ".onnx file or a bundle folder on the window.</p>")
        else:
            self.details.setHtml(model_html(m, missing=str(m.path) in self.missing))

    def _fit_rows(self) -> None:
        """As tall as its rows (2 to 8 of them), so every open model is in view without scrolling."""
        lo, hi = LIST_ROWS
        row = self.list.sizeHintForRow(0) if self.list.count() else 0
        if row <= 0:
            row = self.list.fontMetrics().height() + 10
        frame = 2 * self.list.frameWidth() + 2
        self.list.setFixedHeight(row * max(lo, min(hi, self.list.count())) + frame)

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self.state.models):
            self.state.set_active(self.state.models[row])
